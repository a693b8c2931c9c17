//! Idle and absolute session timeouts, enforced by the server.

use crate::support::app::TestApp;

const SESSION: &str = "__Host-outpost-session";

#[tokio::test]
async fn a_session_idle_past_the_timeout_is_dead_and_removed() {
    let app = TestApp::start().await;
    let browser = app.signed_in_owner("owner@example.com").await;
    assert_eq!(browser.get("/").await.status(), 200);

    // 14 minutes idle: still alive (15-minute default), and the clock restarts.
    app.db
        .execute("UPDATE sessions SET last_seen_at = now() - interval '14 minutes'");
    assert_eq!(browser.get("/").await.status(), 200);
    app.db
        .execute("UPDATE sessions SET last_seen_at = now() - interval '14 minutes'");
    assert_eq!(
        browser.get("/").await.status(),
        200,
        "activity restarted the idle clock"
    );

    app.db
        .execute("UPDATE sessions SET last_seen_at = now() - interval '16 minutes'");
    let response = browser.get("/").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login");
    assert_eq!(
        app.db.execute("SELECT 1 FROM sessions"),
        0,
        "expired row deleted"
    );
}

#[tokio::test]
async fn a_busy_session_still_ends_at_the_absolute_timeout() {
    let app = TestApp::start().await;
    let browser = app.signed_in_owner("owner@example.com").await;
    // Signed in nearly 12 hours ago and active a second ago.
    app.db.execute(
        "UPDATE sessions SET created_at = now() - interval '11 hours 59 minutes', \
         expires_at = now() + interval '30 seconds', last_seen_at = now()",
    );
    assert_eq!(browser.get("/").await.status(), 200);
    app.db.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 second', last_seen_at = now()",
    );
    assert_eq!(browser.get("/").await.status(), 303);
    assert!(
        browser.cookie(SESSION).is_some(),
        "the browser still holds the cookie…"
    );
    assert_eq!(
        app.db.execute("SELECT 1 FROM sessions"),
        0,
        "…but the server forgot it"
    );
}

#[tokio::test]
async fn timeouts_come_from_config() {
    let app = TestApp::start_with(
        |c| {
            c.session.idle_timeout = std::time::Duration::from_secs(60);
            c.session.absolute_timeout = std::time::Duration::from_secs(3600);
        },
        None,
    )
    .await;
    let browser = app.signed_in_owner("owner@example.com").await;
    let absolute: f64 = {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Span {
            #[diesel(sql_type = diesel::sql_types::Double)]
            seconds: f64,
        }
        diesel::sql_query(
            "SELECT extract(epoch FROM expires_at - created_at)::float8 AS seconds FROM sessions",
        )
        .get_result::<Span>(&mut app.db.conn())
        .unwrap()
        .seconds
    };
    assert!(
        (absolute - 3600.0).abs() < 1.0,
        "absolute timeout {absolute}"
    );
    app.db
        .execute("UPDATE sessions SET last_seen_at = now() - interval '61 seconds'");
    assert_eq!(browser.get("/").await.status(), 303);
}

#[tokio::test]
async fn pages_that_need_a_session_redirect_to_sign_in() {
    let app = TestApp::start().await;
    let browser = app.browser();
    let response = browser.get("/").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login");
    // Garbage and well-shaped-but-unknown cookies alike.
    for value in ["garbage", &"A".repeat(43)] {
        browser.set_cookie(SESSION, value);
        assert_eq!(browser.get("/").await.status(), 303);
    }
}
