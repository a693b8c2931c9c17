//! The one-time setup link: single use, expiring, replaced when reissued.

use crate::support::app::{PASSWORD, TestApp};

#[tokio::test]
async fn a_setup_link_works_exactly_once() {
    let app = TestApp::start().await;
    let link = app.create_owner("owner@example.com");
    let browser = app.browser();
    let page = browser.get(&link).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("owner@example.com"));

    browser.complete_setup(&link, PASSWORD).await;

    assert_eq!(browser.get(&link).await.status(), 410);
    let again = browser
        .submit(
            "/login",
            &link,
            &[
                ("password", "another long password"),
                ("confirm", "another long password"),
            ],
        )
        .await;
    assert_eq!(again.status(), 410);
    assert_eq!(again.headers()["content-type"], "application/problem+json");
    // The first password stands.
    assert_eq!(
        browser
            .sign_in("owner@example.com", PASSWORD)
            .await
            .headers()["location"],
        "/"
    );
}

#[tokio::test]
async fn a_setup_link_expires_after_thirty_minutes() {
    let app = TestApp::start().await;
    assert_eq!(app.config.session.setup_link_ttl.as_secs(), 30 * 60);
    let link = app.create_owner("owner@example.com");
    let lifetime = app
        .db
        .execute("SELECT 1 FROM setup_links WHERE expires_at - created_at = interval '30 minutes'");
    assert_eq!(lifetime, 1);

    let browser = app.browser();
    let html = browser.get(&link).await.text().await.unwrap();
    let token = crate::support::browser::csrf_token_in(&html).unwrap();
    app.db
        .execute("UPDATE setup_links SET expires_at = now() - interval '1 second'");
    assert_eq!(browser.get(&link).await.status(), 410);
    let late = browser
        .send(browser.request(reqwest::Method::POST, &link).form(&[
            ("csrf_token", token.as_str()),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ]))
        .await;
    assert_eq!(late.status(), 410);
    assert_eq!(
        browser
            .sign_in("owner@example.com", PASSWORD)
            .await
            .headers()["location"],
        "/login?error=invalid"
    );
}

#[tokio::test]
async fn reissuing_a_link_voids_the_previous_one() {
    let app = TestApp::start().await;
    let first = app.create_owner("owner@example.com");
    let second = app.create_owner("owner@example.com");
    assert_ne!(first, second);
    let browser = app.browser();
    assert_eq!(browser.get(&first).await.status(), 410);
    assert_eq!(browser.get(&second).await.status(), 200);
}

#[tokio::test]
async fn weak_or_mismatched_passwords_are_sent_back_to_the_form() {
    let app = TestApp::start().await;
    let link = app.create_owner("owner@example.com");
    let browser = app.browser();

    let short = browser
        .submit(&link, &link, &[("password", "short"), ("confirm", "short")])
        .await;
    assert_eq!(short.status(), 303);
    assert_eq!(
        short.headers()["location"],
        format!("{link}?error=too_short")
    );

    let mismatch = browser
        .submit(
            &link,
            &link,
            &[
                ("password", PASSWORD),
                ("confirm", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(
        mismatch.headers()["location"],
        format!("{link}?error=mismatch")
    );
    let page = browser
        .get(&format!("{link}?error=mismatch"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("The two passwords differ."));

    // Neither attempt spent the link.
    browser.complete_setup(&link, PASSWORD).await;
}

#[tokio::test]
async fn malformed_link_tokens_are_gone_not_errors() {
    let app = TestApp::start().await;
    let browser = app.browser();
    for token in ["abc", &"A".repeat(43), "%2e%2e%2fetc%2fpasswd"] {
        let response = browser.get(&format!("/setup/{token}")).await;
        assert_eq!(response.status(), 410, "{token}");
    }
}
