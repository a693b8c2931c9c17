//! The security loop's own remedies and its event triggers, end to end: a drifted
//! hardening control is queued for the root timer, re-applied by
//! `outpost harden --apply-requested` and resolved as fixed by Outpost; Outpost's key
//! files and data directory are tightened when others can read them; and changes (a
//! setting saved, a hardening run) become scans, a burst of them one scan.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::Duration;

use diesel::prelude::*;
use outpost::config::Config;
use outpost::db::Db;
use outpost::db::schema::{findings as findings_table, harden_requests, host_checks, scans};
use outpost::scan::checks::Drift;
use outpost::scan::requests::{Pace, ScanRequests};
use outpost::scan::{self, Check, CheckRun, Context, findings};
use outpost::vault::Vault;
use time::OffsetDateTime;

use crate::support::app::TestApp;
use crate::support::backup::Server;
use crate::support::logs;
use crate::support::scan::check as registered;

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `outpost harden` as the root timer runs it, against `root`, on the app's database.
fn harden(app: &TestApp, root: &std::path::Path, args: &[&str]) -> Output {
    logs::output(
        Command::new(env!("CARGO_BIN_EXE_outpost"))
            .env_clear()
            .env("OUTPOST_DATABASE_URL", &app.db.url)
            .env("OUTPOST_VAULT_KEY_FILE", &app.config.vault_key_file)
            .arg("harden")
            .args(args)
            .args(["--root", root.to_str().unwrap()]),
    )
}

/// Runs `check` once with `config` and records the findings, as a scan does.
fn scan_with(app: &TestApp, config: &Config, check: Box<dyn Check>) -> Vec<CheckRun> {
    let vault = Vault::load(app.keyring.clone()).unwrap();
    scan_with_vault(app, config, &vault, check)
}

fn scan_with_vault(
    app: &TestApp,
    config: &Config,
    vault: &Vault,
    check: Box<dyn Check>,
) -> Vec<CheckRun> {
    let pool = Db::connect(config).unwrap();
    let now = OffsetDateTime::now_utc();
    let cx = Context {
        config,
        db: &pool,
        vault,
        now,
    };
    let runs = scan::run(&cx, &[check]);
    assert!(runs[0].error.is_none(), "{:?}", runs[0].error);
    findings::record(&mut app.db.conn(), &runs, "manual", now, now).unwrap();
    runs
}

fn requests(app: &TestApp) -> Vec<(String, Option<String>)> {
    harden_requests::table
        .order(harden_requests::requested_at.asc())
        .select((harden_requests::control, harden_requests::outcome))
        .load(&mut app.db.conn())
        .unwrap()
}

/// (subject, resolved, auto-fixed) of every finding of `check`.
fn findings_of(app: &TestApp, check: &str) -> Vec<(String, bool, bool)> {
    findings_table::table
        .filter(findings_table::check_id.eq(check))
        .order(findings_table::subject.asc())
        .select((
            findings_table::subject,
            findings_table::resolved_at.is_not_null(),
            findings_table::auto_fixed,
        ))
        .load(&mut app.db.conn())
        .unwrap()
}

fn loosen_sysctl(root: &std::path::Path) {
    let file = root.join("etc/sysctl.d/90-outpost-hardening.conf");
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("kernel.kptr_restrict = 2", "kernel.kptr_restrict = 0");
    std::fs::write(&file, edited).unwrap();
}

