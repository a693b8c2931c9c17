//! The security loop's bookkeeping against real PostgreSQL: a finding opens, resolves
//! and reopens (one episode each time), urgent ones raise one alert per episode, and
//! mean time to resolution and the auto-fix rate come out right on a fixed history.
//! And `outpost scan` itself: its JSON, its exit codes, its findings on a fresh server.

use std::sync::Mutex;
use std::time::Duration;

use diesel::prelude::*;
use outpost::db::schema::{finding_episodes, scans};
use outpost::notify::alerts;
use outpost::scan::{self, Check, CheckError, Context, Found, Severity, findings, metrics};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::support::backup::Server;
use crate::support::logs;

/// A check that reports whatever the test says it sees.
struct Scripted(Mutex<Result<Vec<Found>, String>>);

impl Scripted {
    fn sees(&self, found: Vec<Found>) {
        *self.0.lock().unwrap() = Ok(found);
    }
}

impl Check for Scripted {
    fn id(&self) -> &'static str {
        "test.scripted"
    }
    fn title(&self) -> &'static str {
        "Scripted"
    }
    fn run(&self, _: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        self.0.lock().unwrap().clone().map_err(CheckError)
    }
}

fn key(n: u32) -> Found {
    Found::new(
        format!("api_key:{n}"),
        Severity::High,
        "A wildcard API key",
        format!("key {n}"),
    )
}

/// Runs the scripted check at `at` and records it.
fn scan_at(server: &Server, check: &Scripted, at: OffsetDateTime) -> findings::Changes {
    let checks: Vec<Box<dyn Check>> = vec![Box::new(Scripted(Mutex::new(
        check.0.lock().unwrap().clone(),
    )))];
    let cx = Context {
        config: &server.config,
        db: &server.pool,
        vault: &server.vault,
        now: at,
    };
    let runs = scan::run(&cx, &checks);
    findings::record(&mut server.conn(), &runs, "manual", at, at).unwrap()
}

fn open_alerts(server: &Server) -> Vec<String> {
    alerts::open(&mut server.conn())
        .unwrap()
        .into_iter()
        .map(|a| a.key)
        .collect()
}

#[test]
fn a_finding_opens_resolves_and_reopens_with_one_alert_per_episode() {
    let server = Server::new(1);
    let check = Scripted(Mutex::new(Ok(Vec::new())));
    let t0 = datetime!(2026-12-01 03:00 UTC);
    let fp1 = findings::fingerprint("test.scripted", "api_key:1");

    check.sees(vec![key(1), key(2)]);
    let changes = scan_at(&server, &check, t0);
    assert_eq!(changes.opened.len(), 2);
    assert_eq!(
        open_alerts(&server).len(),
        2,
        "urgent findings raise alerts"
    );

    // Seen again: the same findings, still open, nothing new to tell.
    let changes = scan_at(&server, &check, t0 + time::Duration::hours(24));
    assert!(changes.opened.is_empty() && changes.resolved.is_empty());
    assert_eq!(changes.still_open, 2);
    let occurrences: Vec<i32> = alerts::open(&mut server.conn())
        .unwrap()
        .iter()
        .map(|a| a.occurrences)
        .collect();
    assert_eq!(occurrences, [2, 2], "counted on the same alerts");

    // Key 1 is gone: resolved, its alert too.
    check.sees(vec![key(2)]);
    let changes = scan_at(&server, &check, t0 + time::Duration::hours(48));
    assert_eq!(changes.resolved, std::slice::from_ref(&fp1));
    assert!(!open_alerts(&server).contains(&findings::alert_key(&fp1)));

    // A check that cannot run confirms nothing and resolves nothing.
    *check.0.lock().unwrap() = Err("the log could not be read".into());
    let changes = scan_at(&server, &check, t0 + time::Duration::hours(60));
    assert!(changes.resolved.is_empty());
    assert_eq!(findings::open(&mut server.conn()).unwrap().len(), 1);

    // Back: reopened, a second episode, a new alert.
    check.sees(vec![key(1), key(2)]);
    let changes = scan_at(&server, &check, t0 + time::Duration::hours(72));
    assert_eq!(changes.reopened, std::slice::from_ref(&fp1));
    let f = findings::open(&mut server.conn())
        .unwrap()
        .into_iter()
        .find(|f| f.fingerprint == fp1)
        .unwrap();
    assert_eq!((f.reopened, f.first_seen), (1, t0));
    let episodes: Vec<(OffsetDateTime, Option<OffsetDateTime>)> = finding_episodes::table
        .filter(finding_episodes::fingerprint.eq(&fp1))
        .order(finding_episodes::opened_at)
        .select((finding_episodes::opened_at, finding_episodes::resolved_at))
        .load(&mut server.conn())
        .unwrap();
    assert_eq!(
        episodes,
        [
            (t0, Some(t0 + time::Duration::hours(48))),
            (t0 + time::Duration::hours(72), None)
        ]
    );
    assert!(open_alerts(&server).contains(&findings::alert_key(&fp1)));
    let recorded: i64 = scans::table.count().get_result(&mut server.conn()).unwrap();
    assert_eq!(recorded, 5);
}

