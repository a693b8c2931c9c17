//! The overview (`/`) and the Diagnostics page with its support bundle, against the
//! real app and a real PostgreSQL: the posture score from seeded findings and drift,
//! the gauges, the certificate, the trend chart, recent audit entries; who sees what;
//! and a bundle that is a real archive carrying no secret.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration as StdDuration;

use outpost::identity::{Capability, ClientInfo, Role, user};
use outpost::notify::webhooks::endpoints::{self, NewEndpoint};
use outpost::scan::{CheckRun, Found, Severity, findings};
use outpost::vault::Vault;
use time::{Duration, OffsetDateTime};

use crate::support::app::TestApp;
use crate::support::canary;
use crate::support::stored;
use crate::support::tls::{Ca, TlsFiles};

/// One scan's worth of findings of a made-up check, recorded as the loop records them.
fn record_scan(app: &TestApp, at: OffsetDateTime, found: Vec<Found>) {
    let run = CheckRun {
        id: "test.seeded",
        title: "Seeded by the test",
        status: if found.is_empty() { "ok" } else { "findings" },
        duration: StdDuration::from_millis(40),
        error: None,
        found,
    };
    findings::record(&mut app.db.conn(), &[run], "manual", at, at).unwrap();
}

/// One drifted control on this host, as `outpost harden --check` records it.
fn record_drift(app: &TestApp) {
    app.db.execute(
        "INSERT INTO host_checks (control, status, drift, root, checked_at) \
         VALUES ('sshd', 'drift', '[]', '/', now()), ('ufw', 'ok', '[]', '/', now())",
    );
}