#[tokio::test]
async fn a_drifted_control_is_reapplied_by_the_root_timer_and_resolved_as_auto_fixed() {
    let app = TestApp::start().await;
    let root = tempfile::tempdir().unwrap();
    let drift = || -> Box<dyn Check> {
        Box::new(Drift {
            root: root.path().to_owned(),
        })
    };
    let applied = harden(&app, root.path(), &["--apply", "--only", "sysctl"]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));

    // Someone loosens a setting; the nightly check records the drift.
    loosen_sysctl(root.path());
    let checked = harden(&app, root.path(), &["--check", "--only", "sysctl"]);
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked.stdout));

    // With the remedy off, the scan only reports it.
    let mut config = app.config.clone();
    config.scan.reapply_drift = false;
    let runs = scan_with(&app, &config, drift());
    assert_eq!(runs[0].found.len(), 1, "{:?}", runs[0].found);
    assert!(requests(&app).is_empty());

    // With it on, the scan asks root once, however often it runs before root does.
    config.scan.reapply_drift = true;
    for _ in 0..2 {
        let runs = scan_with(&app, &config, drift());
        let evidence = &runs[0].found[0].evidence;
        assert!(evidence.contains("kernel.kptr_restrict"), "{evidence}");
        assert!(evidence.contains("root timer"), "{evidence}");
    }
    assert_eq!(requests(&app), [("sysctl".to_owned(), None)]);
    let subject = "harden:sysctl:etc/sysctl.d/90-outpost-hardening.conf:kernel.kptr_restrict";
    assert_eq!(
        findings_of(&app, "defensive.hardening_drift"),
        [(subject.to_owned(), false, false)]
    );

    // The root timer re-applies it and resolves the finding as fixed by Outpost.
    let queued = harden(&app, root.path(), &["--apply-requested"]);
    assert!(queued.status.success(), "{}", text(&queued.stderr));
    let file = root.path().join("etc/sysctl.d/90-outpost-hardening.conf");
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("kernel.kptr_restrict = 2")
    );
    assert_eq!(
        requests(&app),
        [("sysctl".to_owned(), Some("applied".to_owned()))]
    );
    assert_eq!(
        findings_of(&app, "defensive.hardening_drift"),
        [(subject.to_owned(), true, true)]
    );
    let audit = app.audit();
    for action in ["host.reapply_requested", "host.reapplied", "host.applied"] {
        assert!(
            audit.contains(&(action.into(), "success".into())),
            "{action}: {audit:?}"
        );
    }
    let applied_at: Option<OffsetDateTime> = host_checks::table
        .find("sysctl")
        .select(host_checks::applied_at)
        .first(&mut app.db.conn())
        .unwrap();
    assert!(applied_at.is_some());

    // Nothing waiting: the timer's next run does nothing and says nothing.
    let idle = harden(&app, root.path(), &["--apply-requested"]);
    assert!(idle.status.success(), "{}", text(&idle.stderr));
    assert_eq!(text(&idle.stdout), "");

    // Drifting straight back is for a person: no second request within the cool-down.
    loosen_sysctl(root.path());
    harden(&app, root.path(), &["--check", "--only", "sysctl"]);
    let runs = scan_with(&app, &config, drift());
    assert!(
        runs[0].found[0].evidence.contains("someone should look"),
        "{:?}",
        runs[0].found
    );
    assert_eq!(requests(&app).len(), 1);
    assert_eq!(
        findings_of(&app, "defensive.hardening_drift"),
        [(subject.to_owned(), false, false)],
        "reopened, not fixed"
    );
}

