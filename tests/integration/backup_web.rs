//! Backups on the dashboard and over the API: the real app, real PostgreSQL, real
//! pg_dump and pg_restore. Backups run in the background, so tests poll for the end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use outpost::backup::runs::Backups;
use outpost::backup::settings::TargetSettings;
use outpost::db::Db;
use outpost::identity::Role;
use outpost::vault::Vault;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::credentials::audited;
use crate::support::app::TestApp;
use crate::support::browser::Browser;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PATIENCE: Duration = Duration::from_secs(120);

struct Fixture {
    app: TestApp,
    _data: tempfile::TempDir,
}

/// The app with backups into a scratch data_dir, no schedule and, when `broken`, a
/// target `broken` whose directory cannot be created (its parent is a file).
async fn start(broken: bool) -> Fixture {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_owned();
    let app = TestApp::start_with(
        move |config| {
            config.data_dir = data_dir.clone();
            config.backup.pg_bin = Some(PathBuf::from(PG_BIN));
            config.backup.daily = String::new();
            config.backup.weekly = String::new();
            config.backup.monthly = String::new();
            if broken {
                let file = data_dir.join("not-a-directory");
                std::fs::write(&file, b"").unwrap();
                config.backup.targets.insert(
                    "broken".into(),
                    TargetSettings::Local {
                        path: file.join("backups"),
                    },
                );
            }
        },
        None,
    )
    .await;
    Fixture { app, _data: data }
}

fn api(app: &TestApp, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(key)
}

fn is_problem(response: &reqwest::Response) -> bool {
    response.headers()["content-type"] == "application/problem+json"
}

/// Run `id` as `GET /api/v1/backups` reports it, once it has finished.
async fn finished_run(app: &TestApp, key: &str, id: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = app.api_json("/api/v1/backups", key).await;
        let run = status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["runs"].as_array().unwrap().iter())
            .find(|r| r["id"] == id)
            .cloned();
        if let Some(run) = run.filter(|r| r["outcome"] != "running") {
            return run;
        }
        assert!(Instant::now() < deadline, "backup {id} did not finish");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The page once it contains `text`.
