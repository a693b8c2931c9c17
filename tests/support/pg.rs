//! A PostgreSQL for tests: `DATABASE_URL` when set, otherwise a throwaway cluster
//! started for this process (initdb into a temp dir, unix socket only) and stopped
//! when the process ends. Each [`TestDb`] is a fresh database of its own.
//!
//! [`Cluster`] starts such a cluster on demand, e.g. a durable one for a benchmark.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

/// Where databases come from for this process.
struct Server {
    /// URL of a maintenance database, with `{db}` where the database name goes.
    url_template: String,
    /// A migrated database to clone from (throwaway clusters only).
    template: Option<String>,
    /// Never dropped (it lives in a static): the cluster stops when the process exits.
    _cluster: Option<Cluster>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The vault key every test process's audit context is derived from.
pub const TEST_VAULT_KEY: [u8; 32] = [7; 32];

/// Writes a vault keyring `vault.key` (whose audit root is [`TEST_VAULT_KEY`], so the
/// `outpost` binary authenticates entries exactly as the tests do) and a fresh
/// `audit-signing.key` named `origin` into `dir`, owner-only, as `outpost keys init`
/// would.
pub fn write_test_keys(dir: &Path, origin: &str) {
    let vault_key = dir.join("vault.key");
    outpost::vault::keyring::Keyring::with_audit_root(zeroize::Zeroizing::new(TEST_VAULT_KEY))
        .create_file(&vault_key)
        .expect("write vault keyring");
    for line in std::fs::read_to_string(&vault_key)
        .expect("read keyring")
        .lines()
    {
        if let Some(key) = line.split_whitespace().find(|w| w.len() == 64) {
            super::canary::record(key);
        }
    }
    let signing_key = dir.join("audit-signing.key");
    outpost::audit::checkpoint::write_signer(&signing_key, origin).expect("write signing key");
    super::canary::record(
        std::fs::read_to_string(&signing_key)
            .expect("read signing key")
            .trim(),
    );
}

/// The `outpost` binary with nothing in its environment but `db_url` and the keys
/// [`write_test_keys`] put in `dir` (checkpoints are appended to `dir` too, and
/// backups go below it). Backup schedules and the security loop are off: a `serve`
/// started here must not begin with a catch-up backup or a deploy's scan; the tests
/// of those turn them on.
pub fn outpost_command(dir: &Path, db_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outpost"));
    command
        .env_clear()
        .env("OUTPOST_DATABASE_URL", db_url)
        .env("OUTPOST_VAULT_KEY_FILE", dir.join("vault.key"))
        .env(
            "OUTPOST_AUDIT_SIGNING_KEY_FILE",
            dir.join("audit-signing.key"),
        )
        .env("OUTPOST_AUDIT_CHECKPOINT_FILE", dir.join("checkpoints.log"))
        .env("OUTPOST_DATA_DIR", dir.join("data"))
        .env("OUTPOST_BACKUP__DAILY", "")
        .env("OUTPOST_BACKUP__WEEKLY", "")
        .env("OUTPOST_BACKUP__MONTHLY", "")
        .env("OUTPOST_SCAN__NIGHTLY", "");
    command
}

fn server() -> &'static Server {
    super::logs::init();
    // Every test process writes audit entries with one fixed test key.
    outpost::audit::context::install(outpost::audit::context::AuditContext::new(
        &TEST_VAULT_KEY,
        "tests",
    ));
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Server {
            url_template: with_database(&url, "{db}"),
            template: None,
            _cluster: None,
        },
        _ => start_test_server(),
    })
}

