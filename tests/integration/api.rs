//! The JSON API with API keys: identity, scoping, expiry, revocation, rotation.

use outpost::identity::{Capability, Role, user};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::canary;

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn me_reports_the_keys_owner_and_its_capabilities() {
    let app = TestApp::start().await;
    let admin = user::create(&mut app.db.conn(), "admin@example.com", Role::Admin).unwrap();
    let key = app.api_key(
        admin.id,
        &[Capability::TeamView, Capability::HardeningManage],
    );
    let response = client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "admin@example.com");
    assert_eq!(
        body["capabilities"],
        json!(["team.view", "hardening.manage"])
    );

    // Demote the creator: the key shrinks with them at once.
    app.db.execute(&format!(
        "UPDATE users SET role = 'developer' WHERE id = '{}'",
        admin.id
    ));
    let body: Value = client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["capabilities"], json!(["team.view"]));
}

#[tokio::test]
async fn keys_created_through_the_api_never_exceed_their_creator() {
    let app = TestApp::start().await;
    let viewer = user::create(&mut app.db.conn(), "viewer@example.com", Role::Viewer).unwrap();
    let key = app.api_key(
        viewer.id,
        &[Capability::ApiKeysManage, Capability::TeamView],
    );
    let create = |caps: Value| {
        client()
            .post(app.url("/api/v1/keys"))
            .bearer_auth(&key)
            .json(&json!({ "name": "ci", "capabilities": caps }))
            .send()
    };
    let beyond_role = create(json!(["webhooks.manage"])).await.unwrap();
    assert_eq!(beyond_role.status(), 403);
    let beyond_key = create(json!(["audit.view"])).await.unwrap();
    assert_eq!(
        beyond_key.status(),
        403,
        "not more than the creating key either"
    );
    let unknown = create(json!(["root.everything"])).await.unwrap();
    assert_eq!(unknown.status(), 400);

    let created = create(json!(["team.view"])).await.unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap();
    canary::record(secret);
    assert!(secret.starts_with("opk_") && secret.len() == 40, "{secret}");
    let stored = app.db.execute(&format!(
        "SELECT 1 FROM api_keys WHERE key_hash = sha256('{secret}'::bytea)"
    ));
    assert_eq!(stored, 1, "only the SHA-256 is stored");
    let as_text = app.db.execute(&format!(
        "SELECT 1 FROM api_keys t WHERE t::text LIKE '%{}%'",
        &secret[4..]
    ));
    assert_eq!(as_text, 0, "the key itself appears nowhere in the row");
}

#[tokio::test]
async fn a_mistyped_key_is_refused_by_its_checksum() {
    let app = TestApp::start().await;
    let owner = user::create(&mut app.db.conn(), "owner@example.com", Role::Owner).unwrap();
    let key = app.api_key(owner.id, &[Capability::DashboardView]);
    let mut typo: Vec<char> = key.chars().collect();
    typo[10] = if typo[10] == 'a' { 'b' } else { 'a' };
    let typo: String = typo.into_iter().collect();
    assert!(
        !outpost::identity::api_keys::is_well_formed(&typo),
        "the checksum catches it offline"
    );
    let response = client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&typo)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn expired_and_revoked_keys_stop_working() {
    let app = TestApp::start().await;
    let owner = user::create(&mut app.db.conn(), "owner@example.com", Role::Owner).unwrap();
    let expiring = app.api_key(owner.id, &[Capability::DashboardView]);
    let revoking = app.api_key(owner.id, &[Capability::ApiKeysManage]);
    let me = |key: &str| {
        client()
            .get(app.url("/api/v1/me"))
            .bearer_auth(key.to_owned())
            .send()
    };
    assert_eq!(me(&expiring).await.unwrap().status(), 200);
    app.db.execute(&format!(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_hash = sha256('{expiring}'::bytea)"
    ));
    assert_eq!(me(&expiring).await.unwrap().status(), 401);

    let list: Value = client()
        .get(app.url("/api/v1/keys"))
        .bearer_auth(&revoking)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["capabilities"] == json!(["api_keys.manage"]))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let last_used = &list["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()["last_used_at"];
    assert!(last_used.is_string(), "last use recorded: {last_used}");
    let deleted = client()
        .delete(app.url(&format!("/api/v1/keys/{id}")))
        .bearer_auth(&revoking)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(me(&revoking).await.unwrap().status(), 401);
    assert!(
        app.audit()
            .contains(&("api_key.revoked".into(), "success".into()))
    );
}

#[tokio::test]
async fn a_rotated_key_keeps_working_through_its_grace_period_only() {
    let app = TestApp::start().await;
    let owner = user::create(&mut app.db.conn(), "owner@example.com", Role::Owner).unwrap();
    let old = app.api_key(
        owner.id,
        &[Capability::ApiKeysManage, Capability::DashboardView],
    );
    let list: Value = client()
        .get(app.url("/api/v1/keys"))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["api_keys"][0]["id"].as_str().unwrap().to_owned();
    let rotated = client()
        .post(app.url(&format!("/api/v1/keys/{id}/rotate")))
        .bearer_auth(&old)
        .json(&json!({ "grace_seconds": 3600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 201);
    let body: Value = rotated.json().await.unwrap();
    let new = body["secret"].as_str().unwrap().to_owned();
    canary::record(&new);
    let me = |key: &str| {
        client()
            .get(app.url("/api/v1/me"))
            .bearer_auth(key.to_owned())
            .send()
    };
    assert_eq!(me(&new).await.unwrap().status(), 200);
    assert_eq!(
        me(&old).await.unwrap().status(),
        200,
        "old key works during the grace period"
    );
    // The grace period passes.
    app.db.execute(&format!(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = '{id}'"
    ));
    assert_eq!(me(&old).await.unwrap().status(), 401);
    assert_eq!(me(&new).await.unwrap().status(), 200);
}

#[tokio::test]
async fn team_endpoints_follow_capabilities() {
    let app = TestApp::start().await;
    let owner = user::create(&mut app.db.conn(), "owner@example.com", Role::Owner).unwrap();
    let viewer = user::create(&mut app.db.conn(), "viewer@example.com", Role::Viewer).unwrap();
    let owner_key = app.api_key(owner.id, &[Capability::TeamView, Capability::TeamManage]);
    let viewer_key = app.api_key(viewer.id, &[Capability::TeamView]);

    let team: Value = client()
        .get(app.url("/api/v1/team"))
        .bearer_auth(&viewer_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(team["members"].as_array().unwrap().len(), 2);
    let invite = |key: &str, role: &str| {
        client()
            .post(app.url("/api/v1/team/invitations"))
            .bearer_auth(key.to_owned())
            .json(&json!({ "email": format!("new-{role}@example.com"), "role": role }))
            .send()
    };
    assert_eq!(invite(&viewer_key, "viewer").await.unwrap().status(), 403);
    let created = invite(&owner_key, "developer").await.unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["status"], "created");
    let privileged = invite(&owner_key, "admin").await.unwrap();
    assert_eq!(
        privileged.status(),
        403,
        "a sole Owner cannot re-authenticate over the API"
    );

    let demote = client()
        .patch(app.url(&format!("/api/v1/team/members/{}", viewer.id)))
        .bearer_auth(&owner_key)
        .json(&json!({ "role": "developer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 200);
    let bad_role = client()
        .patch(app.url(&format!("/api/v1/team/members/{}", viewer.id)))
        .bearer_auth(&owner_key)
        .json(&json!({ "role": "superuser" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_role.status(), 400);
    assert_eq!(
        bad_role.headers()["content-type"],
        "application/problem+json"
    );
}
