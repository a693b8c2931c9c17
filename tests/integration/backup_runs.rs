//! Backups end to end against real PostgreSQL, pg_dump and pg_restore, a local
//! directory and a real S3 API (moto): backup → list → drill → restore → the same
//! data; what is recorded and audited; retention; catch-up at start; the CLI.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use outpost::audit::Actor;
use outpost::backup::catalog;
use outpost::backup::create::Quiet;
use outpost::backup::recover::{Replace, RestoreRequest};
use outpost::backup::runs::Trigger;
use outpost::db::schema::{audit_events, backup_drills, backup_runs};
use outpost::vault::rotation;
use serde_json::Value;

use crate::support::backup::{Server, drop_database, dump_rows, files_below};
use crate::support::logs;
use crate::support::s3::{BUCKET, MotoServer};

fn actions(server: &Server) -> Vec<String> {
    audit_events::table
        .filter(audit_events::action.like("backup.%"))
        .order(audit_events::id.asc())
        .select(audit_events::action)
        .load(&mut server.conn())
        .unwrap()
}

/// Takes a backup to `target`, lists it, drills it, restores it into a new database
/// and checks every row and file came back.
fn round_trip(server: &Server, target: &str) {
    let backups = server.backups();
    let report = backups
        .run(target, Trigger::Manual, false, Actor::Cli, &mut Quiet)
        .expect("backup");
    let id = report.id.to_string();
    assert_eq!(
        report
            .manifest
            .parts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        [
            "database.dump.zst.enc",
            "files.tar.zst.enc",
            "keyring.zst.enc"
        ]
    );
    let notes = report
        .manifest
        .tables
        .iter()
        .find(|t| t.name == "public.client_notes")
        .expect("client_notes recorded");
    assert_eq!(notes.rows, 2000);

    let listed = catalog::list(&*backups.target(target).unwrap(), &backups.key()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].manifest.as_ref().unwrap(), &report.manifest);

    // The drill, by a unique prefix of the id, as people type it.
    let drill = backups
        .drill(target, &id[..8], None, Actor::Cli, &mut Quiet)
        .expect("drill passes");
    assert!(drill.passed(), "{:?}", drill.mismatches);
    assert_eq!(drill.tables, report.manifest.tables.len());
    let (outcome, scratch): (String, Value) = backup_drills::table
        .select((backup_drills::outcome, backup_drills::detail))
        .first(&mut server.conn())
        .unwrap();
    assert_eq!(outcome, "passed");
    let scratch = scratch["database"].as_str().unwrap().to_owned();
    assert!(
        !dump_rows(&server.db.url, "pg_database")
            .iter()
            .any(|r| r.contains(&scratch)),
        "the drill's scratch database is dropped"
    );

    let into = format!("{}_restored", server.db.name);
    let files = tempfile::tempdir().unwrap();
    let restored = backups
        .restore(
            RestoreRequest {
                target,
                id: &id,
                into: &into,
                files_into: Some(files.path()),
                replace: Replace::Refused,
                identity: None,
            },
            Actor::Cli,
            &mut Quiet,
        )
        .expect("restore");
    assert!(restored.restored.passed());
    assert!(restored.safety_backup.is_none() && restored.kept_as.is_none());
    let restored_url = outpost::db::with_database(&server.db.url, &into);
    for table in [
        "users",
        "stored_credentials",
        "client_notes",
        "no_key",
        "audit_events",
        "vault_keks",
    ] {
        let before = dump_rows(&server.db.url, table);
        let after = dump_rows(&restored_url, table);
        // The restore's own audit entry is the one row the source never had.
        let after: Vec<String> = if table == "audit_events" {
            after
                .into_iter()
                .filter(|r| !r.contains("backup.restored"))
                .collect()
        } else {
            after
        };
        let before: Vec<String> = if table == "audit_events" {
            // Entries written after the backup's snapshot (the run's own, the drill's).
            before
                .into_iter()
                .filter(|r| !r.contains(",backup."))
                .collect()
        } else {
            before
        };
        assert_eq!(before, after, "{table} differs after the restore");
    }
    let source_files = files_below(&server.files_dir());
    let unpacked = files
        .path()
        .join(server.files_dir().strip_prefix("/").unwrap());
    assert_eq!(files_below(&unpacked), source_files);
    assert_eq!(
        std::fs::read_to_string(unpacked.join("reports/q3.md")).unwrap(),
        "# Q3\nall good\n"
    );
    drop_database(&server.db.url, &into);

    let (outcome, trigger, stored): (String, String, Option<i64>) = backup_runs::table
        .find(report.id)
        .select((
            backup_runs::outcome,
            backup_runs::trigger,
            backup_runs::stored_bytes,
        ))
        .first(&mut server.conn())
        .unwrap();
    assert_eq!((outcome.as_str(), trigger.as_str()), ("complete", "manual"));
    assert_eq!(stored, Some(report.stored_bytes as i64));
    assert_eq!(
        actions(server),
        ["backup.completed", "backup.drilled", "backup.restored"]
    );
}