fn no_inline_script_or_style(html: &str) {
    assert!(
        !html.contains("style=") && !html.contains("<script") && !html.contains("<style"),
        "inline script or style: {html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_overview_scores_the_posture_and_shows_health_trend_and_audit() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let now = OffsetDateTime::now_utc();
    let finding = |subject: &str, severity| {
        Found::new(subject, severity, format!("{subject} is wrong"), "seeded")
    };
    record_scan(
        &app,
        now - Duration::days(2),
        vec![finding("a", Severity::High)],
    );
    record_scan(
        &app,
        now - Duration::hours(1),
        vec![
            finding("a", Severity::High),
            finding("b", Severity::Critical),
            finding("c", Severity::Medium),
            finding("d", Severity::Info),
        ],
    );
    record_drift(&app);

    let page = owner.browser.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    no_inline_script_or_style(&html);
    // 100 − 25 (critical) − 10 (high) − 4 (medium) − 0 (info) − 5 (one drifted control)
    assert!(html.contains(r#"<span class="bad">56</span>"#), "{html}");
    assert!(html.contains("(1 now)"), "one drifted control: {html}");
    assert!(
        html.contains(r#"<td><span class="bad">critical</span></td><td>1</td><td>25</td>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<td>low</td><td>0</td><td>1</td>"#),
        "{html}"
    );
    // The trend: one bar per scan, red while a high is open, described for readers.
    let trend = &html[html.find("trend-heading").unwrap()..html.find("health-heading").unwrap()];
    assert_eq!(
        trend.matches(r#"<rect class="bar-bad""#).count(),
        2,
        "{trend}"
    );
    assert!(trend.contains(r#"role="img""#) && trend.contains("<title>Open findings"));
    assert!(trend.contains("<desc>2 bars"), "{trend}");
    // Gauges for CPU, memory and at least the root filesystem where one is mounted.
    for id in ["gauge-cpu", "gauge-memory"] {
        assert!(
            html.contains(&format!(r#"aria-labelledby="{id}-title {id}-desc""#)),
            "{html}"
        );
    }
    assert!(html.contains(r#"<rect class="gauge-"#), "{html}");
    assert!(html.contains("No TLS"), "{html}");
    // Hardening per control, and the recent audit entries with people by email.
    assert!(html.contains("sshd") && html.contains(">Drift<"), "{html}");
    let audit = &html[html.find("audit-heading").unwrap()..];
    let latest = app.audit().last().unwrap().0.clone();
    assert!(audit.contains(&format!("<code>{latest}</code>")), "{audit}");
    assert!(audit.contains("<td>owner@example.com</td>"), "{audit}");
    // Every page in one navigation, Settings and Diagnostics included for an Owner.
    for href in [
        "/security",
        "/backups",
        "/audit",
        "/team",
        "/keys",
        "/credentials",
        "/webhooks",
        "/settings",
        "/export",
        "/diagnostics",
    ] {
        assert!(
            html.contains(&format!(r#"href="{href}""#)),
            "{href} in the nav"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_overview_counts_the_days_left_on_the_served_certificate() {
    let ca = Ca::new();
    let tls = TlsFiles::new(&ca, &ca.leaf(Duration::days(10) + Duration::hours(1)));
    let cert = tls.cert.clone();
    let app = TestApp::start_with(move |config| config.tls.cert_file = Some(cert), None).await;
    let owner = app.owner("owner@example.com").await;
    let html = owner.browser.get("/").await.text().await.unwrap();
    // Amber: inside the security loop's 21 days, as its finding would be.
    assert!(
        html.contains(r#"<span class="warn">Expires in 10 days ("#),
        "{html}"
    );
    // The same count as the fleet report's, by the same function.
    let days =
        outpost::tls::certificate::file_days_left(&tls.cert, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(days, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_sees_the_overview_but_not_diagnostics() {
    let app = TestApp::start().await;
    let viewer = app.member("viewer@example.com", Role::Viewer).await;
    let html = viewer.browser.get("/").await.text().await.unwrap();
    assert!(html.contains("Posture"), "{html}");
    assert!(!html.contains(r#"href="/diagnostics""#), "{html}");
    assert!(!html.contains(r#"href="/settings""#), "{html}");
    for path in ["/diagnostics", "/diagnostics/support-bundle.tar.gz"] {
        assert_eq!(viewer.browser.get(path).await.status(), 403, "{path}");
    }
    assert!(
        !app.audit()
            .iter()
            .any(|(action, _)| action == "diagnostics.bundle_downloaded")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn diagnostics_show_versions_database_jobs_and_clock() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let page = owner.browser.get("/diagnostics").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    no_inline_script_or_style(&html);
    let server_version: String = {
        use diesel::prelude::*;
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "current_setting('server_version')",
        ))
        .get_result(&mut app.db.conn())
        .unwrap()
    };
    assert!(
        html.contains(&format!("<dd>{server_version}</dd>")),
        "{html}"
    );
    assert!(html.contains(env!("CARGO_PKG_VERSION")));
    assert!(html.contains("rustc "), "the compiler is named: {html}");
    assert!(
        html.contains(r#"<span class="ok">reachable</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="ok">none pending</span>"#),
        "{html}"
    );
    assert!(
        html.contains("<code>2026-12-06-000018_fleet_satellite</code></td><td><span class=\"ok\">applied</span>"),
        "{html}"
    );
    // The scheduler's jobs with their next runs, and the clock against PostgreSQL's.
    assert!(html.contains("<td>audit checkpoint</td>"), "{html}");
    assert!(html.contains("<code>0 */5 * * * *</code>"), "{html}");
    assert!(html.contains("not since this process started"), "{html}");
    assert!(html.contains("PostgreSQL runs "), "{html}");
    assert!(html.contains("Time sync"), "{html}");
}

/// Every secret the bundle must not carry, planted where the server keeps them.
struct Planted {
    values: Vec<(String, String)>,
}

#[tokio::test(flavor = "multi_thread")]
async fn the_support_bundle_is_an_archive_without_secrets_and_its_download_is_audited() {
    let db_password = canary::secret("db-password");
    let smtp_password = canary::secret("smtp-password");
    let (db_pw, smtp_pw) = (db_password.clone(), smtp_password.clone());
    let app = TestApp::start_with(
        move |config| {
            // Trust authentication ignores it, so the app still connects.
            let url = config.database_url.expose().to_owned();
            let sep = if url.contains('?') { '&' } else { '?' };
            config.database_url =
                outpost::config::DatabaseUrl::new(format!("{url}{sep}password={db_pw}"));
            config.smtp.username = "relay-user".into();
            config.smtp.password = outpost::secret::SecretString::new(smtp_pw);
        },
        None,
    )
    .await;
    let owner = app.owner("owner@example.com").await;
    let mut planted = Planted {
        values: vec![
            ("database password".into(), db_password),
            ("smtp password".into(), smtp_password),
        ],
    };
    planted.values.push((
        "API key".into(),
        app.api_key(owner.id, &[Capability::DashboardView]),
    ));
    {
        let mut conn = app.db.conn();
        let vault = Vault::load(app.keyring.clone()).unwrap();
        let person = user::find(&mut conn, owner.id).unwrap().unwrap();
        let stored_value = canary::secret("stored-value");
        stored::credential(&mut conn, &vault, &person, "Payment API", &stored_value);
        planted
            .values
            .push(("stored credential".into(), stored_value));
        let (_, secret) = endpoints::create(
            &mut conn,
            &vault,
            &person,
            NewEndpoint {
                url: "https://hooks.example.com/outpost".into(),
                description: "ops".into(),
                events: vec!["finding.opened".into()],
            },
            &ClientInfo::default(),
        )
        .unwrap();
        canary::record(&secret.expose());
        planted
            .values
            .push(("webhook secret".into(), secret.expose().to_string()));
    }
    // The vault's key material: every long token of the keyring file.
    let keyring = std::fs::read_to_string(&app.config.vault_key_file).unwrap();
    for token in keyring.split_whitespace().filter(|t| t.len() >= 32) {
        planted.values.push(("vault key".into(), token.to_owned()));
    }
    assert!(
        planted.values.iter().any(|(what, _)| what == "vault key"),
        "the keyring has key material: {}",
        keyring.lines().count()
    );

    let response = owner
        .browser
        .get("/diagnostics/support-bundle.tar.gz")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/gzip");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"outpost-support-test-outpost-"),
        "{disposition}"
    );
    let gz = response.bytes().await.unwrap().to_vec();
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut tar_bytes)
        .expect("a valid gzip stream");
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut files = BTreeSet::new();
    let mut config_toml = String::new();
    let mut diagnostics_json = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.expect("a valid tar entry");
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let name = path.rsplit('/').next().unwrap().to_owned();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        match name.as_str() {
            "config.toml" => config_toml = text,
            "diagnostics.json" => diagnostics_json = text,
            _ => {}
        }
        files.insert(name);
    }
    let expected: BTreeSet<String> = [
        "README.txt",
        "config.toml",
        "versions.json",
        "diagnostics.json",
        "migrations.json",
        "hardening.json",
        "audit-summary.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(files, expected);
    assert!(
        config_toml.contains("password = \"********\""),
        "{config_toml}"
    );
    assert!(config_toml.contains("password=********"), "{config_toml}");
    let diagnostics: serde_json::Value = serde_json::from_str(&diagnostics_json).unwrap();
    assert_eq!(diagnostics["database"]["reachable"], true);
    assert!(diagnostics["jobs"].as_array().unwrap().len() >= 6);

    for (what, value) in &planted.values {
        for (layer, bytes) in [("gzip", &gz), ("tar", &tar_bytes)] {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "the {what} is in the bundle's {layer} bytes"
            );
        }
    }
    let audit = app.audit();
    assert!(
        audit.contains(&("diagnostics.bundle_downloaded".into(), "success".into())),
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_an_owner_can_open_is_free_of_inline_script_and_style() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let pages: Vec<&str> = outpost::web::routes::table(None)
        .into_iter()
        .filter(|e| e.method == actix_web::http::Method::GET)
        .map(|e| e.path)
        // Pages only: no API, no downloads, no stylesheet, nothing needing an id.
        .filter(|p| !p.starts_with("/api/") && !p.contains('{') && !p.contains('.'))
        .collect();
    assert!(
        pages.contains(&"/") && pages.contains(&"/diagnostics"),
        "{pages:?}"
    );
    let mut checked = 0;
    for path in pages {
        let response = owner.browser.get(path).await;
        let html_page = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap().starts_with("text/html"));
        if response.status() != 200 || !html_page {
            continue;
        }
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("style=") && !html.contains("<script") && !html.contains("<style"),
            "{path} has inline script or style"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} pages rendered");
}