/// A database that exists for one test and is dropped after it.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> Self {
        let server = server();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = connect(&server.url_template.replace("{db}", "postgres"));
        let create = match &server.template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name}"),
        };
        diesel::sql_query(create)
            .execute(&mut admin)
            .expect("create test database");
        let url = server.url_template.replace("{db}", &name);
        if server.template.is_none() {
            outpost::db::migrate(&mut connect(&url)).expect("migrate test database");
        }
        Self { name, url }
    }

    /// A database with no tables at all (for migration tests).
    pub fn empty() -> Self {
        let server = server();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = connect(&server.url_template.replace("{db}", "postgres"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create empty test database");
        let url = server.url_template.replace("{db}", &name);
        Self { name, url }
    }

    pub fn conn(&self) -> PgConnection {
        connect(&self.url)
    }

    /// Runs SQL as the superuser, bypassing the application.
    pub fn execute(&self, sql: &str) -> usize {
        diesel::sql_query(sql)
            .execute(&mut self.conn())
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = server().url_template.replace("{db}", "postgres");
        if let Ok(mut admin) = PgConnection::establish(&url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

fn connect(url: &str) -> PgConnection {
    PgConnection::establish(url).unwrap_or_else(|e| panic!("connect to test PostgreSQL: {e}"))
}

/// Replaces the database name in a `postgres://…/name?…` URL.
fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .expect("DATABASE_URL must be a postgres:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let query = path.find('?').map_or("", |i| &path[i..]);
    format!("{scheme}://{authority}/{db}{query}")
}

/// A throwaway cluster holding a migrated template that every test database is cloned
/// from (cloning is much faster than migrating each one).
fn start_test_server() -> Server {
    let cluster = Cluster::start(Durability::Off);
    let template = "outpost_template".to_string();
    let url = cluster.create_database(&template);
    outpost::db::migrate(&mut connect(&url)).expect("migrate template database");
    Server {
        url_template: cluster.url("{db}"),
        template: Some(template),
        _cluster: Some(cluster),
    }
}

/// Whether a [`Cluster`] makes commits durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// No fsync, no waiting for the WAL flush at commit: fast, and a crash loses
    /// everything, which tests do not care about.
    Off,
    /// fsync and synchronous commit on (PostgreSQL's defaults, spelled out): a commit
    /// is acknowledged only once its WAL is on disk. For measuring commit costs.
    On,
}

/// A PostgreSQL cluster of this process's own: initdb into a temp dir, listening on a
/// unix socket only. Stopped and removed on drop, or when the process exits.
pub struct Cluster {
    url_template: String,
    bin: PathBuf,
    base: PathBuf,
    /// A shell that runs postgres, waits for its stdin to close, then stops postgres
    /// and removes `base`. The pipe closes on drop or, whatever happens, at exit.
    guardian: Child,
}

impl Cluster {
    pub fn start(durability: Durability) -> Self {
        let bin = server_bin_dir();
        let base = make_base_dir();
        let data = base.join("data");
        let sock = base.join("sock");
        std::fs::create_dir_all(&sock).expect("create socket dir");
        let as_root = is_root();
        if as_root {
            // initdb and postgres refuse to run as root.
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&base));
        }
        let mut initdb = user_command(as_root, &bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        if durability == Durability::Off {
            initdb.arg("--no-sync");
        }
        run(&mut initdb);

        let durability_settings = match durability {
            Durability::Off => "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            Durability::On => "-c fsync=on -c synchronous_commit=on -c full_page_writes=on",
        };
        // $5 is deliberately unquoted: it is several `-c` options.
        let script = r#"
            "$1" -D "$2" -k "$3" -c listen_addresses= $5 \
                 -c max_connections=300 -c shared_buffers=64MB \
                 >"$4/postgres.log" 2>&1 &
            pid=$!
            cat >/dev/null
            kill -INT "$pid" 2>/dev/null
            wait "$pid"
            rm -rf "$4"
        "#;
        let mut guardian = user_command(as_root, Path::new("sh"));
        guardian
            .arg("-c")
            .arg(script)
            .arg("guardian")
            .arg(bin.join("postgres"))
            .arg(&data)
            .arg(&sock)
            .arg(&base)
            .arg(durability_settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let guardian = guardian.spawn().expect("start throwaway PostgreSQL");

        let url_template = format!("postgres://postgres@/{{db}}?host={}", sock.display());
        wait_until_ready(&url_template.replace("{db}", "postgres"), &base);
        Self {
            url_template,
            bin,
            base,
            guardian,
        }
    }

    /// The URL of database `db` in this cluster.
    pub fn url(&self, db: &str) -> String {
        self.url_template.replace("{db}", db)
    }

    /// The directory of the server's binaries, whose client tools (pg_dump) match it.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Where the cluster keeps its files (to tell which filesystem it is on).
    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    /// Creates an empty database; returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut connect(&self.url("postgres")))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        self.url(name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Closing the guardian's stdin stops postgres; waiting means it is gone (and
        // its directory removed) once the drop returns.
        drop(self.guardian.stdin.take());
        let _ = self.guardian.wait();
    }
}

fn wait_until_ready(url: &str, base: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match PgConnection::establish(url) {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(base.join("postgres.log")).unwrap_or_default();
                panic!("throwaway PostgreSQL did not start: {e}\n{log}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The directory holding initdb and postgres (Debian keeps them off PATH).
fn server_bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match found {
        Some(path) => Path::new(&path)
            .parent()
            .expect("initdb has a directory")
            .to_path_buf(),
        None => panic!(
            "PostgreSQL server binaries not found: install them (apt-get install postgresql) \
             or set DATABASE_URL to a server the tests may create databases on"
        ),
    }
}

fn make_base_dir() -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix("outpost-test-pg-")
        .tempdir()
        .expect("create temp dir");
    // The guardian removes it; the TempDir must not race it.
    dir.keep()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn user_command(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    if !out.status.success() {
        let _ = std::io::stderr().write_all(&out.stderr);
        panic!("{command:?} failed with {}", out.status);
    }
}
