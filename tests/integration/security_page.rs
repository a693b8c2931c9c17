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

#[tokio::test(flavor = "multi_thread")]
async fn owners_and_admins_can_ask_for_a_scan_and_viewers_cannot() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let viewer = app.member("viewer@example.com", Role::Viewer).await;

    let page = owner.browser.get("/security").await.text().await.unwrap();
    assert!(page.contains("Scan now"), "{page}");
    let asked = owner
        .browser
        .submit("/security", "/security/scan", &[])
        .await;
    assert_eq!(asked.headers()["location"], "/security?notice=scanning");
    assert_eq!(app.scans_asked.lock().unwrap().try_recv(), Ok("manual"));

    let page = viewer.browser.get("/security").await.text().await.unwrap();
    assert!(!page.contains("Scan now"), "{page}");
    let refused = viewer
        .browser
        .submit("/security", "/security/scan", &[])
        .await;
    assert_eq!(refused.status(), 403);
    assert!(app.scans_asked.lock().unwrap().try_recv().is_err());

    // Over the API, and when the loop is off here (nobody runs scans): a conflict.
    let key = app.api_key(owner.id, &[outpost::identity::Capability::HardeningManage]);
    let accepted = reqwest::Client::new()
        .post(app.url("/api/v1/security/scans"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    app.scans_asked.lock().unwrap().close();
    let off = reqwest::Client::new()
        .post(app.url("/api/v1/security/scans"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 409);
    assert_eq!(off.headers()["content-type"], "application/problem+json");
    let audit = app.audit();
    assert!(audit.contains(&("scan.requested".into(), "success".into())));
    assert!(audit.contains(&("scan.requested".into(), "failure".into())));
}
