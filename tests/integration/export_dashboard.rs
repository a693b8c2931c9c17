//! Exports on the dashboard and the JSON API: real app, real PostgreSQL, real pg_dump.
//! Only Owners may prepare and download them; stored values need re-authentication.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use outpost::credentials::{self, Kind, NewCredential};
use outpost::export::store::{self, ExportRecord, Status};
use outpost::identity::{Capability, ClientInfo, Role, user};
use outpost::secret::SecretString;
use outpost::vault::Vault;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::export::{hex, members};
use crate::support::app::{PASSWORD, TestApp};
use crate::support::browser::Browser;
use crate::support::canary;

/// The app with its data directory in a temp dir (kept alive by the caller).
async fn app() -> (TestApp, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let app = TestApp::start_with(move |c| c.data_dir = dir, None).await;
    (app, data)
}

/// Waits for the export to leave `preparing` (a pg_dump on a busy machine: generous).
async fn finished(app: &TestApp, id: Uuid) -> ExportRecord {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let record = store::find(&mut app.db.conn(), id).unwrap().expect("row");
        if record.status() != Status::Preparing {
            return record;
        }
        assert!(Instant::now() < deadline, "export {id} still preparing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn exports(app: &TestApp) -> Vec<ExportRecord> {
    store::list(&mut app.db.conn()).unwrap()
}

/// The one export that is not in `before`.
fn new_export(app: &TestApp, before: &[ExportRecord]) -> ExportRecord {
    let mut added: Vec<_> = exports(app)
        .into_iter()
        .filter(|r| before.iter().all(|b| b.id != r.id))
        .collect();
    assert_eq!(added.len(), 1, "one new export");
    added.remove(0)
}

fn audited(app: &TestApp, action: &str) -> Vec<String> {
    app.audit()
        .into_iter()
        .filter(|(a, _)| a == action)
        .map(|(_, outcome)| outcome)
        .collect()
}

/// Checks the tarball against its own manifest and returns its members by path.
fn verified(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let members = members(file.path());
    let (last, manifest) = members.last().unwrap();
    assert_eq!(last, "manifest.json");
    let manifest: Value = serde_json::from_slice(manifest).unwrap();
    let by_path: BTreeMap<String, Vec<u8>> = members.into_iter().collect();
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        by_path.len() - 1,
        "every other member is listed"
    );
    for entry in listed {
        let bytes = &by_path[entry["path"].as_str().unwrap()];
        assert_eq!(entry["size"].as_u64().unwrap(), bytes.len() as u64);
        assert_eq!(entry["sha256"].as_str().unwrap(), hex(bytes), "{entry}");
    }
    by_path
}

fn store_canary(app: &TestApp, owner: Uuid) -> String {
    let mut conn = app.db.conn();
    let vault = Vault::load(app.keyring.clone()).unwrap();
    let owner = user::find(&mut conn, owner).unwrap().unwrap();
    let secret = canary::secret("sk-export");
    credentials::create(
        &mut conn,
        &vault,
        &owner,
        NewCredential {
            name: "Payments".into(),
            kind: Kind::ApiKey,
            value: SecretString::new(&secret),
            description: None,
            expires_at: None,
            rotate_every_days: None,
        },
        &ClientInfo::default(),
    )
    .unwrap();
    secret
}

