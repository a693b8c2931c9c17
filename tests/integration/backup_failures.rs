//! Backups that must fail, and fail loudly: a corrupted, truncated or wrongly keyed
//! backup never verifies; a killed upload is never listed as complete; an unreachable
//! store is a failed run, an alert and an email. And retention keeps exactly the
//! grandfather-father-son set on a real target.

use std::io::Cursor;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use outpost::audit::Actor;
use outpost::backup::catalog;
use outpost::backup::create::Quiet;
use outpost::backup::key::BackupKey;
use outpost::backup::manifest::{MANIFEST_VERSION, Manifest};
use outpost::backup::runs::{Backups, Trigger};
use outpost::backup_target::{MANIFEST, Target};
use outpost::config::SmtpConfig;
use outpost::config::SmtpSecurity;
use outpost::db::schema::{backup_drills, backup_runs};
use outpost::notify::{Mailer, alerts};
use outpost::vault::Vault;
use outpost::vault::keyring::{KeySource, Keyring};
use time::OffsetDateTime;

use crate::support::backup::Server;
use crate::support::logs;
use crate::support::s3::{BUCKET, MotoServer};
use crate::support::smtp::SmtpSink;

fn backed_up(rows: u32) -> (Server, String) {
    let server = Server::new(rows);
    let report = server
        .backups()
        .run("local", Trigger::Manual, false, Actor::Cli, &mut Quiet)
        .unwrap();
    (server, report.id.to_string())
}

fn drill_error(backups: &Backups<'_>, id: &str) -> String {
    backups
        .drill("local", id, None, Actor::Cli, &mut Quiet)
        .expect_err("the drill must fail")
        .to_string()
}

fn open_alerts(server: &Server) -> Vec<(String, String, i32)> {
    alerts::open(&mut server.conn())
        .unwrap()
        .into_iter()
        .map(|a| (a.key, a.severity, a.occurrences))
        .collect()
}

#[test]
fn a_corrupted_object_fails_verification_and_raises_an_alert() {
    let (server, id) = backed_up(500);
    let part = server.local_dir().join(&id).join("database.dump.zst.enc");
    let mut bytes = std::fs::read(&part).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&part, &bytes).unwrap();

    let error = drill_error(&server.backups(), &id);
    assert!(
        error.contains("upload verification of") && error.contains("SHA-256"),
        "{error}"
    );
    let (outcome, recorded): (String, Option<String>) = backup_drills::table
        .select((backup_drills::outcome, backup_drills::error))
        .first(&mut server.conn())
        .unwrap();
    assert_eq!(outcome, "failed");
    assert_eq!(recorded.as_deref(), Some(error.as_str()));
    assert_eq!(
        open_alerts(&server),
        [("backup.drill.local".to_owned(), "critical".to_owned(), 1)]
    );
}

#[test]
fn a_truncated_object_fails_verification() {
    let (server, id) = backed_up(500);
    let part = server.local_dir().join(&id).join("files.tar.zst.enc");
    let bytes = std::fs::read(&part).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() - 17]).unwrap();
    let error = drill_error(&server.backups(), &id);
    assert!(error.contains("stored size"), "{error}");
}

#[test]
fn a_consistent_forgery_fails_to_decrypt() {
    // Rewrite a part AND its manifest entry's digest: only the key can tell.
    let (server, id) = backed_up(500);
    let backups = server.backups();
    let target = backups.target("local").unwrap();
    let mut manifest = catalog::read_manifest(&*target, &id, &backups.key()).unwrap();
    let part = server.local_dir().join(&id).join("keyring.zst.enc");
    let mut bytes = std::fs::read(&part).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    let stored = target
        .put(&format!("{id}/keyring.zst.enc"), &mut Cursor::new(&bytes))
        .unwrap();
    let entry = manifest
        .parts
        .iter_mut()
        .find(|p| p.name == "keyring.zst.enc")
        .unwrap();
    entry.sha256 = stored.sha256_hex();
    // Without the key the manifest cannot be re-signed: a forged MAC is caught first.
    let forged_key = BackupKey::generate(backups.key().id()).unwrap();
    let forged = manifest.sign(&forged_key).unwrap();
    target
        .put(
            &format!("{id}/{MANIFEST}"),
            &mut Cursor::new(forged.as_bytes()),
        )
        .unwrap();
    let error = drill_error(&backups, &id);
    assert!(error.contains("failed authentication"), "{error}");
    // Signed with the real key (an insider's forgery): the chunk's tag still fails.
    let signed = manifest.sign(&backups.key()).unwrap();
    target
        .put(
            &format!("{id}/{MANIFEST}"),
            &mut Cursor::new(signed.as_bytes()),
        )
        .unwrap();
    let error = drill_error(&backups, &id);
    assert!(error.contains("keyring.zst.enc"), "{error}");
}

