//! The Settings page and `/api/v1/settings` against real PostgreSQL, real SMTP sinks
//! and a real scheduler: each section saves, is audited, survives a restart of the app
//! state, and applies to the running server; bad input is a 422 naming the field and
//! changes nothing; only Owners and Admins get in; the SMTP password never shows.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use outpost::backup::jobs::BackupJobs;
use outpost::backup::runs::Trigger;
use outpost::backup::schedule;
use outpost::db::Db;
use outpost::db::schema::{audit_events, settings};
use outpost::identity::{Capability, Role};
use outpost::notify::Mailer;
use outpost::scheduler::Services;
use outpost::scheduler::registry::JobRegistry;
use outpost::vault::Vault;
use outpost::web::AppState;
use serde_json::{Value, json};
use tokio_cron_scheduler::JobScheduler;

use crate::support::app::TestApp;
use crate::support::canary;
use crate::support::smtp::SmtpSink;

/// Audit entries of settings changes: (action, target, details).
pub(crate) fn settings_audit(app: &TestApp) -> Vec<(String, Option<String>, Value)> {
    audit_events::table
        .filter(audit_events::action.like("settings.%"))
        .order(audit_events::id.asc())
        .select((
            audit_events::action,
            audit_events::target,
            audit_events::details,
        ))
        .load(&mut app.db.conn())
        .unwrap()
}

pub(crate) fn stored_keys(app: &TestApp) -> Vec<String> {
    settings::table
        .order(settings::key.asc())
        .select(settings::key)
        .load(&mut app.db.conn())
        .unwrap()
}

/// A fresh app state over the same database and keyring: what a restart builds.
pub(crate) fn restarted(app: &TestApp) -> AppState {
    let pool = Db::connect(&app.config).expect("pool");
    let vault = Vault::load(app.keyring.clone()).expect("vault");
    AppState::new(app.config.clone(), pool, vault).expect("state")
}

pub(crate) async fn patch(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .patch(app.url("/api/v1/settings"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub(crate) fn entry<'a>(listing: &'a Value, key: &str) -> &'a Value {
    listing["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == key)
        .unwrap_or_else(|| panic!("{key} not listed: {listing}"))
}

#[tokio::test]
async fn only_owners_and_admins_reach_settings() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    for role in [Role::Viewer, Role::Developer] {
        let member = app
            .member(&format!("{role}@example.com").to_lowercase(), role)
            .await;
        assert_eq!(member.browser.get("/settings").await.status(), 403);
        let posted = member
            .browser
            .submit("/account", "/settings/smtp", &[("smtp.port", "2525")])
            .await;
        assert_eq!(posted.status(), 403, "{role} changed a setting");
        let html = member.browser.get("/account").await.text().await.unwrap();
        assert!(
            !html.contains("href=\"/settings\""),
            "{role} sees the nav entry"
        );
    }
    assert_eq!(admin.browser.get("/settings").await.status(), 200);
    let html = owner.browser.get("/settings").await.text().await.unwrap();
    assert!(html.contains("href=\"/settings\""));

    // API keys: only with settings:manage.
    let without = app.api_key(owner.id, &[Capability::DashboardView]);
    let denied = reqwest::Client::new()
        .get(app.url("/api/v1/settings"))
        .bearer_auth(&without)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert_eq!(
        patch(&app, &without, json!({"smtp.port": 2525}))
            .await
            .status(),
        403
    );
    assert!(stored_keys(&app).is_empty());
}

#[tokio::test]
async fn smtp_change_applies_at_once_and_the_password_never_shows() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let password = canary::secret("smtp-canary");
    let relay = SmtpSink::with_auth("relay-user", &password);

    let saved = owner
        .browser
        .submit(
            "/settings",
            "/settings/smtp",
            &[
                ("smtp.host", "127.0.0.1"),
                ("smtp.port", &relay.port().to_string()),
                ("smtp.security", "none"),
                ("smtp.username", "relay-user"),
                ("smtp.password", &password),
                ("smtp.from", "Outpost <outpost@example.com>"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(saved.headers()["location"], "/settings?notice=saved#smtp");

    // Live: the test email goes to the new relay, authenticated, without a restart.
    let before = app.mail.messages().len();
    let tested = owner
        .browser
        .submit("/settings", "/settings/test-email", &[])
        .await;
    assert_eq!(tested.status(), 200);
    let html = tested.text().await.unwrap();
    assert!(html.contains("Test email sent"), "{html}");
    let got = relay.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].to, vec!["owner@example.com".to_string()]);
    assert!(relay.commands().contains(&"AUTH".to_string()));
    assert_eq!(app.mail.messages().len(), before, "the old relay got mail");

    // The page says where each value comes from, and never shows the password.
    let page = owner.browser.get("/settings").await.text().await.unwrap();
    assert!(page.contains("Set on the dashboard"));
    assert!(!page.contains(&password));

    // Audited key by key; the password by name only.
    let audit = settings_audit(&app);
    let targets: Vec<_> = audit.iter().filter_map(|(_, t, _)| t.clone()).collect();
    for key in ["smtp.port", "smtp.username", "smtp.password", "smtp.from"] {
        assert!(
            targets.contains(&key.to_string()),
            "{key} not audited: {targets:?}"
        );
    }
    let port = audit
        .iter()
        .find(|(_, t, _)| t.as_deref() == Some("smtp.port"))
        .unwrap();
    assert_eq!(port.2["to"], json!(relay.port()));
    let secret = audit
        .iter()
        .find(|(_, t, _)| t.as_deref() == Some("smtp.password"))
        .unwrap();
    assert_eq!(secret.2["message"], "smtp.password changed");
    let all_audit: Vec<Value> = audit_events::table
        .select(audit_events::details)
        .load(&mut app.db.conn())
        .unwrap();
    assert!(
        !serde_json::to_string(&all_audit)
            .unwrap()
            .contains(&password)
    );
    // Stored sealed, not in clear.
    let stored: Vec<(Option<Value>, Option<String>)> = settings::table
        .filter(settings::key.eq("smtp.password"))
        .select((settings::value, settings::value_sealed))
        .load(&mut app.db.conn())
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].0.is_none());
    assert!(!stored[0].1.as_deref().unwrap().contains(&password));

    // The API shows only that a password is set.
    let key = app.api_key(owner.id, &[Capability::SettingsManage]);
    let listing = app.api_json("/api/v1/settings", &key).await;
    assert_eq!(entry(&listing, "smtp.password")["set"], true);
    assert_eq!(entry(&listing, "smtp.password")["source"], "dashboard");
    assert_eq!(entry(&listing, "smtp.host")["source"], "file");
    assert!(!listing.to_string().contains(&password));

    // A restart keeps it all, and sends through the new relay with the password.
    let state = restarted(&app);
    assert_eq!(state.config().smtp.port, relay.port());
    assert_eq!(state.config().smtp.password.expose(), password);
    let email = outpost::notify::messages::test_email("a@example.com", "x", "a@example.com");
    state.mailer.send(&email).await.expect("sent after restart");
    relay.wait_for(2, Duration::from_secs(10));
}

