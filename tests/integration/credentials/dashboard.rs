//! The credentials pages, as people use them.

use outpost::identity::Role;
use reqwest::Response;
use uuid::Uuid;

use super::{audit_text, audited, sealed_of};
use crate::support::app::{Member, PASSWORD, TestApp};
use crate::support::canary;

/// Stores a credential through the form and returns its id.
async fn store(member: &Member, name: &str, value: &str, extra: &[(&str, &str)]) -> Uuid {
    let mut fields = vec![("name", name), ("kind", "api_key"), ("value", value)];
    fields.extend_from_slice(extra);
    let created = member
        .browser
        .submit("/credentials", "/credentials", &fields)
        .await;
    assert_eq!(created.status(), 303, "storing {name}");
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let id = location
        .strip_prefix("/credentials/")
        .and_then(|rest| rest.strip_suffix("?notice=created"))
        .unwrap_or_else(|| panic!("{location}"));
    id.parse().unwrap()
}

async fn reveal(member: &Member, id: Uuid, fields: &[(&str, &str)]) -> Response {
    let page = format!("/credentials/{id}");
    member
        .browser
        .submit(&page, &format!("{page}/reveal"), fields)
        .await
}

async fn page(member: &Member, path: &str) -> String {
    let response = member.browser.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn an_owner_reveals_only_with_a_reason_and_a_recent_reauthentication() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let device = owner.device.as_ref().unwrap();
    let value = canary::secret("sk-canary");
    let id = store(
        &owner,
        "Anthropic prod",
        &value,
        &[
            ("description", "used by the summariser"),
            ("rotate_every_days", "90"),
        ],
    )
    .await;
    assert!(sealed_of(&app.db, id).starts_with("v2:aes256gcm:"));

    let list = page(&owner, "/credentials").await;
    assert!(list.contains("Anthropic prod") && list.contains("used by the summariser"));
    assert!(list.contains("created just now"), "{list}");
    assert!(list.contains("rotation due in 90 days"), "{list}");
    assert!(list.contains(r#"href="/credentials""#), "in the navigation");
    let detail = page(&owner, &format!("/credentials/{id}")).await;
    assert!(
        detail.contains(r#"name="password""#),
        "asks to re-authenticate"
    );
    for html in [&list, &detail] {
        assert!(!html.contains(&value), "the value is never listed");
    }

    // A fresh sign-in is not a re-authentication: without password or code, refused.
    let refused = reveal(&owner, id, &[("reason", "set up the summariser")]).await;
    assert_eq!(refused.status(), 200);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("Enter your password or a two-factor code"),
        "{html}"
    );
    assert!(!html.contains(&value));

    let code = device.fresh(&app.db);
    let shown = reveal(
        &owner,
        id,
        &[("reason", "set up the summariser"), ("code", code.as_str())],
    )
    .await;
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.headers()["cache-control"], "no-store");
    let html = shown.text().await.unwrap();
    assert!(html.contains(&value), "shown on the resulting page");
    assert!(
        !html.contains(r#"name="password""#),
        "re-authenticated for a while"
    );
    assert!(
        !page(&owner, &format!("/credentials/{id}"))
            .await
            .contains(&value),
        "shown once"
    );

    // Within five minutes no further proof is needed, but a reason still is.
    let again = reveal(&owner, id, &[("reason", "second look")]).await;
    assert!(again.text().await.unwrap().contains(&value));
    let no_reason = reveal(&owner, id, &[("reason", "  ")]).await;
    let html = no_reason.text().await.unwrap();
    assert!(html.contains("Give a reason"), "{html}");
    assert!(!html.contains(&value));

    // Five minutes on, the session must prove itself again; the password will do.
    app.db.execute(&format!(
        "UPDATE sessions SET reauthenticated_at = now() - interval '6 minutes' \
         WHERE user_id = '{}'",
        owner.id
    ));
    let stale = reveal(&owner, id, &[("reason", "third look")]).await;
    assert!(!stale.text().await.unwrap().contains(&value));
    let wrong = reveal(
        &owner,
        id,
        &[("reason", "third look"), ("password", "not my password")],
    )
    .await;
    let html = wrong.text().await.unwrap();
    assert!(html.contains("The password is wrong") && !html.contains(&value));
    let by_password = reveal(
        &owner,
        id,
        &[("reason", "third look"), ("password", PASSWORD)],
    )
    .await;
    assert!(by_password.text().await.unwrap().contains(&value));

    let entries = audited(&app.db, "credential.revealed");
    let outcomes: Vec<(&str, &str)> = entries
        .iter()
        .map(|(outcome, _, _, details)| {
            (
                outcome.as_str(),
                details["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("denied", "set up the summariser"),
            ("success", "set up the summariser"),
            ("success", "second look"),
            ("denied", ""),
            ("denied", "third look"),
            ("denied", "third look"),
            ("success", "third look"),
        ]
    );
    let proofs: Vec<&str> = entries
        .iter()
        .filter(|(outcome, ..)| outcome == "success")
        .map(|(.., details)| details["reauthentication"].as_str().unwrap())
        .collect();
    assert_eq!(proofs, ["totp_code", "recent", "password"]);
    for (_, actor, target, details) in &entries {
        assert_eq!(actor, &format!("user:{}", owner.id));
        assert_eq!(target.as_deref(), Some(&*format!("credential:{id}")));
        assert_eq!(details["by"], "owner@example.com");
    }
    assert!(!audit_text(&app.db).contains(&value));
}

#[tokio::test]
async fn developers_see_metadata_but_cannot_reveal_or_change_and_viewers_see_nothing() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let value = canary::secret("sk-canary");
    let id = store(&owner, "SMTP relay", &value, &[]).await;
    let developer = app.member("dev@example.com", Role::Developer).await;
    let viewer = app.member("viewer@example.com", Role::Viewer).await;

    let list = page(&developer, "/credentials").await;
    assert!(list.contains("SMTP relay") && !list.contains(&value));
    assert!(
        !list.contains(r#"action="/credentials""#),
        "no form to store one"
    );
    let detail = page(&developer, &format!("/credentials/{id}")).await;
    assert!(!detail.contains("/reveal") && !detail.contains("/delete"));
    for action in ["reveal", "replace", "delete"] {
        let forged = developer
            .browser
            .submit(
                "/credentials",
                &format!("/credentials/{id}/{action}"),
                &[
                    ("reason", "curious"),
                    ("value", value.as_str()),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(forged.status(), 403, "{action}");
        assert_eq!(forged.headers()["content-type"], "application/problem+json");
    }

    assert_eq!(viewer.browser.get("/credentials").await.status(), 403);
    assert_eq!(
        viewer
            .browser
            .get(&format!("/credentials/{id}"))
            .await
            .status(),
        403
    );
    let home = page(&viewer, "/").await;
    assert!(
        !home.contains(r#"href="/credentials""#),
        "no link for viewers"
    );
    assert!(audited(&app.db, "credential.revealed").is_empty());
    assert_eq!(
        app.audit()
            .iter()
            .filter(|(action, outcome)| action == "access.denied" && outcome == "denied")
            .count(),
        5
    );
}

#[tokio::test]
async fn replacing_changes_the_value_and_restarts_its_age_and_deleting_removes_it() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let old = canary::secret("sk-canary");
    let id = store(&owner, "Storage", &old, &[("rotate_every_days", "30")]).await;
    let other = store(&owner, "Expiring", &canary::secret("sk-canary"), &[]).await;
    app.db.execute(&format!(
        "UPDATE stored_credentials SET created_at = now() - interval '40 days', \
         replaced_at = now() - interval '33 days' WHERE id = '{id}'"
    ));
    app.db.execute(&format!(
        "UPDATE stored_credentials SET expires_at = now() - interval '2 days' WHERE id = '{other}'"
    ));
    let list = page(&owner, "/credentials").await;
    assert!(list.contains("replaced 33 days ago"), "{list}");
    assert!(list.contains("rotation was due 3 days ago") && list.contains("Rotation due"));
    assert!(list.contains("expired 2 days ago") && list.contains(">Expired<"));

    let new = canary::secret("sk-canary");
    let replaced = owner
        .browser
        .submit(
            &format!("/credentials/{id}"),
            &format!("/credentials/{id}/replace"),
            &[("value", new.as_str()), ("expires_on", "2999-01-01")],
        )
        .await;
    assert_eq!(
        replaced.headers()["location"],
        format!("/credentials/{id}?notice=replaced").as_str()
    );
    let detail = page(&owner, &format!("/credentials/{id}")).await;
    assert!(detail.contains("replaced just now") && detail.contains(">Fresh<"));
    assert!(detail.contains("rotation due in 30 days") && detail.contains("2999-01-01"));
    let code = owner.device.as_ref().unwrap().fresh(&app.db);
    let shown = reveal(&owner, id, &[("reason", "verify"), ("code", code.as_str())]).await;
    let html = shown.text().await.unwrap();
    assert!(html.contains(&new) && !html.contains(&old));

    let empty = owner
        .browser
        .submit(
            &format!("/credentials/{id}"),
            &format!("/credentials/{id}/replace"),
            &[("value", "")],
        )
        .await;
    assert!(empty.text().await.unwrap().contains("The value is empty"));

    let deleted = owner
        .browser
        .submit(
            &format!("/credentials/{id}"),
            &format!("/credentials/{id}/delete"),
            &[],
        )
        .await;
    assert_eq!(deleted.headers()["location"], "/credentials?notice=deleted");
    assert_eq!(
        owner
            .browser
            .get(&format!("/credentials/{id}"))
            .await
            .status(),
        404
    );
    assert!(!page(&owner, "/credentials").await.contains(">Storage</a>"));
    let replaced = audited(&app.db, "credential.replaced");
    assert_eq!((replaced.len(), replaced[0].0.as_str()), (1, "success"));
    assert_eq!(
        audited(&app.db, "credential.deleted")[0].3["name"],
        "Storage"
    );
    let log = audit_text(&app.db);
    assert!(!log.contains(&old) && !log.contains(&new));
}

#[tokio::test]
async fn bad_input_on_the_form_is_explained_on_the_page() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let value = canary::secret("sk-canary");
    store(&owner, "Webhook secret", &value, &[]).await;
    let oversized = value.repeat(16 * 1024 / value.len() + 1);
    let (value, oversized) = (value.as_str(), oversized.as_str());
    for (fields, expected) in [
        (
            vec![
                ("name", "webhook SECRET"),
                ("kind", "webhook_secret"),
                ("value", value),
            ],
            "already exists",
        ),
        (
            vec![("name", "Other"), ("kind", "ssh_key"), ("value", value)],
            "is not a kind of credential",
        ),
        (
            vec![("name", "Other"), ("kind", "other"), ("value", "   ")],
            "The value is empty",
        ),
        (
            vec![("name", "Other"), ("kind", "other"), ("value", oversized)],
            "longer than 16 KiB",
        ),
        (
            vec![
                ("name", "Other"),
                ("kind", "other"),
                ("value", value),
                ("expires_on", "2001-01-01"),
            ],
            "expiry must be in the future",
        ),
    ] {
        let response = owner
            .browser
            .submit("/credentials", "/credentials", &fields)
            .await;
        assert_eq!(response.status(), 200, "{expected}");
        let html = response.text().await.unwrap();
        assert!(html.contains(expected), "{expected}: {html}");
        assert!(!html.contains(&value[10..]));
    }
    assert_eq!(
        page(&owner, "/credentials")
            .await
            .matches(r#"<a href="/credentials/"#)
            .count(),
        1
    );
}
