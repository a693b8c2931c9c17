//! `outpost export`: the real binary, real pg_dump and pg_restore, against a database
//! with a team, a stored credential (a canary) and audit entries.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use diesel::prelude::*;
use outpost::audit::{self, Actor, Event, Outcome};
use outpost::credentials::{self, Kind, NewCredential};
use outpost::db::schema::{audit_events, users};
use outpost::identity::{ClientInfo, Role, user};
use outpost::secret::SecretString;
use outpost::vault::Vault;
use outpost::vault::keyring::KeySource;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::canary;
use crate::support::logs;
use crate::support::pg::{TestDb, outpost_command, write_test_keys};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

struct Fixture {
    db: TestDb,
    dir: tempfile::TempDir,
    secret: String,
}

fn fixture() -> Fixture {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    write_test_keys(dir.path(), "test.example/audit");
    let mut conn = db.conn();
    // The same keyring the binary loads, so it accepts the database's sealed value.
    let vault = Vault::load(KeySource::File(dir.path().join("vault.key"))).unwrap();
    vault.check_against(&mut conn).unwrap();
    let owner = user::create(&mut conn, "owner@example.com", Role::Owner).unwrap();
    user::create(&mut conn, "dev@example.com", Role::Developer).unwrap();
    let secret = canary::secret("sk-canary");
    credentials::create(
        &mut conn,
        &vault,
        &owner,
        NewCredential {
            name: "Stripe live".into(),
            kind: Kind::ApiKey,
            value: SecretString::new(&secret),
            description: None,
            expires_at: None,
            rotate_every_days: Some(90),
        },
        &ClientInfo::default(),
    )
    .unwrap();
    for _ in 0..3 {
        audit::record(
            &mut conn,
            &Event::new(Actor::User(owner.id), "user.signed_in", Outcome::Success),
        )
        .unwrap();
    }
    Fixture { db, dir, secret }
}

impl Fixture {
    fn export(&self, args: &[&str]) -> std::process::Output {
        logs::output(
            outpost_command(self.dir.path(), &self.db.url)
                .args(["export", "--pg-bin", PG_BIN])
                .args(args),
        )
    }

    fn exported(&self) -> Vec<(bool, i64)> {
        let details: Vec<Value> = audit_events::table
            .filter(audit_events::action.eq("data.exported"))
            .select(audit_events::details)
            .load(&mut self.db.conn())
            .unwrap();
        details
            .iter()
            .map(|d| {
                (
                    d["include_secrets"].as_bool().unwrap(),
                    d["values"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

/// The tarball's members in order, with their bytes.
pub(crate) fn members(file: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(std::fs::File::open(file).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn user_rows(url: &str) -> Vec<(Uuid, String, String)> {
    users::table
        .select((users::id, users::email, users::role))
        .order(users::email.asc())
        .load(&mut PgConnection::establish(url).unwrap())
        .unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_export_is_complete_verifiable_restorable_and_holds_no_value() {
    let f = fixture();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("export.tar");
    let run = f.export(&["--out", file.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let members = members(&file);
    let (last, manifest) = members.last().unwrap();
    assert_eq!(last, "manifest.json", "the manifest comes last");
    let manifest: Value = serde_json::from_slice(manifest).unwrap();
    assert_eq!(manifest["outpost_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        manifest["pg_dump_version"]
            .as_str()
            .unwrap()
            .contains("pg_dump")
    );
    let listed = manifest["files"].as_array().unwrap();
    let by_path: BTreeMap<&str, &Vec<u8>> = members.iter().map(|(p, b)| (p.as_str(), b)).collect();
    assert_eq!(
        listed.len(),
        members.len() - 1,
        "every other member is listed"
    );
    for entry in listed {
        let bytes = by_path[entry["path"].as_str().unwrap()];
        assert_eq!(entry["size"].as_u64().unwrap(), bytes.len() as u64);
        assert_eq!(entry["sha256"].as_str().unwrap(), hex(bytes), "{entry}");
    }
    for path in [
        "database/outpost.sql",
        "database/outpost.dump",
        "index.md",
        "team.md",
        "audit.md",
        "credentials.md",
        "settings.md",
        "api_keys.md",
    ] {
        assert!(by_path.contains_key(path), "{path} missing");
    }
    let text = |path: &str| String::from_utf8(by_path[path].clone()).unwrap();
    assert!(text("team.md").contains("dev@example.com"));
    assert!(text("team.md").contains("developer"));
    assert!(text("credentials.md").contains("Stripe live"));
    assert!(
        text("audit.md").contains("| user.signed_in | 3 |"),
        "{}",
        text("audit.md")
    );
    assert!(text("index.md").contains("(team.md)"));
    assert!(!by_path.contains_key("secrets/credentials.json"));

    // The sealed column travels in the dumps; the plaintext nowhere.
    assert!(text("database/outpost.sql").contains("value_sealed"));
    let whole = std::fs::read(&file).unwrap();
    assert!(
        !contains(&whole, &f.secret),
        "the canary value is in the tarball"
    );

    // The custom-format dump restores with stock pg_restore into an empty database.
    let restored = TestDb::empty();
    let dump = out_dir.path().join("outpost.dump");
    std::fs::write(&dump, by_path["database/outpost.dump"]).unwrap();
    let status = Command::new(format!("{PG_BIN}/pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--dbname", &restored.url])
        .arg(&dump)
        .status()
        .unwrap();
    assert!(status.success(), "pg_restore failed");
    assert_eq!(user_rows(&restored.url), user_rows(&f.db.url));
    assert_eq!(user_rows(&restored.url).len(), 2);

    assert_eq!(f.exported(), vec![(false, 0)], "one audit entry, no values");
}

#[test]
fn include_secrets_writes_the_values_and_says_so_in_the_audit_log() {
    let f = fixture();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("with-values.tar");
    let run = f.export(&["--out", file.to_str().unwrap(), "--include-secrets"]);
    if !nix::unistd::geteuid().is_root() {
        assert_eq!(run.status.code(), Some(1), "only root may include values");
        assert!(!file.exists());
        return;
    }
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let members = members(&file);
    let (_, values) = members
        .iter()
        .find(|(p, _)| p == "secrets/credentials.json")
        .expect("the values file");
    let values: Value = serde_json::from_slice(values).unwrap();
    assert_eq!(values[0]["name"], "Stripe live");
    assert_eq!(values[0]["kind"], "api_key");
    assert_eq!(values[0]["value"], f.secret.as_str());
    assert_eq!(f.exported(), vec![(true, 1)]);
}

#[test]
fn an_output_directory_that_does_not_exist_is_one_line_and_exit_1() {
    let f = fixture();
    let run = f.export(&["--out", "/nonexistent-outpost-dir/export.tar"]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/nonexistent-outpost-dir/export.tar"),
        "{stderr}"
    );
    assert!(f.exported().is_empty(), "nothing exported, nothing audited");
}