#[tokio::test]
async fn invalid_input_is_refused_field_by_field_and_changes_nothing() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let refused = owner
        .browser
        .submit(
            "/settings",
            "/settings/smtp",
            &[
                ("smtp.port", "70000"),
                ("smtp.from", "not an address"),
                ("smtp.username", "fine"),
            ],
        )
        .await;
    // The form comes back with its errors (every 4xx body is a problem document).
    assert_eq!(refused.status(), 200);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("must be a port number from 1 to 65535"),
        "{html}"
    );
    assert!(html.contains("is not an address like"), "{html}");
    assert!(html.contains("Nothing was saved"));
    // What was typed is shown back for correction.
    assert!(html.contains("value=\"70000\""));
    let refused = owner
        .browser
        .submit(
            "/settings",
            "/settings/backups",
            &[("backup.daily", "every night")],
        )
        .await;
    assert_eq!(refused.status(), 200);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("is not a cron expression")
    );

    let key = app.api_key(owner.id, &[Capability::SettingsManage]);
    for (body, field) in [
        (json!({"smtp.port": 0}), "smtp.port"),
        (json!({"public_url": "http://plain.example"}), "public_url"),
        (json!({"backup.target": "nowhere"}), "backup.target"),
        (
            json!({"notify.slack_webhook": "http://hooks.example/T/B/x"}),
            "notify.slack_webhook",
        ),
        (
            json!({"notify.alert_emails": ["ops@example.com", "nope"]}),
            "notify.alert_emails",
        ),
        (json!({"listen": "0.0.0.0:80"}), "listen"),
    ] {
        let response = patch(&app, &key, body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert!(problem["instance"].is_string());
    }
    // Good and bad together: all or nothing.
    let response = patch(&app, &key, json!({"smtp.username": "ok", "smtp.port": "x"})).await;
    assert_eq!(response.status(), 422);

    assert!(stored_keys(&app).is_empty());
    assert!(settings_audit(&app).is_empty());
    assert_eq!(app.settings.config().smtp.port, app.config.smtp.port);
}

