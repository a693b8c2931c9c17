//! Team management end to end, with a real SMTP server receiving the mail.

use std::time::Duration;

use outpost::identity::{Capability, Role, user};

use crate::support::app::{PASSWORD, TestApp};

const WAIT: Duration = Duration::from_secs(10);

fn role_of(app: &TestApp, email: &str) -> Role {
    user::find_by_email(&mut app.db.conn(), email)
        .unwrap()
        .unwrap()
        .role
}

/// The first link to this server in an email body.
fn link_in(body: &str, base: &str) -> String {
    let start = body.find(base).expect("a link in the email");
    let end = body[start..]
        .find(char::is_whitespace)
        .map_or(body.len(), |e| start + e);
    body[start + base.len()..end].to_owned()
}

#[tokio::test]
async fn an_invitee_joins_by_the_emailed_link_and_signs_in() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let sent = owner
        .browser
        .submit(
            "/team",
            "/team/invitations",
            &[("email", "New.Dev@Example.com"), ("role", "developer")],
        )
        .await;
    assert_eq!(sent.headers()["location"], "/team?notice=invited");

    let mail = app.mail.wait_for(1, WAIT);
    let invite = mail
        .iter()
        .find(|m| m.to == ["new.dev@example.com"])
        .expect("invitation mailed");
    assert!(invite.body().contains("owner@example.com") && invite.body().contains("Developer"));
    let link = link_in(&invite.body(), &app.url(""));
    assert!(link.starts_with("/invite/"), "{link}");

    let newcomer = app.browser();
    let page = newcomer.get(&link).await.text().await.unwrap();
    assert!(page.contains("new.dev@example.com") && page.contains("Developer"));
    let joined = newcomer
        .submit(
            &link,
            &link,
            &[("password", PASSWORD), ("confirm", PASSWORD)],
        )
        .await;
    assert_eq!(joined.headers()["location"], "/login?notice=setup_complete");
    assert_eq!(
        newcomer.get(&link).await.status(),
        410,
        "an invitation works once"
    );

    // The Owner now requires two-factor sign-in for Developers too.
    let policy = owner
        .browser
        .submit(
            "/settings/security",
            "/settings/security",
            &[("mfa_developer", "on")],
        )
        .await;
    assert_eq!(
        policy.headers()["location"],
        "/settings/security?notice=saved"
    );

    let signed_in = newcomer.sign_in("new.dev@example.com", PASSWORD).await;
    assert_eq!(signed_in.headers()["location"], "/");
    assert_eq!(
        newcomer.get("/").await.headers()["location"],
        "/account/mfa",
        "must enrol first"
    );
    let device = app
        .enrol_mfa(&newcomer, app.user_id("new.dev@example.com"))
        .await;
    assert_eq!(newcomer.get("/").await.status(), 200);
    assert_eq!(role_of(&app, "new.dev@example.com"), Role::Developer);

    // From now on their sign-in takes the second step.
    let later = app.browser();
    let first_step = later.sign_in("new.dev@example.com", PASSWORD).await;
    assert_eq!(first_step.headers()["location"], "/login/mfa");
    let code = device.fresh(&app.db);
    let done = later
        .submit("/login/mfa", "/login/mfa", &[("code", code.as_str())])
        .await;
    assert_eq!(done.headers()["location"], "/");
    assert_eq!(later.get("/").await.status(), 200);
    let actions: Vec<String> = app.audit().into_iter().map(|(a, _)| a).collect();
    assert!(
        actions.contains(&"team.invited".into())
            && actions.contains(&"team.invitation_accepted".into())
    );
}

