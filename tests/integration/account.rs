//! A person's own account: sessions, password change, password reset by email.

use std::time::Duration;

use crate::support::app::{PASSWORD, TestApp};

const NEW_PASSWORD: &str = "an entirely new passphrase";

/// Signs `email` in on a fresh browser, second factor included.
async fn second_browser(
    app: &TestApp,
    email: &str,
    device: &crate::support::totp_device::TotpDevice,
    password: &str,
) -> crate::support::browser::Browser {
    let browser = app.browser();
    assert_eq!(
        browser.sign_in(email, password).await.headers()["location"],
        "/login/mfa"
    );
    let code = device.fresh(&app.db);
    let done = browser
        .submit("/login/mfa", "/login/mfa", &[("code", code.as_str())])
        .await;
    assert_eq!(done.headers()["location"], "/");
    browser
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_ended_one_by_one_or_all_others() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let device = owner.device.as_ref().unwrap();
    let laptop = second_browser(&app, "owner@example.com", device, PASSWORD).await;
    let phone = second_browser(&app, "owner@example.com", device, PASSWORD).await;

    let page = owner.browser.get("/account").await.text().await.unwrap();
    assert_eq!(
        page.matches("/revoke\"").count(),
        2,
        "two other sessions listed with a button"
    );
    assert!(page.contains("(this session)"));

    let first_other = page
        .split("/account/sessions/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let ended = owner
        .browser
        .submit(
            "/account",
            &format!("/account/sessions/{first_other}/revoke"),
            &[],
        )
        .await;
    assert_eq!(ended.headers()["location"], "/account?notice=session_ended");
    let still_in = [
        laptop.get("/").await.status(),
        phone.get("/").await.status(),
    ];
    assert_eq!(
        still_in.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one of them ended"
    );

    let all = owner
        .browser
        .submit("/account", "/account/sessions/revoke-others", &[])
        .await;
    assert_eq!(all.headers()["location"], "/account?notice=others_ended");
    assert_eq!(laptop.get("/").await.status(), 303);
    assert_eq!(phone.get("/").await.status(), 303);
    assert_eq!(
        owner.browser.get("/").await.status(),
        200,
        "the current session stays"
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let device = owner.device.as_ref().unwrap();
    let other = second_browser(&app, "owner@example.com", device, PASSWORD).await;

    let wrong = owner
        .browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("current", "wrong wrong wrong"),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.headers()["location"], "/account?error=wrong_password");
    let common = owner
        .browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("current", PASSWORD),
                ("password", "qwerty123456"),
                ("confirm", "qwerty123456"),
            ],
        )
        .await;
    assert_eq!(common.headers()["location"], "/account?error=too_common");

    let changed = owner
        .browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("current", PASSWORD),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        changed.headers()["location"],
        "/account?notice=password_changed"
    );
    assert_eq!(other.get("/").await.headers()["location"], "/login");
    assert_eq!(owner.browser.get("/").await.status(), 200);
    let fresh = app.browser();
    assert_eq!(
        fresh.sign_in("owner@example.com", PASSWORD).await.headers()["location"],
        "/login?error=invalid"
    );
    second_browser(&app, "owner@example.com", device, NEW_PASSWORD).await;
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_an_emailed_link() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let device = owner.device.as_ref().unwrap();

    let stranger = app.browser();
    let unknown = stranger
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "nobody@example.com")],
        )
        .await;
    let known = stranger
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "owner@example.com")],
        )
        .await;
    assert_eq!(
        unknown.headers()["location"],
        known.headers()["location"],
        "same answer either way"
    );

    let mail = app.mail.wait_for(1, Duration::from_secs(10));
    assert_eq!(mail.len(), 1, "only the real account gets mail");
    let body = mail[0].body();
    let base = app.url("");
    let start = body.find(&base).unwrap() + base.len();
    let link = body[start..].split_whitespace().next().unwrap().to_owned();
    assert!(link.starts_with("/setup/"));

    let reset = app.browser();
    reset.complete_setup(&link, NEW_PASSWORD).await;
    assert_eq!(
        owner.browser.get("/").await.headers()["location"],
        "/login",
        "old sessions ended"
    );
    // The second factor is still required after a reset.
    second_browser(&app, "owner@example.com", device, NEW_PASSWORD).await;
}
