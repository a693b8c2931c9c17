//! The tamper-evident audit log against real PostgreSQL: the app cannot change it, and
//! whoever changes it behind the app's back (as database superuser) is found out.

use std::path::PathBuf;

use diesel::prelude::*;
use outpost::audit::checkpoint::{self, Signer};
use outpost::audit::context::{self, AuditContext};
use outpost::audit::log::{self, Report};
use outpost::audit::{self as audit_api, Actor, Event, Outcome};
use outpost::identity::ClientInfo;
use serde_json::json;

use crate::support::logs;
use crate::support::pg::{TEST_VAULT_KEY, TestDb, outpost_command, write_test_keys};

struct Logged {
    db: TestDb,
    signer: Signer,
    dir: tempfile::TempDir,
}

impl Logged {
    /// A database with `n` real entries, integrated and covered by one checkpoint.
    fn with_entries(n: usize) -> Self {
        let db = TestDb::new();
        context();
        {
            let mut conn = db.conn();
            for i in 0..n {
                let event = Event::new(Actor::System, "test.event", Outcome::Success)
                    .target(format!("thing:{i}"))
                    .client(&ClientInfo {
                        ip: Some("203.0.113.9".into()),
                        user_agent: None,
                        request_id: Some(format!("req-{i}")),
                    })
                    .details(json!({ "n": i, "note": "é" }));
                audit_api::record(&mut conn, &event).expect("record");
            }
        }
        settle(&db, n);
        let dir = tempfile::tempdir().unwrap();
        // The key lives in a file, so the `outpost` binary can verify the same log.
        write_test_keys(dir.path(), "test.example/audit");
        let signer =
            checkpoint::load_signer(&dir.path().join("audit-signing.key")).expect("signer");
        let logged = Self { db, signer, dir };
        logged.checkpoint();
        logged
    }

    fn checkpoint_file(&self) -> PathBuf {
        self.dir.path().join("checkpoints.log")
    }

    fn checkpoint(&self) {
        let logged: i64 = {
            use outpost::db::schema::audit_events::dsl::*;
            audit_events
                .count()
                .get_result(&mut self.db.conn())
                .unwrap()
        };
        settle(&self.db, logged as usize);
        log::checkpoint(
            &mut self.db.conn(),
            context(),
            &self.signer,
            "test.example/audit",
            &self.checkpoint_file(),
            None,
        )
        .expect("checkpoint");
    }