#[test]
fn the_wrong_key_fails_verification() {
    let (server, id) = backed_up(100);
    let other = server.dir.path().join("other.keyring");
    Keyring::generate().create_file(&other).unwrap();
    let vault = Vault::load(KeySource::File(other)).unwrap();
    let backups = Backups {
        config: &server.config,
        db: &server.pool,
        vault: &vault,
    };
    let error = drill_error(&backups, &id);
    assert!(error.contains("was written with key"), "{error}");
    // Listing shows the backup as unreadable rather than hiding it.
    let listed = catalog::list(&*backups.target("local").unwrap(), &backups.key()).unwrap();
    assert!(listed[0].manifest.is_err());
}

/// Enough data that an upload takes a while: ~40 MB of incompressible-ish text.
fn add_bulk(server: &Server) {
    server.db.execute(
        "CREATE TABLE blobs AS SELECT g AS id, \
           (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 64) i) AS body \
         FROM generate_series(1, 20000) g",
    );
}

/// After a SIGKILL: nothing complete, the dead run marked interrupted, and the next
/// run (with no grace for abandoned uploads) clears what is left and completes.
fn after_the_kill(server: &Server, target_name: &str) -> Vec<String> {
    let backups = server.backups();
    let target = backups.target(target_name).unwrap();
    assert!(target.complete_backups().unwrap().is_empty());
    let list = logs::output(
        server
            .command()
            .args(["backup", "list", "--target", "local"]),
    );
    assert!(String::from_utf8_lossy(&list.stdout).contains("no complete backups"));
    assert_eq!(backups.mark_interrupted().unwrap(), 1);
    let mut config = server.config.clone();
    config.backup.partial_grace = Duration::ZERO;
    let again = Backups {
        config: &config,
        ..backups
    };
    let report = again
        .run(target_name, Trigger::Manual, false, Actor::Cli, &mut Quiet)
        .unwrap();
    assert_eq!(target.complete_backups().unwrap(), [report.id.to_string()]);
    report.cleaned
}

