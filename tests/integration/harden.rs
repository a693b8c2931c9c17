//! `outpost harden` end to end: a run against a scratch root is recorded in the
//! database (latest state per control, and an audit entry) and shown on the overview.
//! The controls' own behaviour is tested beside each control.

use std::process::{Command, Output};

use outpost::identity::Capability;

use crate::support::app::TestApp;
use crate::support::logs;

fn harden(app: &TestApp, root: &std::path::Path, args: &[&str]) -> Output {
    logs::output(
        Command::new(env!("CARGO_BIN_EXE_outpost"))
            .env_clear()
            .env("OUTPOST_DATABASE_URL", &app.db.url)
            .env("OUTPOST_VAULT_KEY_FILE", &app.config.vault_key_file)
            .arg("harden")
            .args(args)
            .args(["--root", root.to_str().unwrap(), "--only", "sysctl"]),
    )
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[tokio::test]
async fn a_run_is_recorded_audited_and_shown_on_the_overview() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let root = tempfile::tempdir().unwrap();

    let applied = harden(&app, root.path(), &["--apply"]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    assert!(
        text(&applied.stdout).contains("sysctl"),
        "{}",
        text(&applied.stdout)
    );
    assert!(
        !text(&applied.stderr).contains("not recorded"),
        "{}",
        text(&applied.stderr)
    );
    let page = owner.browser.get("/").await.text().await.unwrap();
    assert!(
        page.contains("Host hardening") && page.contains("sysctl"),
        "{page}"
    );
    assert!(page.contains("Baseline"), "{page}");

    // Someone loosens a setting: the nightly check reports it, naming the key.
    let file = root.path().join("etc/sysctl.d/90-outpost-hardening.conf");
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("kernel.kptr_restrict = 2", "kernel.kptr_restrict = 0");
    std::fs::write(&file, edited).unwrap();
    let checked = harden(&app, root.path(), &["--check"]);
    assert_eq!(checked.status.code(), Some(1), "drift exits 1");
    assert!(text(&checked.stdout).contains("kernel.kptr_restrict is `0`, expected `2`"));
    let page = owner.browser.get("/").await.text().await.unwrap();
    assert!(
        page.contains("Drift") && page.contains("kernel.kptr_restrict"),
        "{page}"
    );

    let key = app.api_key(owner.id, &[Capability::DashboardView]);
    let host: serde_json::Value = app.api_json("/api/v1/host", &key).await;
    assert_eq!(host[0]["control"], "sysctl");
    assert_eq!(host[0]["status"], "drift");
    assert_eq!(host[0]["drift"][0]["key"], "kernel.kptr_restrict");

    let audit = app.audit();
    assert!(
        audit.contains(&("host.applied".into(), "success".into())),
        "{audit:?}"
    );
    assert!(
        audit.contains(&("host.checked".into(), "failure".into())),
        "{audit:?}"
    );
}

#[test]
fn an_unknown_control_is_a_clear_error() {
    let out = logs::output(
        Command::new(env!("CARGO_BIN_EXE_outpost"))
            .env_clear()
            .args([
                "harden",
                "--check",
                "--only",
                "sshdd",
                "--root",
                "/nonexistent",
            ]),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("no control called `sshdd`") && err.contains("sysctl"),
        "{err}"
    );
}