    /// `outpost audit verify` on this log: its exit code and what it printed.
    fn verify_cli(&self) -> (Option<i32>, String) {
        let out = logs::output(
            outpost_command(self.dir.path(), &self.db.url)
                .env("OUTPOST_AUDIT_CHECKPOINT_FILE", self.checkpoint_file())
                .args(["audit", "verify"]),
        );
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Verifies through the library and, for the same log, through the binary, which
    /// must agree: exit 0 when clean, 1 with a TAMPERED line otherwise.
    fn verify(&self) -> Report {
        let report = self.verify_with_library();
        let (code, printed) = self.verify_cli();
        if report.is_clean() {
            assert_eq!(code, Some(0), "{printed}");
        } else {
            assert_eq!(code, Some(1), "{printed}");
            assert!(printed.contains("TAMPERED"), "{printed}");
        }
        report
    }

    fn verify_with_library(&self) -> Report {
        log::verify(&mut self.db.conn(), context(), &self.signer.verifier()).expect("verify runs")
    }

    /// Runs SQL as the superuser with triggers (and foreign keys) switched off.
    fn tamper(&self, sql: &str) {
        let mut conn = self.db.conn();
        diesel::sql_query("SET session_replication_role = replica")
            .execute(&mut conn)
            .unwrap();
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            diesel::sql_query(statement)
                .execute(&mut conn)
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
    }

    fn event_at(&self, position: i64) -> i64 {
        use outpost::db::schema::audit_leaves::dsl::*;
        audit_leaves
            .filter(leaf_index.eq(position))
            .select(event_id)
            .first(&mut self.db.conn())
            .unwrap()
    }
}

/// Integration waits for every older transaction in the cluster to end, and other
/// tests' transactions run in the same cluster: wait until `expected` entries are in.
fn settle(db: &TestDb, expected: usize) {
    for _ in 0..500 {
        let mut conn = db.conn();
        log::integrate(&mut conn, context(), None).expect("integrate");
        let leaves: i64 = {
            use outpost::db::schema::audit_leaves::dsl::*;
            audit_leaves.count().get_result(&mut conn).unwrap()
        };
        if leaves as usize >= expected {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("entries were not integrated in time");
}

fn context() -> &'static AuditContext {
    context::install(AuditContext::new(&TEST_VAULT_KEY, "tests"))
}

fn first_problem(report: &Report) -> String {
    assert!(!report.is_clean(), "tampering went unnoticed: {report:?}");
    format!("{:?}", report.problems[0])
}

#[test]
fn an_untouched_log_verifies() {
    let logged = Logged::with_entries(20);
    let report = logged.verify();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.entries, 20);
    assert_eq!(report.checkpoints, 1);
    let file = std::fs::read_to_string(logged.checkpoint_file()).unwrap();
    assert!(file.starts_with("test.example/audit\n20\n"), "{file}");
    assert!(file.contains("\n— test.example/audit "));
}

#[test]
fn a_changed_field_is_found() {
    let logged = Logged::with_entries(10);
    let id = logged.event_at(4);
    logged.tamper(&format!(
        "UPDATE audit_events SET target = 'thing:evil' WHERE id = {id}"
    ));
    let report = logged.verify();
    assert_eq!(
        report.problems[0].position,
        Some(4),
        "{}",
        first_problem(&report)
    );
    assert!(report.problems[0].what.contains("changed"));
}

#[test]
fn a_consistently_rehashed_change_still_contradicts_the_signature() {
    let logged = Logged::with_entries(10);
    let id = logged.event_at(2);
    // The attacker also rewrites the stored leaf hash to match the changed entry.
    logged.tamper(&format!(
        "UPDATE audit_events SET outcome = 'failure' WHERE id = {id}"
    ));
    let changed: outpost::audit::entry::StoredEntry = {
        use outpost::db::schema::audit_events::dsl::*;
        audit_events
            .filter(outpost::db::schema::audit_events::id.eq(id))
            .select(outpost::audit::entry::StoredEntry::as_select())
            .first(&mut logged.db.conn())
            .unwrap()
    };
    let rehash: String = outpost::audit::merkle::leaf_hash(&changed.canonical())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    logged.tamper(&format!(
        "UPDATE audit_leaves SET leaf_hash = '\\x{rehash}' WHERE event_id = {id}"
    ));
    let report = logged.verify();
    let all = format!("{:?}", report.problems);
    assert!(
        all.contains("MAC") || all.contains("signed checkpoint"),
        "{all}"
    );
}

#[test]
fn a_deleted_entry_is_found() {
    let logged = Logged::with_entries(10);
    let id = logged.event_at(6);
    logged.tamper(&format!("DELETE FROM audit_events WHERE id = {id}"));
    let report = logged.verify();
    assert_eq!(
        report.problems[0].position,
        Some(6),
        "{}",
        first_problem(&report)
    );
    assert!(report.problems[0].what.contains("deleted"));
}

#[test]
fn two_swapped_entries_are_found() {
    let logged = Logged::with_entries(10);
    let (a, b) = (logged.event_at(3), logged.event_at(7));
    logged.tamper(&format!(
        "UPDATE audit_leaves SET event_id = -1 WHERE event_id = {a}; \
         UPDATE audit_leaves SET event_id = {a} WHERE event_id = {b}; \
         UPDATE audit_leaves SET event_id = {b} WHERE event_id = -1"
    ));
    let report = logged.verify();
    let positions: Vec<_> = report.problems.iter().filter_map(|p| p.position).collect();
    assert!(
        positions.contains(&3) && positions.contains(&7),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_truncated_tail_is_found() {
    let logged = Logged::with_entries(10);
    logged.tamper(
        "DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_leaves WHERE leaf_index >= 7); \
         DELETE FROM audit_leaves WHERE leaf_index >= 7",
    );
    let report = logged.verify();
    let all = format!("{:?}", report.problems);
    assert!(all.contains("truncated"), "{all}");
}

#[test]
fn a_forged_entry_is_found_and_never_taken_into_the_log() {
    let logged = Logged::with_entries(5);
    logged.tamper(
        "INSERT INTO audit_events (id, actor, action, outcome, details, mac) \
         VALUES (nextval('audit_events_id_seq'), 'user:attacker', 'team.role_changed', 'success', '{}', \
                 '\\x0000000000000000000000000000000000000000000000000000000000000000')",
    );
    assert_eq!(
        log::integrate(&mut logged.db.conn(), context(), None).unwrap(),
        0,
        "not integrated"
    );
    let report = logged.verify();
    let all = format!("{:?}", report.problems);
    assert!(all.contains("forged"), "{all}");
}

#[test]
fn a_replaced_checkpoint_is_found() {
    let logged = Logged::with_entries(5);
    let impostor = Signer::generate("test.example/audit").expect("signer");
    let fake = impostor
        .sign_note(&checkpoint::Checkpoint {
            origin: "test.example/audit".into(),
            size: 5,
            root: [9; 32],
        })
        .expect("sign");
    logged.tamper(&format!(
        "UPDATE audit_checkpoints SET note = '{}', root_hash = '\\x{}'",
        fake.replace('\'', "''"),
        "09".repeat(32)
    ));
    let report = logged.verify();
    let all = format!("{:?}", report.problems);
    assert!(all.contains("does not verify"), "{all}");
}

#[test]
fn new_entries_extend_the_log_consistently() {
    let logged = Logged::with_entries(5);
    let mut conn = logged.db.conn();
    audit_api::record(
        &mut conn,
        &Event::new(Actor::System, "test.later", Outcome::Success),
    )
    .unwrap();
    drop(conn);
    logged.checkpoint();
    let report = logged.verify();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.entries, report.checkpoints), (6, 2));
}

#[test]
fn the_app_cannot_update_delete_or_truncate_the_log() {
    let logged = Logged::with_entries(3);
    let mut conn = logged.db.conn();
    for statement in [
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events CASCADE",
        "UPDATE audit_leaves SET leaf_index = leaf_index + 1",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
    ] {
        let error = diesel::sql_query(statement)
            .execute(&mut conn)
            .expect_err(statement)
            .to_string();
        assert!(
            error.contains("append-only") || error.contains("permission denied"),
            "{statement}: {error}"
        );
    }
    // A role that was (wrongly) granted everything is stopped by the triggers all the same.
    let role = format!("app_{}", uuid::Uuid::new_v4().simple());
    for setup in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("SET ROLE {role}"),
    ] {
        diesel::sql_query(setup).execute(&mut conn).unwrap();
    }
    let error = diesel::sql_query("UPDATE audit_events SET action = 'x'")
        .execute(&mut conn)
        .expect_err("update")
        .to_string();
    assert!(error.contains("append-only"), "{error}");
    diesel::sql_query("RESET ROLE").execute(&mut conn).unwrap();
    diesel::sql_query(format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .execute(&mut conn)
        .ok();
}

#[test]
fn outpost_audit_verify_exits_0_when_clean_and_1_when_tampered() {
    let logged = Logged::with_entries(4);
    let keys = tempfile::tempdir().unwrap();
    write_test_keys(keys.path(), "127.0.0.1:8080/audit");
    let run = |args: &[&str]| logs::output(outpost_command(keys.path(), &logged.db.url).args(args));
    // The database's checkpoint was signed by another key: sign one with the CLI's key
    // and verify the whole log with it.
    logged.tamper("DELETE FROM audit_checkpoints");
    let signed = run(&["audit", "checkpoint"]);
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let clean = run(&["audit", "verify"]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&clean.stdout),
        String::from_utf8_lossy(&clean.stderr)
    );

