//! `/readyz` tells the truth about the database.

use std::time::Duration;

use outpost::config::DatabaseUrl;

use crate::support::app::TestApp;

#[tokio::test]
async fn not_ready_while_a_migration_is_pending() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    {
        use diesel_migrations::MigrationHarness;
        app.db
            .conn()
            .revert_last_migration(outpost::db::MIGRATIONS)
            .expect("revert");
    }
    let response = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["detail"], "Database migrations are pending.");
}

#[tokio::test]
async fn not_ready_when_the_database_is_unreachable_but_still_alive() {
    let app = TestApp::start_with(
        |c| {
            c.database_url =
                DatabaseUrl::new("postgres://nobody@/none?host=/nonexistent-socket-dir");
            c.db_connect_timeout = Duration::from_millis(500);
        },
        None,
    )
    .await;
    let client = reqwest::Client::new();
    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let text = ready.text().await.unwrap();
    assert!(
        !text.contains("nonexistent-socket-dir"),
        "no connection details leak: {text}"
    );
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