#[tokio::test]
async fn a_request_for_a_control_that_does_not_exist_is_closed_as_such() {
    let app = TestApp::start().await;
    let root = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    outpost::host::requests::ask(&mut app.db.conn(), "nonsense", "scan", "test", now).unwrap();
    let run = harden(&app, root.path(), &["--apply-requested"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(
        requests(&app),
        [("nonsense".to_owned(), Some("unknown_control".to_owned()))]
    );
}

#[test]
fn apply_requested_cannot_be_narrowed_to_a_control() {
    let out = logs::output(Command::new(env!("CARGO_BIN_EXE_outpost")).args([
        "harden",
        "--apply-requested",
        "--only",
        "sysctl",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn keys_and_data_open_to_others_are_tightened_and_audited() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = app.config.clone();
    config.data_dir = dir.path().join("data");
    std::fs::create_dir(&config.data_dir).unwrap();
    let check = || registered("defensive.file_modes");
    // Loaded while the keyring is still owner-only: the vault refuses it otherwise.
    let vault = Vault::load(app.keyring.clone()).unwrap();

    // Owner-only key file, closed data directory: nothing to say.
    set_mode(&config.vault_key_file, 0o600);
    set_mode(&config.data_dir, 0o750);
    assert!(
        scan_with_vault(&app, &config, &vault, check())[0]
            .found
            .is_empty()
    );

    // Readable by everyone: reported, and left alone while the remedy is off.
    set_mode(&config.vault_key_file, 0o644);
    set_mode(&config.data_dir, 0o755);
    config.scan.tighten_file_modes = false;
    let runs = scan_with_vault(&app, &config, &vault, check());
    let found = &runs[0].found;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|f| !f.fixed));
    assert_eq!(found[0].severity, scan::Severity::Critical, "{found:?}");
    assert!(found[0].evidence.contains("chmod 0600"), "{found:?}");
    assert_eq!(mode(&config.vault_key_file), 0o644);

    // With it on: tightened, audited, and counted as fixed by Outpost.
    config.scan.tighten_file_modes = true;
    let runs = scan_with_vault(&app, &config, &vault, check());
    assert!(runs[0].found.iter().all(|f| f.fixed), "{:?}", runs[0].found);
    assert_eq!(mode(&config.vault_key_file), 0o600);
    assert_eq!(mode(&config.data_dir), 0o750);
    let tightened = app
        .audit()
        .into_iter()
        .filter(|(action, _)| action == "file.mode_tightened")
        .count();
    assert_eq!(tightened, 2);
    let states: Vec<(bool, bool)> = findings_of(&app, "defensive.file_modes")
        .into_iter()
        .map(|(_, resolved, fixed)| (resolved, fixed))
        .collect();
    assert_eq!(states, [(true, true), (true, true)]);
    assert!(
        scan_with_vault(&app, &config, &vault, check())[0]
            .found
            .is_empty()
    );
}

#[tokio::test]
async fn saving_a_setting_asks_for_a_scan() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let saved = owner
        .browser
        .submit(
            "/settings/security",
            "/settings/security",
            &[("mfa_developer", "on")],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let asked = app.scans_asked.lock().unwrap().try_recv();
    assert_eq!(asked, Ok("config_changed"));
}

/// Waits for the `n`th recorded scan and returns every scan's trigger.
async fn triggers_once(server: &Server, n: usize) -> Vec<String> {
    for _ in 0..600 {
        let triggers: Vec<String> = scans::table
            .order(scans::id.asc())
            .select(scans::trigger)
            .load(&mut server.conn())
            .unwrap();
        if triggers.len() >= n {
            return triggers;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no scan number {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_is_one_scan_and_a_hardening_run_is_another() {
    let server = Server::new(1);
    let services = server.scheduled();
    let (requests, receiver) = ScanRequests::channel();
    let pace = Pace {
        settle: Duration::from_millis(300),
        hardening_poll: Duration::from_millis(200),
    };
    let serving = {
        let requests = requests.clone();
        tokio::spawn(async move { services.serve_scan_requests(requests, receiver, pace).await })
    };
    // Give the hardening watch its first look before anything is applied.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A setting saved twice and "Scan now" pressed, together: one scan, the member's.
    assert!(requests.request("config_changed"));
    assert!(requests.request("manual"));
    assert!(requests.request("config_changed"));
    assert_eq!(triggers_once(&server, 1).await, ["manual"]);

    // Root applies a control in another process: noticed, and scanned.
    diesel::insert_into(host_checks::table)
        .values((
            host_checks::control.eq("sysctl"),
            host_checks::status.eq("ok"),
            host_checks::drift.eq(serde_json::json!([])),
            host_checks::root.eq("/"),
            host_checks::checked_at.eq(OffsetDateTime::now_utc()),
            host_checks::applied_at.eq(Some(OffsetDateTime::now_utc())),
        ))
        .execute(&mut server.conn())
        .unwrap();
    assert_eq!(
        triggers_once(&server, 2).await,
        ["manual", "hardening_applied"]
    );
    serving.abort();
}
