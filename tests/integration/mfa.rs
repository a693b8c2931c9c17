//! Two-factor sign-in end to end: forced enrolment, the second step, replay, recovery.

use std::time::Duration;

use crate::support::app::{PASSWORD, TestApp};

const SESSION: &str = "__Host-outpost-session";
const CHALLENGE: &str = "__Host-outpost-mfa";

#[tokio::test]
async fn owners_must_enrol_before_doing_anything_else() {
    let app = TestApp::start().await;
    let link = app.create_owner("owner@example.com");
    let browser = app.browser();
    browser.complete_setup(&link, PASSWORD).await;
    assert_eq!(
        browser
            .sign_in("owner@example.com", PASSWORD)
            .await
            .status(),
        303
    );

    for page in ["/", "/team", "/keys", "/account"] {
        let response = browser.get(page).await;
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(response.headers()["location"], "/account/mfa", "{page}");
    }
    let enrol = browser.get("/account/mfa").await.text().await.unwrap();
    assert!(enrol.contains("<svg") && enrol.contains("Your role requires two-factor sign-in"));

    let wrong = browser
        .submit(
            "/account/mfa",
            "/account/mfa/confirm",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(wrong.headers()["location"], "/account/mfa?error=invalid");
    assert_eq!(browser.get("/").await.status(), 303, "still not enrolled");

    app.enrol_mfa(&browser, app.user_id("owner@example.com"))
        .await;
    assert_eq!(browser.get("/").await.status(), 200);
    assert!(
        app.audit()
            .contains(&("mfa.enrolled".into(), "success".into()))
    );
}

#[tokio::test]
async fn sign_in_asks_for_a_code_and_accepts_each_code_once() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let device = owner.device.as_ref().unwrap();

    let browser = app.browser();
    let response = browser.sign_in("owner@example.com", PASSWORD).await;
    assert_eq!(response.headers()["location"], "/login/mfa");
    assert!(
        browser.cookie(SESSION).is_none(),
        "no session before the second factor"
    );
    assert!(browser.cookie(CHALLENGE).is_some());
    assert_eq!(browser.get("/").await.headers()["location"], "/login");

    let wrong = browser
        .submit("/login/mfa", "/login/mfa", &[("code", "123456")])
        .await;
    assert_eq!(wrong.headers()["location"], "/login/mfa?error=invalid");

    let code = device.fresh(&app.db);
    let ok = browser
        .submit("/login/mfa", "/login/mfa", &[("code", code.as_str())])
        .await;
    assert_eq!(ok.headers()["location"], "/");
    assert!(browser.cookie(SESSION).is_some());
    assert!(browser.cookie(CHALLENGE).is_none(), "challenge spent");
    assert_eq!(browser.get("/").await.status(), 200);

    // Someone who saw that code tries it, with the password, a moment later.
    let thief = app.browser();
    assert_eq!(
        thief.sign_in("owner@example.com", PASSWORD).await.headers()["location"],
        "/login/mfa"
    );
    let replay = thief
        .submit("/login/mfa", "/login/mfa", &[("code", code.as_str())])
        .await;
    assert_eq!(replay.headers()["location"], "/login/mfa?error=reused");
    assert!(thief.cookie(SESSION).is_none());
    let failures: Vec<_> = app
        .audit()
        .into_iter()
        .filter(|(a, _)| a == "session.second_factor")
        .collect();
    assert_eq!(failures.len(), 2, "wrong code and reused code both audited");
    let alerts = app.mail.wait_for(1, Duration::from_secs(10));
    let alert = alerts
        .iter()
        .find(|m| m.to.contains(&"owner@example.com".to_string()))
        .expect("alert mailed");
    assert!(alert.body().contains("127.0.0.1"), "{}", alert.body());
}

#[tokio::test]
async fn a_recovery_code_signs_in_exactly_once() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let code = owner.device.as_ref().unwrap().recovery_codes[0].clone();

    let first = app.browser();
    first.sign_in("owner@example.com", PASSWORD).await;
    // Typed sloppily: lower case, no dashes.
    let sloppy = code.replace('-', "").to_lowercase();
    let ok = first
        .submit("/login/mfa", "/login/mfa", &[("code", sloppy.as_str())])
        .await;
    assert_eq!(ok.headers()["location"], "/");

    let second = app.browser();
    second.sign_in("owner@example.com", PASSWORD).await;
    let again = second
        .submit("/login/mfa", "/login/mfa", &[("code", code.as_str())])
        .await;
    assert_eq!(again.headers()["location"], "/login/mfa?error=invalid");
}

#[tokio::test]
async fn five_wrong_codes_end_the_attempt() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let browser = app.browser();
    browser.sign_in("owner@example.com", PASSWORD).await;
    for _ in 0..5 {
        browser
            .submit("/login/mfa", "/login/mfa", &[("code", "000000")])
            .await;
    }
    let code = owner.device.as_ref().unwrap().fresh(&app.db);
    let late = browser
        .submit("/login/mfa", "/login/mfa", &[("code", code.as_str())])
        .await;
    assert_eq!(late.headers()["location"], "/login?error=expired");
    assert!(browser.cookie(SESSION).is_none());
}

#[tokio::test]
async fn json_clients_can_complete_the_second_factor() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let browser = app.browser();
    let first = browser
        .send(
            browser
                .request(reqwest::Method::POST, "/login")
                .json(&serde_json::json!({
                    "email": "owner@example.com", "password": PASSWORD
                })),
        )
        .await;
    assert_eq!(first.status(), 200);
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(body["second_factor_required"], true);
    let code = owner.device.as_ref().unwrap().fresh(&app.db);
    let second = browser
        .send(
            browser
                .request(reqwest::Method::POST, "/login/mfa")
                .json(&serde_json::json!({ "code": code })),
        )
        .await;
    assert_eq!(second.status(), 200);
    assert!(browser.cookie(SESSION).is_some());
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_ones() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let device = owner.device.as_ref().unwrap();
    let old = device.recovery_codes[0].clone();

    let code = device.fresh(&app.db);
    let page = owner
        .browser
        .submit(
            "/account/mfa",
            "/account/mfa/recovery-codes",
            &[("code", code.as_str())],
        )
        .await;
    assert_eq!(page.status(), 200);
    let fresh = crate::support::totp_device::recovery_codes_in(&page.text().await.unwrap());
    assert_eq!(fresh.len(), 10);
    assert!(!fresh.contains(&old));
    assert!(
        app.audit()
            .contains(&("mfa.recovery_codes_regenerated".into(), "success".into()))
    );

    let browser = app.browser();
    browser.sign_in("owner@example.com", PASSWORD).await;
    let refused = browser
        .submit("/login/mfa", "/login/mfa", &[("code", old.as_str())])
        .await;
    assert_eq!(
        refused.headers()["location"],
        "/login/mfa?error=invalid",
        "old codes stop working"
    );
    let accepted = browser
        .submit("/login/mfa", "/login/mfa", &[("code", fresh[0].as_str())])
        .await;
    assert_eq!(accepted.headers()["location"], "/");

    // The same authenticator code cannot be used twice for this either.
    let replay = owner
        .browser
        .submit(
            "/account/mfa",
            "/account/mfa/recovery-codes",
            &[("code", code.as_str())],
        )
        .await;
    assert_eq!(replay.headers()["location"], "/account/mfa?error=reused");
}
