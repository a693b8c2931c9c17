//! `/api/v1/credentials` with API keys.

use outpost::identity::{Capability, Role, user};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use super::{audit_text, audited};
use crate::support::app::TestApp;
use crate::support::canary;

const ALL: &[Capability] = &[
    Capability::CredentialsView,
    Capability::CredentialsManage,
    Capability::CredentialsReveal,
];

struct Client<'a> {
    app: &'a TestApp,
    key: String,
}

impl Client<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut request = reqwest::Client::new()
            .request(method, self.app.url(&format!("/api/v1/credentials{path}")))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

/// The status and body of a response that must be a problem document.
async fn problem(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn metadata_never_carries_the_value_and_bad_input_is_a_clear_problem() {
    let app = TestApp::start().await;
    let admin = user::create(&mut app.db.conn(), "admin@example.com", Role::Admin).unwrap();
    let api = Client {
        app: &app,
        key: app.api_key(admin.id, ALL),
    };
    let value = canary::secret("sk-canary");
    let created = api
        .send(
            Method::POST,
            "",
            Some(json!({
                "name": "OpenAI batch",
                "kind": "api_key",
                "value": value,
                "description": "nightly batch jobs",
                "rotate_every_days": 30,
                "expires_at": "2999-01-01T00:00:00Z",
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let body = created.text().await.unwrap();
    assert!(!body.contains(&value), "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let id = body["credential"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["credential"]["kind"], "api_key");
    assert_eq!(body["credential"]["status"], "fresh");
    assert!(body["credential"]["rotation_due_at"].is_string());
    assert!(body["credential"].get("value_sealed").is_none());

    for path in ["".to_owned(), format!("/{id}")] {
        let response = api.send(Method::GET, &path, None).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(
            text.contains("OpenAI batch") && !text.contains(&value),
            "{text}"
        );
    }

    let oversized = value.repeat(16 * 1024 / value.len() + 1);
    let create = |body: Value| api.send(Method::POST, "", Some(body));
    for (body, status, detail) in [
        (
            json!({ "name": "openai BATCH", "kind": "api_key", "value": value }),
            409,
            "already exists",
        ),
        (
            json!({ "name": "x", "kind": "ssh_key", "value": value }),
            422,
            "`ssh_key` is not a kind of credential; use one of `oauth_token`",
        ),
        (
            json!({ "name": "x", "kind": "other", "value": "" }),
            422,
            "The value is empty.",
        ),
        (
            json!({ "name": "x", "kind": "other", "value": oversized }),
            422,
            "longer than 16 KiB",
        ),
        (
            json!({ "name": "x", "kind": "other", "value": value, "rotate_every_days": 0 }),
            422,
            "between 1 and 3650 days",
        ),
        (
            json!({ "name": "", "kind": "other", "value": value }),
            422,
            "a name must be 1 to 100",
        ),
        (
            json!({ "name": "x", "kind": "other", "value": value, "colour": "red" }),
            400,
            "unknown field `colour`",
        ),
    ] {
        let (got, problem) = problem(create(body).await).await;
        assert_eq!(got, status, "{problem}");
        let text = problem["detail"].as_str().unwrap();
        assert!(
            text.to_lowercase().contains(&detail.to_lowercase()),
            "{detail}: {text}"
        );
        assert!(!text.contains(&value[10..]));
    }
    let listed: Value = api.send(Method::GET, "", None).await.json().await.unwrap();
    assert_eq!(listed["credentials"].as_array().unwrap().len(), 1);

    // A value past its expiry reads as expired.
    app.db.execute(&format!(
        "UPDATE stored_credentials SET expires_at = now() - interval '1 hour' WHERE id = '{id}'"
    ));
    let one: Value = api
        .send(Method::GET, &format!("/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["credential"]["status"], "expired");

    let new = canary::secret("sk-canary");
    let replaced = api
        .send(
            Method::PUT,
            &format!("/{id}"),
            Some(json!({ "value": new })),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["credential"]["status"], "fresh");
    assert!(replaced["credential"]["expires_at"].is_null());
    assert_ne!(
        replaced["credential"]["replaced_at"],
        replaced["credential"]["created_at"]
    );

    let gone = api.send(Method::DELETE, &format!("/{id}"), None).await;
    assert_eq!(gone.status(), 204);
    let (status, _) = problem(api.send(Method::DELETE, &format!("/{id}"), None).await).await;
    assert_eq!(status, 404);
    let (status, _) = problem(api.send(Method::GET, &format!("/{id}"), None).await).await;
    assert_eq!(status, 404);
    let log = audit_text(&app.db);
    assert!(!log.contains(&value) && !log.contains(&new));
    for action in [
        "credential.created",
        "credential.replaced",
        "credential.deleted",
    ] {
        assert_eq!(audited(&app.db, action).len(), 1, "{action}");
    }
}

#[tokio::test]
async fn an_api_reveal_needs_a_reason_and_a_fresh_code_of_the_keys_owner() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let device = owner.device.as_ref().unwrap();
    let api = Client {
        app: &app,
        key: app.api_key(owner.id, ALL),
    };
    let value = canary::secret("sk-canary");
    let created: Value = api
        .send(
            Method::POST,
            "",
            Some(json!({ "name": "GitHub app", "kind": "oauth_token", "value": value })),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["credential"]["id"].as_str().unwrap().to_owned();
    let path = format!("/{id}/reveal");
    let reveal = |body: Value| api.send(Method::POST, &path, Some(body));

    let (status, body) = problem(reveal(json!({ "reason": "deploy" })).await).await;
    assert_eq!(status, 403);
    assert!(
        body["detail"].as_str().unwrap().contains("`code`"),
        "{body}"
    );
    let code = device.fresh(&app.db);
    let (status, body) = problem(reveal(json!({ "code": code })).await).await;
    assert_eq!(status, 422);
    assert!(
        body["detail"].as_str().unwrap().contains("reason"),
        "{body}"
    );
    let (status, _) = problem(reveal(json!({ "reason": "deploy", "code": "000000" })).await).await;
    assert_eq!(status, 403);

    let code = device.fresh(&app.db);
    let shown = reveal(json!({ "reason": "deploy", "code": code })).await;
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.headers()["cache-control"], "no-store");
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(shown["value"], value.as_str());
    let (status, body) = problem(reveal(json!({ "reason": "again", "code": code })).await).await;
    assert_eq!(status, 403, "a code works once: {body}");

    let entries = audited(&app.db, "credential.revealed");
    let summary: Vec<(&str, Value)> = entries
        .iter()
        .map(|(outcome, _, _, details)| (outcome.as_str(), details["reason"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("denied", json!("deploy")),
            ("denied", json!(null)),
            ("denied", json!("deploy")),
            ("success", json!("deploy")),
            ("denied", json!("again")),
        ]
    );
    assert_eq!(entries[3].3["by"], "owner@example.com");
    assert_eq!(entries[3].3["reauthentication"], "totp_code");

    // A value copied from another row does not open.
    let second: Value = api
        .send(
            Method::POST,
            "",
            Some(json!({ "name": "GitLab", "kind": "oauth_token", "value": canary::secret("sk-canary") })),
        )
        .await
        .json()
        .await
        .unwrap();
    let second = second["credential"]["id"].as_str().unwrap().to_owned();
    app.db.execute(&format!(
        "UPDATE stored_credentials SET value_sealed = \
         (SELECT value_sealed FROM stored_credentials WHERE id = '{id}') WHERE id = '{second}'"
    ));
    let code = device.fresh(&app.db);
    let copied = api
        .send(
            Method::POST,
            &format!("/{second}/reveal"),
            Some(json!({ "reason": "copy", "code": code })),
        )
        .await;
    let (status, body) = problem(copied).await;
    assert_eq!(status, 500);
    assert!(!body.to_string().contains(&value));
    assert!(!audit_text(&app.db).contains(&value));
}

#[tokio::test]
async fn developers_list_with_a_key_but_cannot_reveal_and_viewers_cannot_list() {
    let app = TestApp::start().await;
    let mut conn = app.db.conn();
    let developer = user::create(&mut conn, "dev@example.com", Role::Developer).unwrap();
    let viewer = user::create(&mut conn, "viewer@example.com", Role::Viewer).unwrap();
    let owner = user::create(&mut conn, "owner@example.com", Role::Owner).unwrap();
    drop(conn);
    let owner_api = Client {
        app: &app,
        key: app.api_key(owner.id, ALL),
    };
    let created: Value = owner_api
        .send(
            Method::POST,
            "",
            Some(json!({ "name": "S3 backups", "kind": "storage_key", "value": canary::secret("sk-canary") })),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["credential"]["id"].as_str().unwrap().to_owned();

    let dev = Client {
        app: &app,
        key: app.api_key(developer.id, &Role::Developer.capabilities()),
    };
    assert_eq!(dev.send(Method::GET, "", None).await.status(), 200);
    for (method, path, body) in [
        (
            Method::POST,
            format!("/{id}/reveal"),
            Some(json!({ "reason": "x", "code": "123456" })),
        ),
        (Method::PUT, format!("/{id}"), Some(json!({ "value": "x" }))),
        (Method::DELETE, format!("/{id}"), None),
    ] {
        let (status, body) = problem(dev.send(method, &path, body).await).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["type"], "urn:outpost:problem:forbidden");
    }
    let viewer_api = Client {
        app: &app,
        key: app.api_key(viewer.id, &Role::Viewer.capabilities()),
    };
    let reveal = Some(json!({ "reason": "x", "code": "123456" }));
    let path = format!("/{id}/reveal");
    let (status, _) = problem(viewer_api.send(Method::POST, &path, reveal).await).await;
    assert_eq!(status, 403);
    let (status, body) = problem(viewer_api.send(Method::GET, "", None).await).await;
    assert_eq!(status, 403);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("credentials.view")
    );
}