#[test]
fn killing_the_process_mid_upload_leaves_no_complete_backup() {
    let server = Server::new(10);
    add_bulk(&server);
    let mut child = server
        .command()
        .args(["backup", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let backups_dir = server.local_dir();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Killed as soon as the database part is being written.
    loop {
        let partial = std::fs::read_dir(&backups_dir)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .any(|f| f.file_name().to_string_lossy().ends_with(".partial"));
        if partial {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(after_the_kill(&server, "local").len(), 1);
    assert_eq!(std::fs::read_dir(&backups_dir).unwrap().count(), 1);
}

#[test]
fn killing_the_process_mid_s3_upload_leaves_no_complete_backup() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let mut server = Server::new(10);
    add_bulk(&server);
    server.add_s3_target("offsite", &moto.endpoint(), BUCKET);
    let prefix = "OUTPOST_BACKUP__TARGETS__OFFSITE__";
    let mut child = server
        .command()
        .env(format!("{prefix}TYPE"), "s3")
        .env(format!("{prefix}BUCKET"), BUCKET)
        .env(format!("{prefix}ENDPOINT"), moto.endpoint())
        .env(format!("{prefix}PREFIX"), "host-offsite")
        .env(format!("{prefix}PATH_STYLE"), "true")
        .env(format!("{prefix}ALLOW_HTTP"), "true")
        .env(format!("{prefix}ACCESS_KEY_ID_CREDENTIAL"), "s3 key id")
        .env(format!("{prefix}SECRET_ACCESS_KEY_CREDENTIAL"), "s3 secret")
        .args(["backup", "run", "--target", "offsite"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once the dump is streaming into the bucket (its run recorded, then a
    // moment): in the middle of a multipart upload.
    let deadline = Instant::now() + Duration::from_secs(60);
    while backup_runs::table
        .count()
        .get_result::<i64>(&mut server.conn())
        .unwrap()
        == 0
    {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "finished before it could be killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // A part that was already stored is an abandoned upload, removed by the next run.
    assert!(after_the_kill(&server, "offsite").len() <= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_store_fails_the_run_raises_an_alert_and_emails_it_once() {
    let mut server = Server::new(10);
    // Nothing listens on this loopback port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    server.add_s3_target("offsite", &format!("http://127.0.0.1:{port}"), BUCKET);
    let mail = SmtpSink::start();
    server.config.smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port: mail.port(),
        security: SmtpSecurity::None,
        ..SmtpConfig::default()
    };
    // The S3 target drives its own runtime: run it off the test's, as the server does.
    let server = tokio::task::spawn_blocking(move || {
        for _ in 0..2 {
            let error = server
                .backups()
                .run("offsite", Trigger::Manual, false, Actor::Cli, &mut Quiet)
                .unwrap_err()
                .to_string();
            assert!(error.contains("S3") && error.contains("failed"), "{error}");
        }
        server
    })
    .await
    .unwrap();
    let runs: Vec<(String, Option<String>)> = backup_runs::table
        .select((backup_runs::outcome, backup_runs::error))
        .load(&mut server.conn())
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|(o, e)| o == "failed" && e.is_some()));
    assert_eq!(
        open_alerts(&server),
        [("backup.failed.offsite".to_owned(), "critical".to_owned(), 2)]
    );

    let mailer = Mailer::from_config(&server.config.smtp).unwrap();
    alerts::deliver(&server.pool, &mailer, "acme-prod").await;
    alerts::deliver(&server.pool, &mailer, "acme-prod").await;
    let sent = mail.wait_for(2, Duration::from_secs(10));
    let mut to: Vec<String> = sent.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        ["admin@example.com", "owner@example.com"],
        "told once each"
    );
    assert!(
        sent[0]
            .subject()
            .unwrap()
            .contains("Backup to offsite failed")
    );

    // The store comes back (here: the target points at a real one): the alert clears.
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let mut server = server;
    server.add_s3_target("offsite", &moto.endpoint(), BUCKET);
    let server = tokio::task::spawn_blocking(move || {
        server
            .backups()
            .run("offsite", Trigger::Manual, false, Actor::Cli, &mut Quiet)
            .unwrap();
        server
    })
    .await
    .unwrap();
    assert!(open_alerts(&server).is_empty());
}

#[test]
fn retention_keeps_exactly_the_gfs_set() {
    let server = Server::new(10);
    let backups = server.backups();
    let target = backups.target("local").unwrap();
    let key = backups.key();
    // A backup every 12 hours for 100 days, written as the run would (manifest last).
    let start = time::macros::datetime!(2026-08-01 01:00 UTC);
    let mut ids = Vec::new();
    for i in 0..200 {
        let at = start + time::Duration::hours(12 * i);
        ids.push((fake_backup(&*target, &key, at), at));
    }
    // One whose manifest does not authenticate: never pruned.
    let stranger = fake_backup(&*target, &BackupKey::generate(key.id()).unwrap(), start);
    let plan = backups.prune("local", false, Actor::Cli).unwrap();
    assert_eq!(plan.unreadable, std::slice::from_ref(&stranger));

    let mut expected: Vec<String> = Vec::new();
    let newest = start + time::Duration::hours(12 * 199);
    // 7 days: the newest backup (13:00) of each of the last 7 days.
    for d in 0..7 {
        expected.push(at_time(&ids, (newest - time::Duration::days(d)).date(), 13));
    }
    // 4 ISO weeks: the newest of each (the newest backup's own week, then the three
    // Sundays before its Monday).
    let monday =
        newest.date() - time::Duration::days(newest.weekday().number_days_from_monday().into());
    for day in [
        newest.date(),
        monday - time::Duration::days(1),
        monday - time::Duration::days(8),
        monday - time::Duration::days(15),
    ] {
        expected.push(at_time(&ids, day, 13));
    }
    // 12 months: the newest of every month present (Aug..Nov 2026).
    for last in [
        time::macros::date!(2026 - 08 - 31),
        time::macros::date!(2026 - 09 - 30),
        time::macros::date!(2026 - 10 - 31),
        newest.date(),
    ] {
        expected.push(at_time(&ids, last, 13));
    }
    expected.sort();
    expected.dedup();
    let mut kept = target.complete_backups().unwrap();
    kept.retain(|id| *id != stranger);
    kept.sort();
    assert_eq!(kept, expected);
    assert_eq!(plan.remove.len(), 200 - expected.len());
    // Removed backups are gone entirely, not just their manifests.
    let objects = target.list("").unwrap().len();
    assert_eq!(objects, (expected.len() + 1) * 2);
}

fn at_time(ids: &[(String, OffsetDateTime)], day: time::Date, hour: u8) -> String {
    ids.iter()
        .find(|(_, at)| at.date() == day && at.hour() == hour)
        .unwrap_or_else(|| panic!("no backup at {day} {hour}:00"))
        .0
        .clone()
}

/// A complete backup with a one-byte part, created at `at`.
fn fake_backup(target: &dyn Target, key: &BackupKey, at: OffsetDateTime) -> String {
    let id = uuid::Uuid::new_v4();
    let stored = target
        .put(
            &format!("{id}/database.dump.zst.enc"),
            &mut Cursor::new(b"x"),
        )
        .unwrap();
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        backup_id: id,
        created_at: at,
        key_id: key.id().to_owned(),
        outpost_version: "test".into(),
        pg_dump_version: "test".into(),
        server_version: "test".into(),
        parts: vec![outpost::backup::manifest::Part {
            name: "database.dump.zst.enc".into(),
            plaintext_size: 1,
            stored_size: stored.size,
            sha256: stored.sha256_hex(),
        }],
        tables: Vec::new(),
        content_key: None,
    };
    target
        .put(
            &format!("{id}/{MANIFEST}"),
            &mut Cursor::new(manifest.sign(key).unwrap().into_bytes()),
        )
        .unwrap();
    id.to_string()
}