async fn page_showing(browser: &Browser, path: &str, text: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let html = browser.get(path).await.text().await.unwrap();
        if html.contains(text) {
            return html;
        }
        assert!(Instant::now() < deadline, "{path} never showed {text:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn backups_of(app: &TestApp) -> (Db, Vault) {
    let db = Db::connect(&app.config).unwrap();
    let vault = Vault::load(app.keyring.clone()).unwrap();
    (db, vault)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_backs_up_and_drills_from_the_page() {
    let Fixture { app, _data } = start(false).await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    let before = admin.browser.get("/backups").await.text().await.unwrap();
    assert!(before.contains("No backup has been taken yet"), "{before}");
    assert!(before.contains("Backups need attention"));
    assert!(before.contains(r#"href="/backups""#), "in the navigation");

    let started = admin
        .browser
        .submit("/backups", "/backups/run", &[("target", "local")])
        .await;
    assert_eq!(started.status(), 303);
    assert_eq!(started.headers()["location"], "/backups?notice=started");

    let html = page_showing(&admin.browser, "/backups", ">Complete<").await;
    let (id, stored): (uuid::Uuid, i64) = {
        use diesel::prelude::*;
        use outpost::db::schema::backup_runs::dsl::*;
        backup_runs
            .filter(outcome.eq("complete"))
            .select((id, stored_bytes.assume_not_null()))
            .first(&mut app.db.conn())
            .unwrap()
    };
    let size = indicatif::HumanBytes(u64::try_from(stored).unwrap()).to_string();
    assert!(stored > 0 && html.contains(&size), "size {size} shown");
    assert!(html.contains(&id.to_string()[..8]));
    assert!(html.contains("not drilled yet"));
    assert!(html.contains("has not been through a restore drill"));
    assert!(
        html.contains("<svg") && !html.contains("style="),
        "chart, no inline style"
    );
    assert!(html.contains(r#"class="bar-ok""#));
    assert!(
        !html.contains("Download database"),
        "an Admin is offered no download"
    );
    let download = admin
        .browser
        .get(&format!("/backups/local/{id}/database.dump"))
        .await;
    assert_eq!(download.status(), 403);

    let overview = admin.browser.get("/").await.text().await.unwrap();
    assert!(overview.contains("Backups need attention") && overview.contains("just now"));

    // Verify now: a real restore drill into a scratch database.
    let drill = admin
        .browser
        .submit("/backups", &format!("/backups/{id}/verify"), &[])
        .await;
    assert_eq!(drill.status(), 303);
    assert_eq!(drill.headers()["location"], "/backups?notice=drilling");
    let html = page_showing(&admin.browser, "/backups", "Backups are healthy").await;
    assert!(html.contains("passed just now"), "{html}");
    let actions: Vec<String> = app.audit().into_iter().map(|(a, _)| a).collect();
    assert!(actions.contains(&"backup.completed".to_owned()));
    assert!(actions.contains(&"backup.drilled".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_sees_the_backups_but_cannot_start_one() {
    let Fixture { app, _data } = start(false).await;
    let viewer = app.member("viewer@example.com", Role::Viewer).await;
    let html = viewer.browser.get("/backups").await.text().await.unwrap();
    assert!(html.contains("<h1>Backups</h1>"));
    assert!(!html.contains("Back up now"), "no button for a Viewer");

    let refused = viewer
        .browser
        .submit("/backups", "/backups/run", &[("target", "local")])
        .await;
    assert_eq!(refused.status(), 403);
    let key = app.api_key(viewer.id, &Role::Viewer.capabilities());
    let refused = api(&app, Method::POST, "/api/v1/backups", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(is_problem(&refused));
    let status = app.api_json("/api/v1/backups", &key).await;
    assert_eq!(status["state"], "amber");
    assert_eq!(status["targets"][0]["name"], "local");
    assert_eq!(status["targets"][0]["runs"], Value::Array(vec![]));
    use diesel::prelude::*;
    let runs: i64 = outpost::db::schema::backup_runs::table
        .count()
        .get_result(&mut app.db.conn())
        .unwrap();
    assert_eq!(runs, 0, "nothing was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_runs_one_backup_at_a_time_and_the_owner_downloads_it() {
    let Fixture { app, _data: data } = start(false).await;
    let owner = app.owner("owner@example.com").await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    let admin_key = app.api_key(admin.id, &Role::Admin.capabilities());
    let owner_key = app.api_key(owner.id, &Role::Owner.capabilities());

    let unknown = api(&app, Method::POST, "/api/v1/backups", &admin_key)
        .json(&serde_json::json!({ "target": "nowhere" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(is_problem(&unknown));

    // Two at once: the lock admits one; the other hears so at once.
    let post = || api(&app, Method::POST, "/api/v1/backups", &admin_key).send();
    let (a, b) = tokio::join!(post(), post());
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::CONFLICT]);
    let (accepted, busy) = if a.status() == 202 { (a, b) } else { (b, a) };
    assert!(is_problem(&busy));
    let busy: Value = busy.json().await.unwrap();
    assert!(busy["detail"].as_str().unwrap().contains("already running"));
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted["target"], "local");
    let id = accepted["id"].as_str().unwrap().to_owned();

    let run = finished_run(&app, &admin_key, &id).await;
    assert_eq!(run["outcome"], "complete", "{run}");
    assert_eq!(run["trigger"], "manual");
    assert!(run["stored_bytes"].as_i64().unwrap() > 0);
    assert!(run["duration_ms"].is_u64());
    let status = app.api_json("/api/v1/backups", &admin_key).await;
    assert_eq!(status["state"], "amber", "not drilled yet: {status}");
    assert!(status["last_complete_at"].is_string());

    let path = format!("/api/v1/backups/local/{id}/database.dump");
    let refused = api(&app, Method::GET, &path, &admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let download = api(&app, Method::GET, &path, &owner_key)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment") && disposition.contains(".dump"));
    let dump = download.bytes().await.unwrap();
    assert!(dump.starts_with(b"PGDMP"), "pg_dump's custom format");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &dump).unwrap();
    let listing = pg_restore_list(file.path());
    assert!(listing.contains("TABLE public users"), "{listing}");
    assert!(listing.contains("TABLE public backup_runs"), "{listing}");

    // The page's link serves the same file to the Owner's browser.
    let page = owner.browser.get("/backups").await.text().await.unwrap();
    let link = format!("/backups/local/{id}/database.dump");
    assert!(page.contains(&link) && page.contains("Download database"));
    let same = owner.browser.get(&link).await.bytes().await.unwrap();
    assert_eq!(same, dump);
    let downloads = audited(&app.db, "backup.downloaded");
    assert_eq!(downloads.len(), 2);
    assert_eq!(downloads[0].0, "success");
    assert_eq!(downloads[0].2.as_deref(), Some(id.as_str()));

    let missing = api(
        &app,
        Method::GET,
        &format!(
            "/api/v1/backups/local/{}/database.dump",
            uuid::Uuid::new_v4()
        ),
        &owner_key,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(is_problem(&missing));

    // A manifest altered on the target: nothing is served, nothing is audited.
    let manifest = data.path().join(format!("backups/{id}/manifest.json"));
    let text = std::fs::read_to_string(&manifest).unwrap();
    let at = text.find(r#""sha256":""#).unwrap() + 10;
    let flipped = if &text[at..=at] == "0" { "1" } else { "0" };
    std::fs::write(
        &manifest,
        format!("{}{flipped}{}", &text[..at], &text[at + 1..]),
    )
    .unwrap();
    let refused = api(&app, Method::GET, &path, &owner_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    assert!(is_problem(&refused));
    assert_eq!(audited(&app.db, "backup.downloaded").len(), 2);
}

fn pg_restore_list(file: &Path) -> String {
    let out = Command::new(format!("{PG_BIN}/pg_restore"))
        .arg("--list")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_restore --list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_target_turns_the_page_red_and_raises_an_alert() {
    let Fixture { app, _data } = start(true).await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    let key = app.api_key(admin.id, &Role::Admin.capabilities());
    let started = admin
        .browser
        .submit("/backups", "/backups/run", &[("target", "broken")])
        .await;
    assert_eq!(started.status(), 303);

    let html = page_showing(&admin.browser, "/backups", "Backups are failing").await;
    assert!(html.contains(">Failed<"), "{html}");
    assert!(
        html.contains("Backup to broken failed"),
        "the alert, in red"
    );
    assert!(html.contains("not-a-directory"), "the error names the path");

    let status = app.api_json("/api/v1/backups", &key).await;
    assert_eq!(status["state"], "red", "{status}");
    assert_eq!(status["alerts"][0]["key"], "backup.failed.broken");
    let broken = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "broken")
        .unwrap();
    assert_eq!(broken["runs"][0]["outcome"], "failed");
    assert!(
        broken["runs"][0]["error"]
            .as_str()
            .unwrap()
            .contains("create directory")
    );

    // A Viewer sees that it failed, not the paths and stores the error names.
    let viewer = app.member("viewer@example.com", Role::Viewer).await;
    let html = viewer.browser.get("/backups").await.text().await.unwrap();
    assert!(html.contains("Backups are failing") && html.contains("Backup to broken failed"));
    assert!(!html.contains("not-a-directory"), "{html}");
    assert!(html.contains("details are shown to Owners and Admins"));
    let viewer_key = app.api_key(viewer.id, &Role::Viewer.capabilities());
    let status = app.api_json("/api/v1/backups", &viewer_key).await;
    assert!(!status.to_string().contains("not-a-directory"), "{status}");

    let overview = admin.browser.get("/").await.text().await.unwrap();
    assert!(overview.contains("Backups are failing"));
    // Owners and Admins are told, as after a failed run at the command line.
    let deadline = Instant::now() + PATIENCE;
    while !app.mail.messages().iter().any(|m| {
        m.subject()
            .is_some_and(|s| s.contains("Backup to broken failed"))
    }) {
        assert!(Instant::now() < deadline, "no alert email");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_says_so_when_a_backup_is_already_running() {
    let Fixture { app, _data } = start(false).await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    let (db, vault) = backups_of(&app);
    let held = Backups {
        config: &app.config,
        db: &db,
        vault: &vault,
    }
    .lock()
    .unwrap();
    let refused = admin
        .browser
        .submit("/backups", "/backups/run", &[("target", "local")])
        .await;
    assert_eq!(refused.status(), 303);
    assert_eq!(refused.headers()["location"], "/backups?problem=busy");
    let html = admin
        .browser
        .get("/backups?problem=busy")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("a backup is already running"));
    drop(held);
    use diesel::prelude::*;
    let runs: i64 = outpost::db::schema::backup_runs::table
        .count()
        .get_result(&mut app.db.conn())
        .unwrap();
    assert_eq!(runs, 0);
}
