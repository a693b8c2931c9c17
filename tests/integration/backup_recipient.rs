//! Backups sealed to an operator's recipient key: made with `outpost backup keygen`,
//! drilled while the server still holds the content key, and afterwards opened only
//! with the identity file.

use diesel::prelude::*;
use outpost::backup::runs::Trigger;
use outpost::db::schema::{backup_drills, backup_runs};

use crate::support::backup::Server;
use crate::support::logs;

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_sealed_to_a_recipient_is_drilled_at_once_and_then_opens_only_with_its_identity() {
    let mut server = Server::new(300);
    let keys = tempfile::tempdir().unwrap();
    let identity_file = keys.path().join("backup.identity");
    // Made where it will be kept, with nothing but the binary.
    let keygen = logs::output(
        std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
            .env_clear()
            .args(["backup", "keygen", "--out"])
            .arg(&identity_file),
    );
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    let printed = String::from_utf8_lossy(&keygen.stdout);
    let recipient = printed
        .lines()
        .find_map(|l| l.strip_prefix("recipient = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the recipient line")
        .to_owned();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        identity_file.metadata().unwrap().permissions().mode() & 0o777,
        0o400
    );
    let again = logs::output(
        std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(["backup", "keygen", "--out"])
            .arg(&identity_file),
    );
    assert_eq!(
        again.status.code(),
        Some(1),
        "an identity is never replaced"
    );

    server.config.backup.recipient = recipient.clone();
    server.config.backup.daily = "0 30 2 * * *".into();
    let scheduled = server.scheduled();
    scheduled.run_backup(Trigger::Daily, false).await;
    let drilled: String = backup_drills::table
        .select(backup_drills::outcome)
        .first(&mut server.conn())
        .unwrap();
    assert_eq!(
        drilled, "passed",
        "drilled with the content key still in memory"
    );

    let id: uuid::Uuid = backup_runs::table
        .select(backup_runs::id)
        .first(&mut server.conn())
        .unwrap();
    let id = id.to_string();
    // The server lists it (its manifest is the server's to check) but cannot read it.
    let list = logs::output(server.command().args(["backup", "list"]));
    assert!(String::from_utf8_lossy(&list.stdout).contains(&id));
    let verify = logs::output(
        server
            .command()
            .env("OUTPOST_BACKUP__RECIPIENT", &recipient)
            .args(["backup", "verify", &id]),
    );
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stderr.contains("sealed to a recipient") && stderr.contains("--identity"),
        "{stderr}"
    );

    let with_identity = logs::output(
        server
            .command()
            .args(["backup", "verify", &id, "--identity"])
            .arg(&identity_file),
    );
    assert!(
        with_identity.status.success(),
        "{}",
        String::from_utf8_lossy(&with_identity.stderr)
    );
    let identity = identity_file.as_os_str();
    assert_eq!(
        server.restored_by_cli(&id, &["--identity".as_ref(), identity]),
        300
    );

    // Another identity opens nothing.
    let stranger = keys.path().join("stranger.identity");
    logs::output(
        std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(["backup", "keygen", "--out"])
            .arg(&stranger),
    );
    let refused = logs::output(
        server
            .command()
            .args(["backup", "verify", &id, "--identity"])
            .arg(&stranger),
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not open with this identity"));
}