#[test]
fn local_backup_lists_drills_and_restores_the_same_data() {
    let server = Server::new(2000);
    round_trip(&server, "local");
    // Objects and directories are the service user's alone.
    use std::os::unix::fs::PermissionsExt;
    let dir = std::fs::read_dir(server.local_dir())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(dir.metadata().unwrap().permissions().mode() & 0o777, 0o700);
    for file in std::fs::read_dir(&dir).unwrap() {
        let mode = file.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn s3_backup_lists_drills_and_restores_the_same_data() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let mut server = Server::new(2000);
    server.add_s3_target("offsite", &moto.endpoint(), BUCKET);
    round_trip(&server, "offsite");
}

#[test]
fn nothing_stored_is_readable_without_the_key() {
    let server = Server::new(50);
    server
        .backups()
        .run("local", Trigger::Manual, false, Actor::Cli, &mut Quiet)
        .unwrap();
    let mut haystack = Vec::new();
    let dir = server.local_dir();
    for file in files_below(&dir) {
        haystack.extend(std::fs::read(dir.join(file)).unwrap());
    }
    // The manifest names tables and counts rows (to check a restore without the
    // key); no row, file or credential is readable.
    for needle in [
        "owner@example.com",
        "note note",
        "all good",
        "Stripe live",
        &server.secret,
    ] {
        assert!(
            !haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "{needle} readable in the stored backup"
        );
    }
}

#[test]
fn replacing_the_live_database_takes_a_safety_backup_and_keeps_the_old_one() {
    let server = Server::new(100);
    let backups = server.backups();
    let first = backups
        .run("local", Trigger::Manual, false, Actor::Cli, &mut Quiet)
        .unwrap();
    server.db.execute("DELETE FROM client_notes WHERE id > 10");
    // The vault key the backup's values are sealed under is rotated away and retired
    // (its material leaves the keyring file) before the restore.
    let mut conn = server.conn();
    rotation::add_kek(&server.vault, &mut conn, Actor::Cli).unwrap();
    let rotated =
        rotation::rewrap_all(&server.vault, &mut conn, Actor::Cli, 100, &mut |_| {}).unwrap();
    assert_eq!(rotated.retired, [1]);
    let id = first.id.to_string();
    let refused_request = RestoreRequest {
        target: "local",
        id: &id,
        into: &server.db.name,
        files_into: None,
        replace: Replace::Refused,
        identity: None,
    };
    let refused = backups
        .restore(refused_request, Actor::Cli, &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("--force"), "{refused}");

    let forced = RestoreRequest {
        replace: Replace::Allowed,
        ..refused_request
    };
    let report = backups
        .restore(forced, Actor::Cli, &mut Quiet)
        .expect("forced restore");
    assert_eq!(dump_rows(&server.db.url, "client_notes").len(), 100);
    assert_eq!(
        report.keys_restored,
        [1],
        "the retired key comes back from the backup"
    );
    let value = outpost::credentials::for_outpost(&mut server.conn(), &server.vault, "Stripe live")
        .expect("the restored value opens");
    assert_eq!(value.expose(), server.secret);
    let kept = report.kept_as.expect("the old database is kept");
    let kept_url = outpost::db::with_database(&server.db.url, &kept);
    assert_eq!(dump_rows(&kept_url, "client_notes").len(), 10);
    // The safety backup holds the database as it was just before.
    let safety = report.safety_backup.expect("a safety backup");
    let target = backups.target("local").unwrap();
    let manifest = catalog::read_manifest(&*target, &safety.to_string(), &backups.key()).unwrap();
    let notes = manifest
        .tables
        .iter()
        .find(|t| t.name == "public.client_notes")
        .unwrap();
    assert_eq!(notes.rows, 10);
    drop_database(&server.db.url, &kept);
    // The restored log carries the restore as its newest entry.
    let last: String = audit_events::table
        .order(audit_events::id.desc())
        .select(audit_events::action)
        .first(&mut server.conn())
        .unwrap();
    assert_eq!(last, "backup.restored");
}

#[test]
fn one_backup_at_a_time() {
    let server = Server::new(10);
    let backups = server.backups();
    let _held = backups.lock().unwrap();
    let err = backups
        .run("local", Trigger::Manual, false, Actor::Cli, &mut Quiet)
        .unwrap_err();
    assert!(err.to_string().contains("another backup"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_run_drills_prunes_and_a_missed_run_is_caught_up_at_start() {
    let mut server = Server::new(20);
    server.config.backup.daily = "0 30 2 * * *".into();
    server.config.backup.keep_daily = 1;
    server.config.backup.keep_weekly = 0;
    server.config.backup.keep_monthly = 0;
    let backups = server.backups();
    // Never ran: the daily run is owed.
    assert_eq!(
        backups.owed(time::OffsetDateTime::now_utc()).unwrap(),
        Some(Trigger::Daily)
    );
    let older = backups
        .run("local", Trigger::Manual, false, Actor::Cli, &mut Quiet)
        .unwrap();

    let scheduled = server.scheduled();
    scheduled.start_backups().await;
    let runs: Vec<(String, bool, String)> = backup_runs::table
        .order(backup_runs::started_at.asc())
        .select((
            backup_runs::trigger,
            backup_runs::catch_up,
            backup_runs::outcome,
        ))
        .load(&mut server.conn())
        .unwrap();
    assert_eq!(
        runs,
        [
            ("manual".to_owned(), false, "complete".to_owned()),
            ("daily".to_owned(), true, "complete".to_owned())
        ]
    );
    assert_eq!(backups.owed(time::OffsetDateTime::now_utc()).unwrap(), None);
    // Drilled, then pruned to one daily: the manual backup of the same day is gone.
    assert_eq!(
        actions(&server),
        [
            "backup.completed",
            "backup.completed",
            "backup.drilled",
            "backup.pruned"
        ]
    );
    let left = server.local_dir().read_dir().unwrap().count();
    assert_eq!(left, 1);
    assert!(!server.local_dir().join(older.id.to_string()).exists());
}

#[test]
fn a_run_left_running_by_a_dead_process_is_marked_interrupted() {
    let server = Server::new(10);
    let id = uuid::Uuid::new_v4();
    diesel::insert_into(backup_runs::table)
        .values((
            backup_runs::id.eq(id),
            backup_runs::target.eq("local"),
            backup_runs::trigger.eq("daily"),
        ))
        .execute(&mut server.conn())
        .unwrap();
    let backups = server.backups();
    {
        // While another process holds the lock, its run is left alone.
        let _held = backups.lock().unwrap();
        assert_eq!(backups.mark_interrupted().unwrap(), 0);
    }
    assert_eq!(backups.mark_interrupted().unwrap(), 1);
    let outcome: String = backup_runs::table
        .find(id)
        .select(backup_runs::outcome)
        .first(&mut server.conn())
        .unwrap();
    assert_eq!(outcome, "interrupted");
}

#[test]
fn the_cli_runs_lists_verifies_restores_and_prunes() {
    let server = Server::new(200);
    let run = logs::output(server.command().args(["backup", "run"]));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // No terminal: plain stage lines instead of a progress bar.
    assert!(stderr.contains("dumping the database\n"), "{stderr}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let id = stdout.split_whitespace().nth(1).expect("the id").to_owned();
    assert!(stdout.contains("complete on local"), "{stdout}");

    let list = logs::output(server.command().args(["backup", "list", "--json"]));
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["target"], "local");

    let verify = logs::output(server.command().args(["backup", "verify", &id[..6]]));
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("restores: "));

    assert_eq!(server.restored_by_cli(&id, &[]), 200);

    let prune = logs::output(server.command().args(["backup", "prune", "--dry-run"]));
    assert!(String::from_utf8_lossy(&prune.stdout).contains("keeping 1, would remove 0"));

    // Bad input: one line, non-zero exit, nothing changed.
    for (args, expect) in [
        (
            vec!["backup", "run", "--target", "nowhere"],
            "no backup target named \"nowhere\"",
        ),
        (
            vec!["backup", "verify", "ffffffff"],
            "no complete backup ffffffff",
        ),
        (
            vec!["backup", "restore", &id, "--into", "Bad-Name"],
            "not a database name",
        ),
        (
            vec!["backup", "restore", &id, "--into", &server.db.name],
            "--force",
        ),
    ] {
        let out = logs::output(server.command().args(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            last.starts_with("outpost: ") && last.contains(expect),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn serve_catches_up_a_missed_run_at_start() {
    let server = Server::new(10);
    let (mut child, _lines) = logs::spawn(
        server
            .command()
            .env("OUTPOST_LISTEN", "127.0.0.1:0")
            .env("OUTPOST_WORKERS", "1")
            .env("OUTPOST_BACKUP__DAILY", "0 0 0 * * *")
            .arg("serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let found = loop {
        let runs: Vec<(String, bool, String)> = backup_runs::table
            .select((
                backup_runs::trigger,
                backup_runs::catch_up,
                backup_runs::outcome,
            ))
            .load(&mut server.conn())
            .unwrap();
        if runs.iter().any(|r| r.2 != "running") || Instant::now() > deadline {
            break runs;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(found, [("daily".to_owned(), true, "complete".to_owned())]);
}

#[test]
fn closing_the_export_window_removes_the_backups_on_every_target() {
    use outpost::cancellation::{self, lifecycle};
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let mut server = Server::new(20);
    server.add_s3_target("offsite", &moto.endpoint(), BUCKET);
    let backups = server.backups();
    for target in ["local", "offsite"] {
        backups
            .run(target, Trigger::Manual, false, Actor::Cli, &mut Quiet)
            .unwrap();
    }
    // Opened now: its keys are stored credentials, which the destruction deletes.
    let offsite = backups.target("offsite").unwrap();
    assert_eq!(offsite.list("").unwrap().len(), 4);

    let now = time::OffsetDateTime::now_utc();
    let client = outpost::identity::ClientInfo::default();
    let c = cancellation::schedule(
        &mut server.conn(),
        now + time::Duration::days(1),
        false,
        now,
        Actor::Cli,
        &client,
    )
    .unwrap();
    let mut conn = server.conn();
    let exported = lifecycle::check(
        &mut conn,
        &server.config,
        &server.vault,
        c.effective_at + time::Duration::minutes(5),
    )
    .unwrap();
    assert!(matches!(exported, lifecycle::Step::Exported(_)));
    let destroyed = lifecycle::check(
        &mut conn,
        &server.config,
        &server.vault,
        c.window_closes_at + time::Duration::minutes(5),
    )
    .unwrap();
    let lifecycle::Step::Destroyed(report) = destroyed else {
        panic!("not destroyed: {destroyed:?}");
    };
    assert_eq!(report.remote_backup_objects["offsite"], 4);
    assert!(report.left_behind.is_empty(), "{:?}", report.left_behind);
    assert!(
        offsite.list("").unwrap().is_empty(),
        "the bucket is emptied"
    );
    assert_eq!(server.local_dir().read_dir().unwrap().count(), 0);
    let details: Value = audit_events::table
        .filter(audit_events::action.eq("organisation.data_destroyed"))
        .select(audit_events::details)
        .first(&mut server.conn())
        .unwrap();
    assert_eq!(details["remote_backup_objects"]["offsite"], 4);
}
