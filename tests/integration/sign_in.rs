//! Signing in and out, the session cookie, and CSRF on every form.

use reqwest::{Method, Response};
use serde_json::Value;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::browser::Browser;

const SESSION: &str = "__Host-outpost-session";
const CSRF: &str = "__Host-outpost-csrf";

fn set_cookie<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn session_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    outpost::db::schema::sessions::table
        .count()
        .get_result(&mut app.db.conn())
        .unwrap()
}

fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    use diesel::prelude::*;
    use outpost::db::schema::audit_events::dsl::*;
    audit_events
        .order(id.asc())
        .select((action, outcome))
        .load(&mut app.db.conn())
        .unwrap()
}

#[tokio::test]
async fn correct_credentials_open_a_session_with_a_hardened_cookie() {
    let app = TestApp::start().await;
    let link = app.create_owner("Owner@Example.com");
    let browser = app.browser();
    browser.complete_setup(&link, PASSWORD).await;

    // Email matching is case-insensitive.
    let response = browser.sign_in("OWNER@example.COM", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let cookie = set_cookie(&response, SESSION).expect("session cookie set");
    let attributes: Vec<String> = cookie
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for required in ["secure", "httponly", "samesite=strict", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == required),
            "{required} missing from {cookie}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain=")),
        "__Host- cookies carry no Domain"
    );
    let token = browser.cookie(SESSION).unwrap();
    assert!(token.len() >= 22, "token shorter than 128 bits of base64");

    // Owners must enrol a second factor before the dashboard opens.
    assert_eq!(browser.get("/").await.headers()["location"], "/account/mfa");
    app.enrol_mfa(&browser, app.user_id("owner@example.com"))
        .await;
    let overview = browser.get("/").await;
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.unwrap();
    assert!(html.contains("test-outpost"), "server name shown");
    assert!(html.contains(env!("CARGO_PKG_VERSION")), "version shown");
    assert!(
        html.contains("owner@example.com"),
        "signed-in account shown"
    );
    assert!(html.contains("Owner"));
    assert!(
        !html.contains("style=") && !html.contains("<script"),
        "no inline style or script"
    );

    let actions = audit_actions(&app);
    assert!(
        actions.contains(&("session.sign_in".into(), "success".into())),
        "{actions:?}"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_fail_identically() {
    let app = TestApp::start().await;
    let link = app.create_owner("owner@example.com");
    let browser = app.browser();
    browser.complete_setup(&link, PASSWORD).await;

    let wrong = browser
        .sign_in("owner@example.com", "not the right password")
        .await;
    let unknown = browser.sign_in("nobody@example.com", PASSWORD).await;
    for response in [&wrong, &unknown] {
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/login?error=invalid");
        assert!(set_cookie(response, SESSION).is_none());
    }
    let page = browser
        .get("/login?error=invalid")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Invalid email or password."));
    assert_eq!(session_count(&app), 0);
    assert_eq!(browser.get("/").await.status(), 303);

    let failures = audit_actions(&app)
        .into_iter()
        .filter(|(a, o)| a == "session.sign_in" && o == "failure")
        .count();
    assert_eq!(failures, 2);
}

#[tokio::test]
async fn json_sign_in_answers_json_and_fails_with_a_problem() {
    let app = TestApp::start().await;
    let link = app.create_owner("owner@example.com");
    app.browser().complete_setup(&link, PASSWORD).await;
    let client = reqwest::Client::new();

    let ok = client
        .post(app.url("/login"))
        .json(&serde_json::json!({ "email": "owner@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(set_cookie(&ok, SESSION).is_some());
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["user"]["email"], "owner@example.com");
    assert_eq!(body["user"]["role"], "owner");
    assert!(body["user"].get("password_hash").is_none());

    let bad = client
        .post(app.url("/login"))
        .json(&serde_json::json!({ "email": "owner@example.com", "password": "nope nope nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["detail"], "Invalid email or password.");
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let app = TestApp::start().await;
    let browser = app.signed_in_owner("owner@example.com").await;
    let stolen = browser.cookie(SESSION).unwrap();
    assert_eq!(session_count(&app), 1);

    let response = browser.submit("/", "/logout", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login?notice=signed_out");
    assert_eq!(session_count(&app), 0, "session row deleted");
    assert!(browser.cookie(SESSION).is_none(), "cookie cleared");

    // A copy of the old cookie is worthless now.
    let replay = app.browser();
    replay.set_cookie(SESSION, &stolen);
    let response = replay.get("/").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login");
}

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_refused() {
    let app = TestApp::start().await;
    let browser = app.signed_in_owner("owner@example.com").await;

    // No token at all.
    let bare = browser
        .send(browser.request(Method::POST, "/logout").form(&[("x", "1")]))
        .await;
    assert_csrf_refused(bare).await;

    // A token that does not match the cookie (which a page view has just set).
    browser.get("/").await;
    assert!(browser.cookie(CSRF).is_some());
    let forged = browser
        .send(
            browser
                .request(Method::POST, "/logout")
                .form(&[("csrf_token", "A".repeat(43).as_str())]),
        )
        .await;
    assert_csrf_refused(forged).await;

    // The right token, but the browser says the post comes from another site.
    let html = browser.get("/").await.text().await.unwrap();
    let token = crate::support::browser::csrf_token_in(&html).unwrap();
    let cross_site = browser
        .send(
            browser
                .request(Method::POST, "/logout")
                .header("origin", "https://evil.example")
                .form(&[("csrf_token", token.as_str())]),
        )
        .await;
    assert_csrf_refused(cross_site).await;
    assert_eq!(session_count(&app), 1, "still signed in");

    // Sign-in is protected too: a form posted without the cookie-bound token.
    let fresh = Browser::new(app.url(""));
    let login = fresh
        .send(
            fresh
                .request(Method::POST, "/login")
                .form(&[("email", "owner@example.com"), ("password", PASSWORD)]),
        )
        .await;
    assert_csrf_refused(login).await;
}

async fn assert_csrf_refused(response: Response) {
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:outpost:problem:csrf");
}

#[tokio::test]
async fn signing_in_issues_a_new_session_and_csrf_token() {
    let app = TestApp::start().await;
    let link = app.create_owner("owner@example.com");
    let browser = app.browser();
    browser.complete_setup(&link, PASSWORD).await;
    // A session token planted before sign-in (fixation) must not survive it.
    browser.set_cookie(SESSION, &"F".repeat(43));
    browser.get("/login").await;
    let csrf_before = browser.cookie(CSRF).unwrap();
    let response = browser.sign_in("owner@example.com", PASSWORD).await;
    assert_eq!(response.status(), 303);
    let session = browser.cookie(SESSION).unwrap();
    assert_ne!(session, "F".repeat(43));
    assert!(
        browser.cookie(CSRF).is_none(),
        "old CSRF token dropped at sign-in"
    );
    browser.get("/login").await;
    assert_ne!(browser.cookie(CSRF).unwrap(), csrf_before);
}

#[tokio::test]
async fn repeated_failures_slow_sign_in_down_without_a_permanent_lockout() {
    let app = TestApp::start().await;
    let link = app.create_owner("owner@example.com");
    app.browser().complete_setup(&link, PASSWORD).await;
    let client = reqwest::Client::new();
    let attempt = |password: &str| {
        client
            .post(app.url("/login"))
            .json(&serde_json::json!({ "email": "owner@example.com", "password": password }))
            .send()
    };
    // Five failures are free; the sixth starts the back-off.
    for _ in 0..6 {
        assert_eq!(attempt("wrong password!!").await.unwrap().status(), 401);
    }
    let blocked = attempt(PASSWORD).await.unwrap();
    assert_eq!(blocked.status(), 429, "even the right password waits");
    let wait: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "retry after {wait}s");
    assert_eq!(
        blocked.headers()["content-type"],
        "application/problem+json"
    );

    let browser = app.browser();
    let form = browser.sign_in("owner@example.com", PASSWORD).await;
    assert_eq!(form.headers()["location"], "/login?error=throttled");

    // The back-off ends by itself (here: its end is moved into the past).
    app.db
        .execute("UPDATE login_throttle SET blocked_until = now() - interval '1 second'");
    assert_eq!(attempt(PASSWORD).await.unwrap().status(), 200);
    assert_eq!(
        app.db
            .execute("SELECT 1 FROM login_throttle WHERE subject LIKE 'account:%'"),
        0,
        "success clears the account's failures"
    );
    assert_eq!(
        app.db
            .execute("SELECT 1 FROM login_throttle WHERE subject LIKE 'address:%'"),
        1,
        "but not the address's: one account's success vouches for no one else"
    );
}