#[tokio::test]
async fn a_new_backup_schedule_is_registered_with_the_running_scheduler() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let scheduler = JobScheduler::new().await.unwrap();
    let vault = Arc::new(Vault::load(app.keyring.clone()).unwrap());
    let services = Services {
        config: app.settings.live(),
        db: Db::connect(&app.config).unwrap(),
        vault,
        mailer: Arc::new(Mailer::from_config(&app.config.smtp).unwrap()),
    };
    let registry = Arc::new(JobRegistry::new(
        outpost::scheduler::planned(&app.config),
        Arc::default(),
    ));
    let jobs = Arc::new(
        BackupJobs::register(scheduler.clone(), services, Arc::clone(&registry))
            .await
            .unwrap(),
    );
    scheduler.start().await.unwrap();
    app.settings.attach_backup_jobs(jobs.clone());
    assert_eq!(jobs.next_runs().await.len(), 3);

    let daily = "0 15 1 * * *";
    let saved = owner
        .browser
        .submit(
            "/settings",
            "/settings/backups",
            &[
                ("backup.daily", daily),
                ("backup.weekly", ""),
                ("backup.monthly", &app.config.backup.monthly),
                ("backup.target", "local"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);

    // The weekly tier is off; the daily one fires at the new time.
    let next = jobs.next_runs().await;
    let tiers: Vec<_> = next.iter().map(|(t, _)| *t).collect();
    assert_eq!(tiers, vec![Trigger::Daily, Trigger::Monthly]);
    let expected = schedule::next(
        &schedule::parse(daily).unwrap(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(next[0].1, Some(expected));
    // The Diagnostics page's list of jobs follows the new plan.
    let listed: Vec<_> = registry
        .snapshot(time::OffsetDateTime::now_utc())
        .into_iter()
        .filter(|job| job.name.starts_with("backup"))
        .map(|job| (job.name, job.cron, job.next_run))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "backup (daily)".to_owned(),
                daily.to_owned(),
                Some(expected)
            ),
            (
                "backup (monthly)".to_owned(),
                app.config.backup.monthly.clone(),
                next[1].1
            ),
        ]
    );
    let page = owner.browser.get("/settings").await.text().await.unwrap();
    assert!(
        page.contains("registered again"),
        "the page says it applies now"
    );
    assert!(page.contains(&outpost::web::pages::when(expected)));

    // Survives a restart; the audit has from and to.
    assert_eq!(restarted(&app).config().backup.daily, daily);
    assert_eq!(restarted(&app).config().backup.weekly, "");
    let audit = settings_audit(&app);
    let changed = audit
        .iter()
        .find(|(_, t, _)| t.as_deref() == Some("backup.daily"))
        .unwrap();
    assert_eq!(changed.2["from"], app.config.backup.daily);
    assert_eq!(changed.2["to"], daily);
    // A saved setting asks for a security scan.
    assert_eq!(
        app.scans_asked.lock().unwrap().try_recv(),
        Ok("config_changed")
    );

    // The target test writes, reads back and removes an object on the target.
    let tested = owner
        .browser
        .submit("/settings", "/settings/test-target", &[("target", "local")])
        .await;
    assert_eq!(tested.status(), 200);
    assert!(tested.text().await.unwrap().contains("gave it back intact"));
}

#[tokio::test]
async fn domain_and_routing_change_and_revert_to_the_file() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let key = app.api_key(owner.id, &[Capability::SettingsManage]);

    let response = patch(
        &app,
        &key,
        json!({
            "public_url": "Outpost.Example.com",
            "notify.alert_emails": "oncall@example.com, tickets@example.com",
        }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let listing: Value = response.json().await.unwrap();
    assert_eq!(
        entry(&listing, "public_url")["value"],
        "https://outpost.example.com"
    );
    assert_eq!(entry(&listing, "public_url")["source"], "dashboard");
    assert_eq!(
        entry(&listing, "notify.alert_emails")["value"],
        json!(["oncall@example.com", "tickets@example.com"])
    );
    // Applied: links handed out now use the new domain.
    assert_eq!(
        app.settings.config().base_url(),
        "https://outpost.example.com"
    );
    assert_eq!(
        restarted(&app).config().notify.alert_emails,
        vec!["oncall@example.com", "tickets@example.com"]
    );

    // An alert now also goes to the routed addresses.
    let alert = outpost::notify::alerts::raise(
        &mut app.db.conn(),
        "test.alert",
        outpost::notify::alerts::Severity::Warning,
        "Something to look at",
        "detail",
    )
    .unwrap();
    assert!(alert.notified_at.is_none());
    let config = app.settings.config();
    let pool = Db::connect(&app.config).unwrap();
    outpost::notify::alerts::deliver_routed(
        &pool,
        app.settings.mailer(),
        &config.server_name,
        &config.notify,
    )
    .await;
    let got = app.mail.wait_for(3, Duration::from_secs(10));
    let to: Vec<_> = got.iter().flat_map(|m| m.to.clone()).collect();
    assert!(to.contains(&"oncall@example.com".to_string()), "{to:?}");
    assert!(to.contains(&"tickets@example.com".to_string()), "{to:?}");

    // Revert from the page: back to the file's value, audited, applied.
    let reverted = owner
        .browser
        .submit("/settings", "/settings/revert", &[("key", "public_url")])
        .await;
    assert_eq!(reverted.status(), 303);
    assert_eq!(app.settings.config().public_url, app.config.public_url);
    assert_eq!(stored_keys(&app), vec!["notify.alert_emails"]);
    let audit = settings_audit(&app);
    assert_eq!(audit.last().unwrap().0, "settings.reverted");
    assert_eq!(audit.last().unwrap().2["to"], app.config.public_url);

    // The domain from the page form, as a bare host name.
    let saved = owner
        .browser
        .submit(
            "/settings",
            "/settings/domain",
            &[("public_url", "dash.example.net")],
        )
        .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(app.settings.config().public_url, "https://dash.example.net");
    let page = owner.browser.get("/settings").await.text().await.unwrap();
    assert!(page.contains("TLS certificate must name this host"));
}
