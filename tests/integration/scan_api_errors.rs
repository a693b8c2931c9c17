//! The API error-burst check on real traffic: requests through the real app on
//! loopback are counted in memory, flushed, and judged. A few errors are nothing; a
//! burst of server errors and of rejected keys is found; a week of heavy rejected-key
//! traffic makes the same count usual.

use actix_web::HttpResponse;
use diesel::prelude::*;
use outpost::db::Db;
use outpost::db::schema::api_responses;
use outpost::identity::api_keys;
use outpost::scan::Severity;
use outpost::vault::Vault;
use outpost::web::routes::{Access, Routes};

use crate::support::app::TestApp;
use crate::support::scan;

/// A route under `/api/` that always fails, as a broken handler would.
fn failing_route(routes: &mut Routes) {
    routes.get("/api/test/fail", Access::Public, || async {
        HttpResponse::ServiceUnavailable().finish()
    });
}

async fn requests(app: &TestApp, path: &str, key: &str, n: usize, status: u16) {
    let client = reqwest::Client::new();
    for _ in 0..n {
        let response = client
            .get(app.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
}

/// Flushes the app's counts, then runs the check now.
fn findings(app: &TestApp) -> Vec<(String, Severity)> {
    let pool = Db::connect(&app.config).unwrap();
    let flushed = app.api_traffic.flush(&mut pool.get().unwrap()).unwrap();
    assert!(flushed > 0, "requests were counted");
    let vault = Vault::load(app.keyring.clone()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    scan::found(&app.config, &pool, &vault, "behaviour.api_errors", now)
}

#[tokio::test]
async fn bursts_of_server_errors_and_rejected_keys_are_found() {
    let app = TestApp::start_with(|_| {}, Some(failing_route)).await;
    let (unknown_key, _, _) = api_keys::generate();
    let unknown_key = unknown_key.expose().to_owned();
    requests(&app, "/api/v1/me", &unknown_key, 5, 401).await;
    requests(&app, "/api/test/fail", &unknown_key, 3, 503).await;
    assert_eq!(findings(&app), [], "a few errors are no burst");

    requests(&app, "/api/v1/me", &unknown_key, 30, 401).await;
    requests(&app, "/api/test/fail", &unknown_key, 20, 503).await;
    // Pages outside the API are not counted.
    requests(&app, "/no-such-page", &unknown_key, 120, 404).await;
    assert_eq!(
        findings(&app),
        [
            ("api-errors:401".into(), Severity::Medium),
            ("api-errors:5xx".into(), Severity::High),
        ]
    );
    let counted: Vec<i64> = api_responses::table
        .filter(api_responses::class.eq("401"))
        .select(api_responses::responses)
        .load(&mut app.db.conn())
        .unwrap();
    assert_eq!(
        counted.iter().sum::<i64>(),
        35,
        "each response counted once"
    );

    // A week in which every hour saw 60 rejected keys makes 35 in a stretch usual.
    app.db.execute(
        "INSERT INTO api_responses (minute, class, responses) \
         SELECT date_trunc('hour', now()) - interval '1 day' - g * interval '1 hour', '401', 60 \
         FROM generate_series(1, 7 * 24 - 1) g",
    );
    requests(&app, "/api/v1/me", &unknown_key, 1, 401).await;
    assert_eq!(findings(&app), [("api-errors:5xx".into(), Severity::High)]);
}

#[tokio::test]
async fn refusals_of_requests_without_credentials_are_no_key_guessing() {
    // Crawlers and the security loop's own authentication-surface probe send nothing.
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    for _ in 0..40 {
        let response = client.get(app.url("/api/v1/me")).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    assert_eq!(findings(&app), [], "40 bare 401s are no burst");
    let classes: Vec<String> = api_responses::table
        .select(api_responses::class)
        .load(&mut app.db.conn())
        .unwrap();
    assert_eq!(classes, ["4xx"]);
}