async fn page(browser: &Browser, path: &str) -> String {
    let response = browser.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn an_owner_prepares_an_export_on_the_dashboard_and_downloads_it() {
    let (app, data) = app().await;
    let owner = app.owner("owner@example.com").await;
    let secret = store_canary(&app, owner.id);
    let overview = page(&owner.browser, "/").await;
    assert!(
        overview.contains(r#"href="/export""#),
        "the nav links the page"
    );
    let listed = page(&owner.browser, "/export").await;
    assert!(listed.contains("No exports yet."));

    let prepared = owner.browser.submit("/export", "/export", &[]).await;
    assert_eq!(prepared.status(), 303);
    assert_eq!(prepared.headers()["location"], "/export?notice=preparing");
    let record = new_export(&app, &[]);
    assert_eq!(record.requested_by, Some(owner.id));
    assert!(!record.include_secrets);
    let record = finished(&app, record.id).await;
    assert_eq!(record.status(), Status::Ready, "{:?}", record.error);

    // On disk: owner-only, under <data_dir>/exports.
    let dir = data.path().join("exports");
    let file = dir.join(format!("{}.tar", record.id));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(
        std::fs::metadata(&file).unwrap().len() as i64,
        record.bytes.unwrap()
    );

    let listed = page(&owner.browser, "/export").await;
    let link = format!("/export/{}/download", record.id);
    assert!(listed.contains(&link), "a download link once ready");
    let response = owner.browser.get(&link).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, record.bytes.unwrap());
    let members = verified(&bytes);
    assert!(members.contains_key("database/outpost.dump"));
    assert!(
        String::from_utf8_lossy(&members["credentials.md"]).contains("Payments"),
        "the credential is listed"
    );
    assert!(!members.contains_key("secrets/credentials.json"));
    assert!(
        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "no value without asking for values"
    );
    assert_eq!(audited(&app, "data.exported"), vec!["success"]);
    assert_eq!(audited(&app, "data.export_downloaded"), vec!["success"]);

    // Unknown ids are 404, not a file from elsewhere.
    let missing = owner
        .browser
        .get(&format!("/export/{}/download", Uuid::new_v4()))
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn admins_and_viewers_cannot_see_prepare_or_download_exports() {
    let (app, _data) = app().await;
    let owner = app.owner("owner@example.com").await;
    let prepared = owner.browser.submit("/export", "/export", &[]).await;
    assert_eq!(prepared.status(), 303);
    let record = finished(&app, new_export(&app, &[]).id).await;
    let link = format!("/export/{}/download", record.id);

    for (email, role) in [
        ("admin@example.com", Role::Admin),
        ("viewer@example.com", Role::Viewer),
    ] {
        let member = app.member(email, role).await;
        let overview = page(&member.browser, "/").await;
        assert!(
            !overview.contains(r#"href="/export""#),
            "{role:?} sees no link"
        );
        assert_eq!(
            member.browser.get("/export").await.status(),
            403,
            "{role:?}"
        );
        assert_eq!(member.browser.get(&link).await.status(), 403, "{role:?}");
        // The CSRF token of a page they may see: the refusal is the capability's.
        let posted = member.browser.submit("/", "/export", &[]).await;
        assert_eq!(posted.status(), 403, "{role:?}");
        assert_eq!(
            posted.headers()["content-type"],
            "application/problem+json",
            "{role:?}"
        );
    }
    assert_eq!(exports(&app).len(), 1, "nobody else prepared one");
    assert_eq!(
        audited(&app, "data.export_downloaded"),
        Vec::<String>::new()
    );
    assert!(audited(&app, "access.denied").len() >= 6);
}

#[tokio::test]
async fn stored_values_need_the_password_or_a_code_and_refusals_are_audited() {
    let (app, _data) = app().await;
    let owner = app.owner("owner@example.com").await;
    let secret = store_canary(&app, owner.id);

    let bare = owner
        .browser
        .submit("/export", "/export", &[("include_secrets", "on")])
        .await;
    assert_eq!(bare.status(), 200);
    let html = bare.text().await.unwrap();
    assert!(
        html.contains("Enter your password or a two-factor code"),
        "{html}"
    );
    let wrong = owner
        .browser
        .submit(
            "/export",
            "/export",
            &[
                ("include_secrets", "on"),
                ("password", "not my password at all"),
            ],
        )
        .await;
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("The password is wrong.")
    );
    assert!(exports(&app).is_empty(), "nothing prepared");
    assert_eq!(audited(&app, "data.exported"), vec!["denied", "denied"]);

    let accepted = owner
        .browser
        .submit(
            "/export",
            "/export",
            &[("include_secrets", "on"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(accepted.status(), 303);
    let record = finished(&app, new_export(&app, &[]).id).await;
    assert!(record.include_secrets);
    assert_eq!(record.status(), Status::Ready, "{:?}", record.error);
    let bytes = owner
        .browser
        .get(&format!("/export/{}/download", record.id))
        .await
        .bytes()
        .await
        .unwrap();
    let members = verified(&bytes);
    let values: Value = serde_json::from_slice(&members["secrets/credentials.json"]).unwrap();
    assert_eq!(values[0]["value"], secret.as_str());
    let page = page(&owner.browser, "/export").await;
    assert!(page.contains("with stored values"));
}

struct Api<'a> {
    app: &'a TestApp,
    key: String,
}

impl Api<'_> {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, self.app.url(path))
            .bearer_auth(&self.key)
    }

    async fn create(&self, body: Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/api/v1/exports")
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_api_prepares_lists_and_downloads_with_a_fresh_code_for_values() {
    let (app, _data) = app().await;
    let owner = app.owner("owner@example.com").await;
    let device = owner.device.as_ref().unwrap();
    let secret = store_canary(&app, owner.id);
    let api = Api {
        app: &app,
        key: app.api_key(owner.id, &[Capability::DataExport]),
    };

    let refused = api.create(json!({ "include_secrets": true })).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("`code`"),
        "{problem}"
    );
    let wrong = api
        .create(json!({ "include_secrets": true, "code": "000000" }))
        .await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(audited(&app, "data.exported"), vec!["denied", "denied"]);

    let code = device.fresh(&app.db);
    let accepted = api
        .create(json!({ "include_secrets": true, "code": code }))
        .await;
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(body["export"]["status"], "preparing");
    assert_eq!(body["export"]["include_secrets"], true);
    let id: Uuid = body["export"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(location, format!("/api/v1/exports/{id}"));
    finished(&app, id).await;

    let polled = app.api_json(&location, &api.key).await;
    assert_eq!(polled["export"]["status"], "ready", "{polled}");
    let download = polled["export"]["download"].as_str().unwrap().to_owned();
    assert_eq!(download, format!("/api/v1/exports/{id}/download"));
    let listed = app.api_json("/api/v1/exports", &api.key).await;
    assert_eq!(listed["exports"].as_array().unwrap().len(), 1);
    assert_eq!(listed["cancellation"], Value::Null);

    let response = api
        .request(reqwest::Method::GET, &download)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let members = verified(&response.bytes().await.unwrap());
    let values: Value = serde_json::from_slice(&members["secrets/credentials.json"]).unwrap();
    assert_eq!(values[0]["value"], secret.as_str());
    assert_eq!(audited(&app, "data.export_downloaded"), vec!["success"]);

    // A key without `data.export` (an Admin's, whatever it asks for) is refused.
    let admin = app.member("admin@example.com", Role::Admin).await;
    let other = Api {
        app: &app,
        key: app.api_key(admin.id, &Role::Admin.capabilities()),
    };
    let refused = other.create(json!({})).await;
    assert_eq!(refused.status(), 403);
    let problem: Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("data.export"));
    let listed = other
        .request(reqwest::Method::GET, "/api/v1/exports")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 403);
    let fetched = other
        .request(reqwest::Method::GET, &download)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 403);
}
