//! The security page and `GET /api/v1/security`: what the security loop found, for
//! every member, with its trend; nothing for anyone not signed in.

use outpost::db::Db;
use outpost::identity::Role;
use outpost::scan::{self, Context, checks, findings};
use outpost::vault::Vault;
use time::OffsetDateTime;

use crate::support::app::TestApp;

/// One real scan of the app's database, recorded.
fn scan_once(app: &TestApp) {
    let db = Db::connect(&app.config).unwrap();
    let vault = Vault::load(app.keyring.clone()).unwrap();
    let now = OffsetDateTime::now_utc();
    let cx = Context {
        config: &app.config,
        db: &db,
        vault: &vault,
        now,
    };
    let selected: Vec<_> = checks::all()
        .into_iter()
        .filter(|c| c.id() == "defensive.backups" || c.id() == "defensive.hardening_drift")
        .collect();
    let runs = scan::run(&cx, &selected);
    findings::record(&mut app.db.conn(), &runs, "manual", now, now).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn members_see_the_open_findings_and_the_trend() {
    let app = TestApp::start().await;
    let viewer = app.member("viewer@example.com", Role::Viewer).await;
    let empty = viewer.browser.get("/security").await.text().await.unwrap();
    assert!(empty.contains("Nothing is open."), "{empty}");
    assert!(empty.contains(r#"href="/security""#), "in the navigation");

    scan_once(&app);
    scan_once(&app);
    let html = viewer.browser.get("/security").await.text().await.unwrap();
    assert!(html.contains("No backup has ever completed"), "{html}");
    assert!(html.contains(r#"<span class="bad">high</span>"#), "{html}");
    assert!(html.contains("hardening has never been checked"), "{html}");
    // Two scans, two bars of the open-findings chart, red (a high is open).
    assert_eq!(
        html.matches(r#"<rect class="bar-bad""#).count(),
        2,
        "{html}"
    );

    let key = app.api_key(viewer.id, &Role::Viewer.capabilities());
    let json = app.api_json("/api/v1/security", &key).await;
    let severities: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["high", "medium"], "most severe first: {json}");
    assert_eq!(json["metrics"]["trend"].as_array().unwrap().len(), 2);
    assert_eq!(json["metrics"]["trend"][1]["open"]["high"], 1);

    // Not signed in: nothing.
    let anonymous = app.browser().get("/security").await;
    assert_ne!(anonymous.status(), 200);
    let api = reqwest::get(app.url("/api/v1/security")).await.unwrap();
    assert_eq!(api.status(), 401);
}