#[tokio::test]
async fn an_admin_invitation_waits_for_an_owner_and_owners_are_told() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let admin = app.member("admin@example.com", Role::Admin).await;

    let asked = admin
        .browser
        .submit(
            "/team",
            "/team/invitations",
            &[("email", "boss@example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(
        asked.headers()["location"],
        "/team?notice=awaiting_approval"
    );
    let mail = app.mail.wait_for(1, WAIT);
    assert!(
        mail.iter().all(|m| m.to != ["boss@example.com"]),
        "no link before approval"
    );
    let request = mail
        .iter()
        .find(|m| m.to == ["owner@example.com"])
        .expect("owner asked to approve");
    assert!(
        request.body().contains("boss@example.com") && request.body().contains("admin@example.com")
    );

    // The admin cannot approve it; the owner can.
    let team_page = owner.browser.get("/team").await.text().await.unwrap();
    let grant = team_page
        .split("/team/grants/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let by_admin = admin
        .browser
        .submit("/team", &format!("/team/grants/{grant}/approve"), &[])
        .await;
    assert_eq!(by_admin.status(), 403);
    let approved = owner
        .browser
        .submit("/team", &format!("/team/grants/{grant}/approve"), &[])
        .await;
    assert_eq!(approved.headers()["location"], "/team?notice=approved");

    let mail = app.mail.wait_for(3, WAIT);
    let invite = mail
        .iter()
        .find(|m| m.to == ["boss@example.com"])
        .expect("invitation sent after approval");
    let link = link_in(&invite.body(), &app.url(""));
    let boss = app.browser();
    boss.submit(
        &link,
        &link,
        &[("password", PASSWORD), ("confirm", PASSWORD)],
    )
    .await;
    assert_eq!(role_of(&app, "boss@example.com"), Role::Admin);
}

#[tokio::test]
async fn the_only_owner_raises_someone_only_after_reentering_password_and_code() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let developer = app.member("dev@example.com", Role::Developer).await;
    let action = format!("/team/members/{}/role", developer.id);

    let bare = owner
        .browser
        .submit("/team", &action, &[("role", "admin")])
        .await;
    assert_eq!(bare.status(), 403);
    let body: serde_json::Value = bare.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("only Owner"),
        "{body}"
    );
    assert_eq!(role_of(&app, "dev@example.com"), Role::Developer);

    let wrong = owner
        .browser
        .submit(
            "/team",
            &action,
            &[
                ("role", "admin"),
                ("password", "not my password!"),
                ("code", "123456"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(role_of(&app, "dev@example.com"), Role::Developer);

    let code = owner.device.as_ref().unwrap().fresh(&app.db);
    let confirmed = owner
        .browser
        .submit(
            "/team",
            &action,
            &[
                ("role", "admin"),
                ("password", PASSWORD),
                ("code", code.as_str()),
            ],
        )
        .await;
    assert_eq!(confirmed.headers()["location"], "/team?notice=role_changed");
    assert_eq!(role_of(&app, "dev@example.com"), Role::Admin);
    let alerts = app.mail.wait_for(1, WAIT);
    assert!(
        alerts
            .iter()
            .any(|m| m.to == ["owner@example.com"] && m.body().contains("dev@example.com"))
    );

    // Lowering a role needs no approval.
    let lowered = owner
        .browser
        .submit("/team", &action, &[("role", "viewer")])
        .await;
    assert_eq!(lowered.headers()["location"], "/team?notice=role_changed");
    assert_eq!(role_of(&app, "dev@example.com"), Role::Viewer);
}

#[tokio::test]
async fn with_two_owners_the_requester_cannot_approve_their_own_request() {
    let app = TestApp::start().await;
    let first = app.owner("first@example.com").await;
    let second = app.member("second@example.com", Role::Owner).await;
    let developer = app.member("dev@example.com", Role::Developer).await;

    let asked = first
        .browser
        .submit(
            "/team",
            &format!("/team/members/{}/role", developer.id),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(
        asked.headers()["location"],
        "/team?notice=awaiting_approval"
    );
    let page = first.browser.get("/team").await.text().await.unwrap();
    assert!(page.contains("Another Owner decides"));
    let grant = app
        .db
        .execute("SELECT 1 FROM role_grants WHERE status = 'pending'");
    assert_eq!(grant, 1);
    let id: uuid::Uuid = {
        use diesel::prelude::*;
        outpost::db::schema::role_grants::table
            .select(outpost::db::schema::role_grants::id)
            .first(&mut app.db.conn())
            .unwrap()
    };
    let own = first
        .browser
        .submit("/team", &format!("/team/grants/{id}/approve"), &[])
        .await;
    assert_eq!(own.status(), 403);
    assert_eq!(role_of(&app, "dev@example.com"), Role::Developer);
    let other = second
        .browser
        .submit("/team", &format!("/team/grants/{id}/approve"), &[])
        .await;
    assert_eq!(other.headers()["location"], "/team?notice=approved");
    assert_eq!(role_of(&app, "dev@example.com"), Role::Owner);
}

#[tokio::test]
async fn a_removed_member_is_locked_out_at_their_next_request() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let developer = app.member("dev@example.com", Role::Developer).await;
    let key = app.api_key(developer.id, &[Capability::DashboardView]);
    let client = reqwest::Client::new();
    let me = || client.get(app.url("/api/v1/me")).bearer_auth(&key).send();
    assert_eq!(me().await.unwrap().status(), 200);
    assert_eq!(developer.browser.get("/").await.status(), 200);

    let removed = owner
        .browser
        .submit(
            "/team",
            &format!("/team/members/{}/remove", developer.id),
            &[],
        )
        .await;
    assert_eq!(removed.headers()["location"], "/team?notice=removed");
    assert_eq!(
        developer.browser.get("/").await.headers()["location"],
        "/login"
    );
    assert_eq!(me().await.unwrap().status(), 401);
}

#[tokio::test]
async fn admins_cannot_touch_owners_and_nobody_acts_on_themselves() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    let on_owner = admin
        .browser
        .submit("/team", &format!("/team/members/{}/remove", owner.id), &[])
        .await;
    assert_eq!(on_owner.status(), 403);
    let self_demote = owner
        .browser
        .submit(
            "/team",
            &format!("/team/members/{}/role", owner.id),
            &[("role", "viewer")],
        )
        .await;
    assert_eq!(self_demote.status(), 403);
    assert_eq!(role_of(&app, "owner@example.com"), Role::Owner);
    let denied = app
        .audit()
        .into_iter()
        .filter(|(a, o)| a == "access.denied" && o == "denied")
        .count();
    assert_eq!(denied, 2, "both refusals audited");
}