#[test]
fn time_to_resolution_and_the_auto_fix_rate_on_a_fixed_history() {
    let server = Server::new(1);
    let check = Scripted(Mutex::new(Ok(Vec::new())));
    let t0 = datetime!(2026-11-01 00:00 UTC);
    let h = time::Duration::hours;
    // Keys 1..=3 open at t0; 1 resolves after 2 h, 2 is fixed by Outpost after 4 h,
    // 3 resolves after 12 h; 1 comes back at 20 h and resolves at 26 h.
    check.sees(vec![key(1), key(2), key(3)]);
    scan_at(&server, &check, t0);
    check.sees(vec![key(2), key(3)]);
    scan_at(&server, &check, t0 + h(2));
    findings::mark_fixed(
        &mut server.conn(),
        &findings::fingerprint("test.scripted", "api_key:2"),
        t0 + h(4),
    )
    .unwrap();
    check.sees(vec![key(3)]);
    scan_at(&server, &check, t0 + h(4));
    check.sees(Vec::new());
    scan_at(&server, &check, t0 + h(12));
    check.sees(vec![key(1)]);
    scan_at(&server, &check, t0 + h(20));
    check.sees(Vec::new());
    scan_at(&server, &check, t0 + h(26));

    let m = metrics::load(&mut server.conn(), t0 - h(1)).unwrap();
    // Episodes: 2 h, 4 h, 12 h, 6 h.
    assert_eq!(m.resolved, 4);
    assert_eq!(
        m.mean_time_to_resolution,
        Some(Duration::from_secs(6 * 3600))
    );
    assert_eq!(m.auto_fixed, 1);
    assert_eq!(m.auto_fix_rate, Some(0.25));
    let highs: Vec<i64> = m.trend.iter().map(|p| p.open["high"]).collect();
    assert_eq!(highs, [3, 2, 1, 0, 1, 0]);
}

#[test]
fn outpost_scan_reports_in_json_and_fails_while_something_urgent_is_open() {
    let server = Server::new(1);
    // The checks that read this server's database, not the machine the tests run on
    // (its apt settings and journal are not the test's to fix).
    let checks = [
        "--only",
        "defensive.backups",
        "--only",
        "defensive.audit_integrity",
        "--only",
        "hygiene.owners",
    ];
    let out = logs::output(server.command().arg("scan").args(checks).arg("--json"));
    assert_eq!(out.status.code(), Some(1), "no backup yet is high");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"defensive.backups"), "{ids:?}");
    assert!(report["checks"][0]["duration_ms"].is_u64());
    let urgent: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "high" || f["severity"] == "critical")
        .map(|f| f["check_id"].as_str().unwrap())
        .collect();
    assert_eq!(urgent, ["defensive.backups"]);
    let last = String::from_utf8_lossy(&out.stderr);
    assert!(
        last.trim_end()
            .ends_with("1 high or critical finding(s) open"),
        "{last}"
    );

    // After a backup, that finding resolves; the audit log verifies throughout.
    let backup = logs::output(server.command().args(["backup", "run"]));
    assert!(backup.status.success());
    let out = logs::output(
        server
            .command()
            .args(["scan", "--only", "defensive.backups"]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = logs::output(
        server
            .command()
            .args(["scan", "--only", "offensive.nothing"]),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no check named \"offensive.nothing\""));
}
