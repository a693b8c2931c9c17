//! A server to back up: its own database with a team, a sealed credential, audit
//! entries and a table of client data, the keys `outpost` loads, a data directory,
//! client files, and the configuration the library and the binary both read.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use diesel::prelude::*;
use outpost::audit::{self, Actor, Event, Outcome};
use outpost::backup::runs::Backups;
use outpost::backup::settings::TargetSettings;
use outpost::config::{Config, DatabaseUrl};
use outpost::credentials::{self};
use outpost::db::Db;
use outpost::identity::{Role, user};
use outpost::notify::Mailer;
use outpost::scheduler::Services;
use outpost::vault::Vault;
use outpost::vault::keyring::KeySource;

use super::canary;
use super::pg::{TestDb, outpost_command, write_test_keys};
use super::stored;

pub struct Server {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub pool: Db,
    pub vault: Vault,
    /// The sealed credential's value, recorded as a canary.
    pub secret: String,
}

impl Server {
    /// `rows` rows of client data beside the app's own tables.
    pub fn new(rows: u32) -> Self {
        let db = TestDb::new();
        let dir = tempfile::tempdir().expect("temp dir");
        write_test_keys(dir.path(), "test.example/audit");
        let files = dir.path().join("files");
        std::fs::create_dir_all(files.join("reports")).unwrap();
        std::fs::write(files.join("reports/q3.md"), "# Q3\nall good\n").unwrap();
        let mut config = Config {
            database_url: DatabaseUrl::new(db.url.clone()),
            vault_key_file: dir.path().join("vault.key"),
            audit_signing_key_file: dir.path().join("audit-signing.key"),
            audit_checkpoint_file: dir.path().join("checkpoints.log"),
            data_dir: dir.path().join("data"),
            pool_size: 4,
            ..Config::default()
        };
        config.backup.daily = String::new();
        config.backup.weekly = String::new();
        config.backup.monthly = String::new();
        config.backup.data_directories = vec![files];
        let pool = Db::connect(&config).expect("pool");
        let vault = Vault::load(KeySource::File(config.vault_key_file.clone())).expect("vault");
        let mut conn = db.conn();
        vault.check_against(&mut conn).expect("keyring");
        let owner = user::create(&mut conn, "owner@example.com", Role::Owner).unwrap();
        user::create(&mut conn, "admin@example.com", Role::Admin).unwrap();
        let secret = canary::secret("sk-backup");
        stored::credential(&mut conn, &vault, &owner, "Stripe live", &secret);
        audit::record(
            &mut conn,
            &Event::new(Actor::User(owner.id), "user.signed_in", Outcome::Success),
        )
        .unwrap();
        for sql in [
            "CREATE TABLE client_notes (id bigint PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL)"
                .to_owned(),
            format!(
                "INSERT INTO client_notes SELECT g, md5(g::text) || repeat(' note', g % 7), \
                   timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' \
                 FROM generate_series(1, {rows}) g"
            ),
            "CREATE TABLE no_key (v text)".to_owned(),
            "INSERT INTO no_key VALUES ('b'), ('a'), (NULL)".to_owned(),
        ] {
            db.execute(&sql);
        }
        Self {
            db,
            dir,
            config,
            pool,
            vault,
            secret,
        }
    }

    /// The scheduler's view of this server: what `outpost serve` runs its backups with.
    pub fn scheduled(&self) -> Services {
        Services {
            config: outpost::settings::live::LiveConfig::new(self.config.clone()),
            db: self.pool.clone(),
            vault: Arc::new(
                Vault::load(KeySource::File(self.config.vault_key_file.clone())).expect("vault"),
            ),
            mailer: Arc::new(Mailer::from_config(&self.config.smtp).expect("mailer")),
        }
    }

    pub fn backups(&self) -> Backups<'_> {
        Backups {
            config: &self.config,
            db: &self.pool,
            vault: &self.vault,
        }
    }

    /// The local target's directory.
    pub fn local_dir(&self) -> PathBuf {
        self.config.data_dir.join("backups")
    }

    /// Adds an S3 target `name` whose keys are stored credentials.
    pub fn add_s3_target(&mut self, name: &str, endpoint: &str, bucket: &str) {
        let mut conn = self.db.conn();
        let owner = user::find_by_email(&mut conn, "owner@example.com")
            .unwrap()
            .unwrap();
        // The log check proves the secret key, opened from the vault at every run,
        // never reaches a log line.
        canary::record("s3-secret-key");
        for (credential, value) in [("s3 key id", "AKIDTEST"), ("s3 secret", "s3-secret-key")] {
            if credentials::for_outpost(&mut conn, &self.vault, credential).is_ok() {
                continue;
            }
            stored::credential(&mut conn, &self.vault, &owner, credential, value);
        }
        self.config.backup.targets.insert(
            name.into(),
            TargetSettings::S3 {
                bucket: bucket.into(),
                region: "us-east-1".into(),
                endpoint: endpoint.into(),
                prefix: format!("host-{name}"),
                path_style: true,
                allow_http: true,
                access_key_id_credential: "s3 key id".into(),
                secret_access_key_credential: "s3 secret".into(),
                request_timeout: std::time::Duration::from_secs(20),
            },
        );
    }

    /// The binary, configured like the library (schedules off, this data directory).
    pub fn command(&self) -> Command {
        let mut command = outpost_command(self.dir.path(), &self.db.url);
        // Nothing listens on port 1: the HTTP checks of `outpost scan` cannot reach a
        // stranger's server on the default 8080.
        command.env("OUTPOST_PUBLIC_URL", "http://127.0.0.1:1");
        command.env(
            "OUTPOST_BACKUP__DATA_DIRECTORIES",
            format!("[{:?}]", self.files_dir()),
        );
        command
    }

    /// `outpost backup restore ID --into <new> EXTRA…`, which must succeed: the
    /// restored client_notes rows are counted and the database dropped.
    pub fn restored_by_cli(&self, id: &str, extra: &[&std::ffi::OsStr]) -> usize {
        let into = format!("{}_cli", self.db.name);
        let restore = super::logs::output(
            self.command()
                .args(["backup", "restore", id, "--into", &into])
                .args(extra),
        );
        assert!(
            restore.status.success(),
            "{}",
            String::from_utf8_lossy(&restore.stderr)
        );
        let url = outpost::db::with_database(&self.db.url, &into);
        let rows = dump_rows(&url, "client_notes").len();
        drop_database(&self.db.url, &into);
        rows
    }

    pub fn files_dir(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    pub fn conn(&self) -> PgConnection {
        self.db.conn()
    }
}

/// Every table's rows in a canonical order, as text: two databases holding the same
/// data give the same strings.
pub fn dump_rows(url: &str, table: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        r: String,
    }
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(format!(
        "SELECT t::text AS r FROM {table} t ORDER BY t::text"
    ))
    .load::<Row>(&mut conn)
    .expect("rows")
    .into_iter()
    .map(|r| r.r)
    .collect()
}

/// Drops a database the test restored into.
pub fn drop_database(url: &str, name: &str) {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .expect("drop database");
}

/// Files below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}
