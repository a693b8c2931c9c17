//! The leaked-secrets check against real files and a real vault: an AWS key pair and a
//! stored credential's value planted in a log file and a document directory are
//! found, at the right lines and severities, and no finding carries either secret.
//! Every planted value is a canary, so the log check at the end of a run proves none
//! of them reached a log line either.

use std::path::{Path, PathBuf};

use outpost::config::{Config, DatabaseUrl};
use outpost::credentials;
use outpost::db::Db;
use outpost::identity::{Role, user};
use outpost::scan::{self, CheckRun, Context, Severity};
use outpost::vault::Vault;
use outpost::vault::keyring::KeySource;

use crate::support::canary;
use crate::support::pg::{TestDb, write_test_keys};
use crate::support::stored;

const CHECK: &str = "defensive.leaked_secrets";

/// A database with one stored credential, and a config that searches `logs` and
/// `documents` (the journal is left out: test machines and containers differ).
struct Host {
    _db: TestDb,
    dir: tempfile::TempDir,
    config: Config,
    pool: Db,
    vault: Vault,
    /// The stored credential's value and id.
    stored: (String, uuid::Uuid),
}

impl Host {
    fn new() -> Self {
        let db = TestDb::new();
        let dir = tempfile::tempdir().expect("temp dir");
        write_test_keys(dir.path(), "test.example/audit");
        let config = Config {
            database_url: DatabaseUrl::new(db.url.clone()),
            vault_key_file: dir.path().join("vault.key"),
            audit_signing_key_file: dir.path().join("audit-signing.key"),
            audit_checkpoint_file: dir.path().join("checkpoints.log"),
            data_dir: dir.path().join("data"),
            pool_size: 2,
            ..Config::default()
        };
        let pool = Db::connect(&config).expect("pool");
        let vault = Vault::load(KeySource::File(config.vault_key_file.clone())).expect("vault");
        let mut conn = db.conn();
        vault.check_against(&mut conn).expect("keyring");
        let owner = user::create(&mut conn, "owner@example.com", Role::Owner).unwrap();
        // No provider's shape: only the vault comparison can find it.
        let value = canary::secret("relay-password");
        stored::credential(&mut conn, &vault, &owner, "Mail relay", &value);
        let id = credentials::list(&mut conn).unwrap()[0].id;
        Self {
            _db: db,
            dir,
            config,
            pool,
            vault,
            stored: (value, id),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        path
    }

    fn scan(&self) -> CheckRun {
        let cx = Context {
            config: &self.config,
            db: &self.pool,
            vault: &self.vault,
            now: time::OffsetDateTime::now_utc(),
        };
        let checks: Vec<_> = scan::checks::all()
            .into_iter()
            .filter(|c| c.id() == CHECK)
            .collect();
        assert_eq!(checks.len(), 1, "the check is registered");
        scan::run(&cx, &checks).remove(0)
    }
}

/// A fresh AWS key id and secret key, recorded as canaries.
fn aws_key_pair() -> (String, String) {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = [0u8; 56];
    getrandom::fill(&mut bytes).expect("random source");
    let id: String = "AKIA"
        .chars()
        .chain(
            bytes[..16]
                .iter()
                .map(|b| char::from(UPPER[*b as usize % 32])),
        )
        .collect();
    // Fixed characters of every class, then random ones: a real key has all classes.
    let secret: String = "Ab1"
        .chars()
        .chain(
            bytes[16..53]
                .iter()
                .map(|b| char::from(BASE64[*b as usize % 64])),
        )
        .collect();
    canary::record(&id);
    canary::record(&secret);
    (id, secret)
}

fn subject(path: &Path, line: usize, rule: &str) -> String {
    format!("leak:{}:{line}:{rule}", path.display())
}

#[test]
fn planted_secrets_are_found_where_they_are_and_never_repeated() {
    let mut host = Host::new();
    let (key_id, secret_key) = aws_key_pair();
    let (value, credential) = host.stored.clone();
    let log = host.path("log/outpost.log");
    std::fs::write(
        &log,
        format!(
            "starting\nAWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret_key}\n\
             smtp login failed for password {value}\nstopped\n"
        ),
    )
    .unwrap();
    let documents = host.dir.path().join("documents");
    let notes = host.path("documents/clients/acme/notes.md");
    std::fs::write(
        &notes,
        format!("# Acme\n\nrelay: {value}\n\naws id {key_id}\n"),
    )
    .unwrap();
    // Outside the directory, reached only through a symbolic link: not followed.
    let outside = host.path("elsewhere/secret.txt");
    std::fs::write(&outside, format!("{value}\n")).unwrap();
    std::os::unix::fs::symlink(&outside, documents.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(host.dir.path().join("elsewhere"), documents.join("dir")).unwrap();
    // A binary file is skipped.
    std::fs::write(documents.join("blob.bin"), format!("\0\0{value}\n")).unwrap();
    host.config.scan.journal = false;
    host.config.scan.log_files = vec![log.clone()];
    host.config.scan.document_directories = vec![documents];

    let run = host.scan();
    assert_eq!(run.status, "findings", "{:?}", run.error);
    let mut got: Vec<(String, Severity)> = run
        .found
        .iter()
        .map(|f| (f.subject.clone(), f.severity))
        .collect();
    got.sort();
    let stored_rule = format!("stored_credential.{credential}");
    let mut expected = vec![
        (subject(&log, 2, "aws.access_key_id"), Severity::High),
        (
            subject(&log, 3, "aws.secret_access_key"),
            Severity::Critical,
        ),
        (subject(&log, 4, &stored_rule), Severity::Critical),
        (subject(&notes, 3, &stored_rule), Severity::Critical),
        (subject(&notes, 5, "aws.access_key_id"), Severity::High),
    ];
    expected.sort();
    assert_eq!(got, expected);

    let key_evidence = run
        .found
        .iter()
        .find(|f| f.subject == subject(&log, 2, "aws.access_key_id"))
        .unwrap();
    assert_eq!(
        key_evidence.evidence,
        format!("{}:2: an AWS access key id, AKIA…[20 chars]", log.display())
    );
    let stored_evidence = run
        .found
        .iter()
        .find(|f| f.subject == subject(&notes, 3, &stored_rule))
        .unwrap();
    assert!(
        stored_evidence.evidence.contains("\"Mail relay\""),
        "{}",
        stored_evidence.evidence
    );
    // No field of any finding, nor the run as it is serialised, carries a secret.
    let everything = serde_json::to_string(&run).unwrap();
    for secret in [&key_id, &secret_key, &value] {
        assert!(!everything.contains(secret.as_str()));
        for found in &run.found {
            for field in [&found.subject, &found.title, &found.evidence] {
                assert!(!field.contains(secret.as_str()), "{field}");
            }
        }
    }

    // The same leaks are the same findings on the next run.
    let again: Vec<_> = host.scan().found.into_iter().map(|f| f.subject).collect();
    let first: Vec<_> = run.found.into_iter().map(|f| f.subject).collect();
    assert_eq!(again, first);
}

#[test]
fn a_clean_directory_and_log_stay_quiet() {
    let mut host = Host::new();
    let log = host.path("log/outpost.log");
    std::fs::write(
        &log,
        "starting\ncommit 9fceb02d0ae598e95dc970b74767f19372d61af8\nkey AKIA-not-a-key\n",
    )
    .unwrap();
    let documents = host.dir.path().join("documents");
    std::fs::write(
        host.path("documents/readme.md"),
        "Put your token (xoxb-your-token) in the settings.\n-----BEGIN PUBLIC KEY-----\n",
    )
    .unwrap();
    host.config.scan.journal = false;
    host.config.scan.log_files = vec![log];
    host.config.scan.document_directories = vec![documents];

    let run = host.scan();
    assert_eq!(run.status, "ok", "{:?}", run.found);
}

#[test]
fn a_missing_log_file_is_said_not_silently_passed() {
    let mut host = Host::new();
    let missing = host.dir.path().join("no-such.log");
    host.config.scan.journal = false;
    host.config.scan.log_files = vec![missing.clone()];

    let run = host.scan();
    let subjects: Vec<_> = run.found.iter().map(|f| (&f.subject, f.severity)).collect();
    assert_eq!(
        subjects,
        [(
            &format!("leak:{}:unreadable", missing.display()),
            Severity::Info
        )]
    );
}
