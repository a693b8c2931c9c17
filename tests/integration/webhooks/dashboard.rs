//! The notifications page and the webhook API over real HTTP: Owners and Admins manage
//! endpoints (the secret shown once), Developers are refused; the test email goes
//! through the real mail relay.

use std::time::Duration;

use outpost::identity::{Capability, Role};
use outpost::notify::signature::WebhookSecret;
use serde_json::{Value, json};

use crate::support::app::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_add_test_and_delete_endpoints_from_the_page() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let page = owner.browser.get("/webhooks").await;
    assert_eq!(page.status(), 200);
    let created = owner
        .browser
        .submit(
            "/webhooks",
            "/webhooks",
            &[
                ("url", "https://hooks.example.com/outpost"),
                ("description", "pager"),
                ("event", "backup.failed"),
                ("event", "finding.opened"),
            ],
        )
        .await;
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let secret = html
        .split("<p class=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret is shown once");
    WebhookSecret::parse(secret).expect("a whsec_ secret");
    assert!(
        !owner
            .browser
            .get("/webhooks")
            .await
            .text()
            .await
            .unwrap()
            .contains(secret)
    );

    let refused = owner
        .browser
        .submit(
            "/webhooks",
            "/webhooks",
            &[
                ("url", "http://hooks.example.com/"),
                ("event", "backup.failed"),
            ],
        )
        .await;
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("only reaches this machine")
    );

    let key = app.api_key(owner.id, &[Capability::WebhooksManage]);
    let listed = app.api_json("/api/v1/webhooks", &key).await;
    let id = listed["webhooks"][0]["id"].as_str().unwrap().to_owned();
    let tested = owner
        .browser
        .submit("/webhooks", &format!("/webhooks/{id}/test"), &[])
        .await;
    assert!(tested.status().is_redirection());
    let deliveries = app
        .api_json(&format!("/api/v1/webhooks/{id}/deliveries"), &key)
        .await;
    assert_eq!(deliveries["deliveries"][0]["event_type"], "webhook.test");
    let disabled = owner
        .browser
        .submit("/webhooks", &format!("/webhooks/{id}/disable"), &[])
        .await;
    assert!(disabled.status().is_redirection());
    let page = owner.browser.get("/webhooks").await.text().await.unwrap();
    assert!(page.contains("Disabled"), "{page}");
    assert!(page.contains(&format!("/webhooks/{id}/enable")), "{page}");
    let enabled = owner
        .browser
        .submit("/webhooks", &format!("/webhooks/{id}/enable"), &[])
        .await;
    assert_eq!(enabled.headers()["location"], "/webhooks?notice=enabled");
    let page = owner.browser.get("/webhooks").await.text().await.unwrap();
    assert!(page.contains(&format!("/webhooks/{id}/disable")), "{page}");
    let deleted = owner
        .browser
        .submit("/webhooks", &format!("/webhooks/{id}/delete"), &[])
        .await;
    assert!(deleted.status().is_redirection());
    let actions: Vec<String> = app.audit().into_iter().map(|(a, _)| a).collect();
    for action in [
        "webhook.created",
        "webhook.test_queued",
        "webhook.disabled",
        "webhook.enabled",
        "webhook.deleted",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not audited: {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_creates_lists_and_deletes_and_refuses_developers() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let key = app.api_key(owner.id, &[Capability::WebhooksManage]);
    let client = reqwest::Client::new();
    let created = client
        .post(app.url("/api/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({ "url": "https://hooks.example.com/in", "events": ["scan.completed"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = body["webhook"]["id"].as_str().unwrap().to_owned();
    let bad = client
        .post(app.url("/api/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({ "url": "https://hooks.example.com/in", "events": ["nope"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let listed = app.api_json("/api/v1/webhooks", &key).await;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("whsec_"));

    let developer = app.member("dev@example.com", Role::Developer).await;
    assert_eq!(developer.browser.get("/webhooks").await.status(), 403);
    let dev_key = app.api_key(developer.id, &[Capability::DashboardView]);
    let refused = client
        .get(app.url("/api/v1/webhooks"))
        .bearer_auth(&dev_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let refused = client
        .delete(app.url(&format!("/api/v1/webhooks/{id}")))
        .bearer_auth(&dev_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let deleted = client
        .delete(app.url(&format!("/api/v1/webhooks/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = client
        .get(app.url(&format!("/api/v1/webhooks/{id}/deliveries")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_email_reaches_the_person_who_asked() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let before = app.mail.messages().len();
    let sent = owner
        .browser
        .submit("/webhooks", "/webhooks/test-email", &[])
        .await;
    assert!(sent.text().await.unwrap().contains("Test email sent"));
    let mail = app.mail.wait_for(before + 1, Duration::from_secs(10));
    let last = mail.last().unwrap();
    assert_eq!(last.to, ["owner@example.com"]);
    assert!(
        last.subject()
            .unwrap()
            .contains("Test email from test-outpost")
    );
    assert!(
        app.audit()
            .iter()
            .any(|(a, o)| a == "email.test_sent" && o == "success")
    );
}
