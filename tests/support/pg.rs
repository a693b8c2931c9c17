//! A PostgreSQL for tests: `DATABASE_URL` when set, otherwise a throwaway cluster
//! started for this process (initdb into a temp dir, unix socket only) and stopped
//! when the process ends. Each [`TestDb`] is a fresh database of its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

/// Where databases come from for this process.
struct Server {
    /// URL of a maintenance database, with `{db}` where the database name goes.
    url_template: String,
    /// A migrated database to clone from (throwaway clusters only).
    template: Option<String>,
    /// Keeps the guardian's stdin open; when this process exits it closes and the
    /// guardian stops the cluster and removes its directory.
    _guardian: Option<Mutex<Child>>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    // Every test process writes audit entries with one fixed test key.
    outpost::audit::context::install(outpost::audit::context::AuditContext::new(
        &[7; 32], "tests",
    ));
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Server {
            url_template: with_database(&url, "{db}"),
            template: None,
            _guardian: None,
        },
        _ => start_throwaway_cluster(),
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

fn start_throwaway_cluster() -> Server {
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
        "--no-sync",
    ]);
    run(&mut initdb);

    // The guardian: postgres in the background, then wait for stdin to close.
    let script = r#"
        "$1" -D "$2" -k "$3" -c listen_addresses= -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB \
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
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let child = guardian.spawn().expect("start throwaway PostgreSQL");

    let url_template = format!("postgres://postgres@/{{db}}?host={}", sock.display());
    wait_until_ready(&url_template.replace("{db}", "postgres"), &base);

    let template = "outpost_template".to_string();
    let mut admin = connect(&url_template.replace("{db}", "postgres"));
    diesel::sql_query(format!("CREATE DATABASE {template}"))
        .execute(&mut admin)
        .expect("create template database");
    {
        let mut conn = connect(&url_template.replace("{db}", &template));
        outpost::db::migrate(&mut conn).expect("migrate template database");
    }
    Server {
        url_template,
        template: Some(template),
        _guardian: Some(Mutex::new(child)),
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