    let id = logged.event_at(1);
    logged.tamper(&format!(
        "UPDATE audit_events SET actor = 'user:someone-else' WHERE id = {id}"
    ));
    let tampered = run(&["audit", "verify"]);
    assert_eq!(tampered.status.code(), Some(1));
    let out = String::from_utf8_lossy(&tampered.stdout);
    assert!(out.contains("TAMPERED position 1"), "{out}");

    let unreachable = logs::output(
        outpost_command(keys.path(), "postgres://nobody@/none?host=/nonexistent")
            .env("OUTPOST_DB_CONNECT_TIMEOUT", "1s")
            .args(["audit", "verify"]),
    );
    assert_eq!(
        unreachable.status.code(),
        Some(2),
        "could not check: exit 2"
    );
}

#[tokio::test]
async fn the_viewer_filters_entries_and_shows_the_signed_state() {
    let app = crate::support::app::TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    owner
        .browser
        .submit(
            "/team",
            "/team/invitations",
            &[("email", "dev@example.com"), ("role", "developer")],
        )
        .await;
    let page = owner.browser.get("/audit").await.text().await.unwrap();
    assert!(
        page.contains("session.sign_in") && page.contains("team.invited"),
        "entries listed"
    );
    assert!(page.contains("No checkpoint yet"));

    let team_only = owner
        .browser
        .get("/audit?action=team.")
        .await
        .text()
        .await
        .unwrap();
    assert!(team_only.contains("team.invited") && !team_only.contains("session.sign_in"));
    let bad = owner
        .browser
        .get("/audit?since=yesterday")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        bad.contains("must be a date"),
        "a bad filter is explained, not a crash"
    );

    // An API key with audit.view reads the same, as JSON.
    let key = app.api_key(owner.id, &[outpost::identity::Capability::AuditView]);
    let client = reqwest::Client::new();
    let body: serde_json::Value = app.api_json("/api/v1/audit?action=session.", &key).await;
    let entries = body["entries"].as_array().unwrap();
    assert!(
        !entries.is_empty()
            && entries
                .iter()
                .all(|e| e["action"].as_str().unwrap().starts_with("session."))
    );
    assert!(
        entries.iter().all(|e| e.get("mac").is_none()),
        "MACs stay on the server"
    );
    let bad = client
        .get(app.url("/api/v1/audit?until=13/13/2026"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");

    // Paging: `before` continues below the last id shown.
    let oldest = entries.last().unwrap()["id"].as_i64().unwrap();
    let older: serde_json::Value = client
        .get(app.url(&format!("/api/v1/audit?before={oldest}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        older["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"].as_i64().unwrap() < oldest)
    );
}

/// The `outpost` binary pointed at `logged`'s database, with its keys in `dir`.
struct Cli<'a> {
    logged: &'a Logged,
    dir: tempfile::TempDir,
}

impl<'a> Cli<'a> {
    fn new(logged: &'a Logged) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_test_keys(dir.path(), "127.0.0.1:8080/audit");
        Self { logged, dir }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        logs::output(outpost_command(self.dir.path(), &self.logged.db.url).args(args))
    }

    fn public_key(&self) -> String {
        let out = self.run(&["keys", "init"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned()
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }
}

#[test]
fn an_export_verifies_offline_and_any_edit_to_it_is_found() {
    let logged = Logged::with_entries(12);
    let cli = Cli::new(&logged);
    assert!(cli.run(&["audit", "checkpoint"]).status.success());
    let pubkey = cli.public_key();
    let full = cli.path("full.jsonl");
    let exported = cli.run(&["audit", "export", "--format", "jsonl", "--out", &full]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let verify =
        |file: &str, key: &str| cli.run(&["audit", "verify", "--export", file, "--pubkey", key]);
    let ok = verify(&full, &pubkey);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("12 entries checked"));

    let text = std::fs::read_to_string(&full).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let edited = cli.path("edited.jsonl");
    let mut changed = lines.clone();
    changed[3] = changed[3].replace("thing:2", "thing:X");
    std::fs::write(&edited, changed.join("\n")).unwrap();
    assert_eq!(
        verify(&edited, &pubkey).status.code(),
        Some(1),
        "a changed entry"
    );
    let mut removed = lines.clone();
    removed.remove(5);
    std::fs::write(&edited, removed.join("\n")).unwrap();
    assert_eq!(
        verify(&edited, &pubkey).status.code(),
        Some(1),
        "a removed entry"
    );
    lines.swap(2, 3);
    std::fs::write(&edited, lines.join("\n")).unwrap();
    assert_eq!(
        verify(&edited, &pubkey).status.code(),
        Some(1),
        "two swapped entries"
    );

    let stranger = Signer::generate("127.0.0.1:8080/audit")
        .unwrap()
        .verifier()
        .verifier_key();
    assert_eq!(
        verify(&full, &stranger).status.code(),
        Some(1),
        "another server's key"
    );
    assert_eq!(
        verify(&full, "not-a-key").status.code(),
        Some(2),
        "a malformed key is a usage error"
    );
}

#[test]
fn a_partial_export_carries_inclusion_proofs() {
    let logged = Logged::with_entries(9);
    let cli = Cli::new(&logged);
    assert!(cli.run(&["audit", "checkpoint"]).status.success());
    let pubkey = cli.public_key();
    let partial = cli.path("partial.jsonl");
    let exported = cli.run(&[
        "audit",
        "export",
        "--since",
        "2000-01-01",
        "--out",
        &partial,
    ]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let text = std::fs::read_to_string(&partial).unwrap();
    assert!(text.contains("inclusion_proof"), "{text}");
    let verify = |file: &str| cli.run(&["audit", "verify", "--export", file, "--pubkey", &pubkey]);
    assert_eq!(verify(&partial).status.code(), Some(0));
    let forged = cli.path("forged.jsonl");
    std::fs::write(&forged, text.replacen("test.event", "test.evil", 1)).unwrap();
    assert_eq!(verify(&forged).status.code(), Some(1));

    let csv = cli.run(&["audit", "export", "--format", "csv"]);
    let out = String::from_utf8_lossy(&csv.stdout);
    assert!(
        out.starts_with("leaf_index,id,occurred_at,actor,action"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 10, "header and nine entries");
    let bad = cli.run(&["audit", "export", "--since", "last tuesday"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn entries_are_streamed_as_json_lines_when_they_enter_the_log() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("siem/audit.jsonl");
    {
        let mut conn = db.conn();
        for i in 0..3 {
            audit_api::record(
                &mut conn,
                &Event::new(Actor::System, "test.streamed", Outcome::Success)
                    .target(format!("n:{i}")),
            )
            .unwrap();
        }
    }
    let mut taken = 0;
    for _ in 0..500 {
        taken += log::integrate(&mut db.conn(), context(), Some(&stream)).unwrap();
        if taken == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&stream).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(i, l)| l["leaf_index"] == i as i64 && l["action"] == "test.streamed")
    );
    assert!(lines.iter().all(|l| l.get("mac").is_none()));
}

#[test]
fn a_compaction_archives_old_entries_and_the_log_still_verifies() {
    // Retention is 3 s: the first six are older than that at compaction, and the three
    // recorded after the pause are younger, with seconds to spare on a busy machine.
    let retention = std::time::Duration::from_secs(3);
    let logged = Logged::with_entries(6);
    std::thread::sleep(retention + std::time::Duration::from_millis(1_000));
    {
        let mut conn = logged.db.conn();
        for _ in 0..3 {
            audit_api::record(
                &mut conn,
                &Event::new(Actor::System, "test.recent", Outcome::Success),
            )
            .unwrap();
        }
    }
    settle(&logged.db, 9);
    let archive = logged.dir.path().join("archive.jsonl");
    let done = outpost::audit::retention::compact(
        &mut logged.db.conn(),
        context(),
        &logged.signer,
        "test.example/audit",
        &logged.checkpoint_file(),
        retention,
        &archive,
    )
    .unwrap()
    .expect("old entries were due");
    assert_eq!((done.up_to_leaf, done.archived), (6, 6));

    let report = logged.verify();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.archived, 6);
    let kept = logged
        .db
        .execute("SELECT 1 FROM audit_events WHERE action = 'test.recent'");
    assert_eq!(kept, 3, "entries within retention stay");
    assert!(
        logged
            .db
            .execute("SELECT 1 FROM audit_events WHERE action = 'audit.compacted'")
            == 1,
        "audited"
    );

    // The archive stands on its own with the public key.
    let mut reader = std::io::BufReader::new(std::fs::File::open(&archive).unwrap());
    let offline = outpost::audit::export::verify(&mut reader, &logged.signer.verifier()).unwrap();
    assert!(offline.is_clean() && offline.entries == 6, "{offline:?}");

    // Above the cut the log is as append-only as ever.
    let newer = logged.event_at(7);
    let refused = diesel::sql_query(format!("DELETE FROM audit_events WHERE id = {newer}"))
        .execute(&mut logged.db.conn());
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    // Nothing more is due right away.
    let again = outpost::audit::retention::compact(
        &mut logged.db.conn(),
        context(),
        &logged.signer,
        "test.example/audit",
        &logged.checkpoint_file(),
        std::time::Duration::from_secs(3600),
        &logged.dir.path().join("again.jsonl"),
    )
    .unwrap();
    assert!(again.is_none());
}

#[test]
fn a_forged_compaction_does_not_excuse_deleted_entries() {
    let logged = Logged::with_entries(6);
    logged.tamper(
        "INSERT INTO audit_compactions (up_to_leaf, archive_sha256, note) \
         VALUES (4, '\\x0000000000000000000000000000000000000000000000000000000000000000', 'outpost-audit-compaction\nforged\n\n— nobody AAAA\n'); \
         DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_leaves WHERE leaf_index < 4)",
    );
    let report = logged.verify();
    let all = format!("{:?}", report.problems);
    assert!(all.contains("not signed by this server"), "{all}");
    assert!(all.contains("entry deleted"), "{all}");
}
