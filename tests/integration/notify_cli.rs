//! `outpost email test` and `outpost notify breach` as an operator runs them: the real
//! binary over the app's database and vault, mail to the SMTP sink, every run audited,
//! bad input a one-line error and a non-zero exit.

use std::process::{Command, Output};
use std::time::Duration;

use outpost::identity::Role;

use crate::support::app::TestApp;
use crate::support::logs;
use crate::support::smtp::SmtpSink;

/// The binary against `app`'s database and vault, sending through `smtp_port`.
fn outpost(app: &TestApp, smtp_port: Option<u16>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outpost"));
    command
        .env_clear()
        .env("OUTPOST_DATABASE_URL", &app.db.url)
        .env("OUTPOST_VAULT_KEY_FILE", &app.config.vault_key_file)
        .env("OUTPOST_SERVER_NAME", "client-7")
        .args(args);
    if let Some(port) = smtp_port {
        command
            .env("OUTPOST_SMTP__HOST", "127.0.0.1")
            .env("OUTPOST_SMTP__PORT", port.to_string())
            .env("OUTPOST_SMTP__SECURITY", "none")
            .env("OUTPOST_SMTP__FROM", "Outpost <outpost@example.com>");
    }
    logs::output(&mut command)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    crate::support::daemon::free_port()
}

#[tokio::test]
async fn email_test_sends_through_the_relay_and_reports_its_failure() {
    let app = TestApp::start().await;
    let sink = SmtpSink::start();

    let out = outpost(
        &app,
        Some(sink.port()),
        &["email", "test", "--to", "ops@example.com"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mail = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(mail[0].to, ["ops@example.com"]);
    assert!(mail[0].body().contains("client-7"), "{}", mail[0].body());

    let refused = outpost(
        &app,
        Some(closed_port()),
        &["email", "test", "--to", "ops@example.com"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert_eq!(
        stderr(&refused).trim().lines().count(),
        1,
        "{}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("ops@example.com"),
        "{}",
        stderr(&refused)
    );

    let unconfigured = outpost(&app, None, &["email", "test", "--to", "ops@example.com"]);
    assert_eq!(unconfigured.status.code(), Some(2));
    assert!(
        stderr(&unconfigured).contains("[smtp] host"),
        "{}",
        stderr(&unconfigured)
    );

    let sent: Vec<_> = app
        .audit()
        .into_iter()
        .filter(|(action, _)| action == "email.test_sent")
        .map(|(_, outcome)| outcome)
        .collect();
    assert_eq!(sent, ["success", "failure"]);
}

#[tokio::test]
async fn a_breach_notice_reaches_every_active_member_with_the_72_hour_deadline() {
    let app = TestApp::start().await;
    app.owner("owner@example.com").await;
    app.member("dev@example.com", Role::Developer).await;
    let sink = SmtpSink::start();
    let breach = |owner: &str, detected: &str, summary: &str| {
        outpost(
            &app,
            Some(sink.port()),
            &[
                "notify",
                "breach",
                "--owner",
                owner,
                "--summary",
                summary,
                "--detected-at",
                detected,
                "--data",
                "email addresses of members",
                "--actions",
                "keys rotated, sessions revoked",
            ],
        )
    };

    let out = breach(
        "owner@example.com",
        "2026-12-06T21:30:00Z",
        "a backup copy was readable by others",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sent to 2 members"), "{stdout}");
    assert!(stdout.contains("2026-12-09T21:30:00Z"), "{stdout}");
    let mail = sink.wait_for(2, Duration::from_secs(10));
    let mut to: Vec<_> = mail.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["dev@example.com", "owner@example.com"]);
    for message in &mail {
        let body = message.body();
        assert!(
            body.contains("a backup copy was readable by others"),
            "{body}"
        );
        assert!(
            body.contains("owner@example.com"),
            "names the contact: {body}"
        );
    }

    // Only an Owner may send it, the time must be a time, and nothing may be blank.
    let developer = breach("dev@example.com", "2026-12-06T21:30:00Z", "x");
    assert_eq!(developer.status.code(), Some(1));
    assert!(
        stderr(&developer).contains("is not an Owner"),
        "{}",
        stderr(&developer)
    );
    let bad_time = breach("owner@example.com", "yesterday", "x");
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(
        stderr(&bad_time).contains("RFC 3339"),
        "{}",
        stderr(&bad_time)
    );
    let blank = breach("owner@example.com", "2026-12-06T21:30:00Z", "  ");
    assert_eq!(blank.status.code(), Some(2));
    assert!(stderr(&blank).contains("--summary"), "{}", stderr(&blank));
    assert_eq!(sink.messages().len(), 2, "refused runs send nothing");

    let notified: Vec<_> = app
        .audit()
        .into_iter()
        .filter(|(action, _)| action == "breach.notified")
        .collect();
    assert_eq!(
        notified,
        [("breach.notified".to_owned(), "success".to_owned())]
    );
}
