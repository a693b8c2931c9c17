//! Every role against every capability, through the one guard; and representative
//! dashboard routes per role.

use actix_web::HttpResponse;
use outpost::identity::{Capability, Role, cap, user};
use outpost::web::guard::Authorized;
use outpost::web::routes::{Access, Routes};

use crate::support::app::TestApp;

/// One test-only route per capability, each behind the real `Authorized` guard.
macro_rules! capability_routes {
    ($($variant:ident),+ $(,)?) => {
        fn capability_routes(routes: &mut Routes) {
            $(
                routes.get(
                    concat!("/api/test-capability/", stringify!($variant)),
                    Access::SignedIn,
                    |_: Authorized<cap::$variant>| async { HttpResponse::Ok().finish() },
                );
            )+
        }
        const ROUTED: &[(&str, Capability)] = &[$((stringify!($variant), Capability::$variant)),+];
    };
}

capability_routes!(
    DashboardView,
    FindingsView,
    AuditView,
    TeamView,
    MetricsView,
    ApiKeysManage,
    IntegrationsManage,
    AgentsDeploy,
    WebhooksManage,
    BackupsManage,
    HardeningManage,
    CredentialsView,
    CredentialsManage,
    CredentialsReveal,
    SettingsManage,
    DiagnosticsView,
    TeamManage,
    SecurityPolicyManage,
    RoleGrantsApprove,
    BillingManage,
    DataExport,
    OrganisationDelete,
);

#[tokio::test]
async fn every_role_gets_exactly_its_capabilities() {
    assert_eq!(
        ROUTED.len(),
        Capability::ALL.len(),
        "a route for every capability"
    );
    let app = TestApp::start_with(|_| {}, Some(capability_routes)).await;
    let client = reqwest::Client::new();
    let mut denials = 0;
    for role in Role::ALL {
        let member = user::create(
            &mut app.db.conn(),
            &format!("{}@example.com", role.as_str()),
            *role,
        )
        .unwrap();
        // A key holding everything the role may hold.
        let key = app.api_key(member.id, &role.capabilities());
        for (name, capability) in ROUTED {
            let response = client
                .get(app.url(&format!("/api/test-capability/{name}")))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            if capability.granted_to(*role) {
                assert_eq!(response.status(), 200, "{role:?} should have {capability}");
            } else {
                denials += 1;
                assert_eq!(
                    response.status(),
                    403,
                    "{role:?} must not have {capability}"
                );
                assert_eq!(
                    response.headers()["content-type"],
                    "application/problem+json"
                );
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["type"], "urn:outpost:problem:forbidden");
                assert!(
                    body["detail"]
                        .as_str()
                        .unwrap()
                        .contains(capability.as_str())
                );
            }
        }
    }
    let audited = app
        .audit()
        .iter()
        .filter(|(a, o)| a == "access.denied" && o == "denied")
        .count();
    assert_eq!(audited, denials, "every refusal is audited");
    assert!(denials > 0);
}

#[tokio::test]
async fn a_key_holds_only_what_it_was_given() {
    let app = TestApp::start_with(|_| {}, Some(capability_routes)).await;
    let owner = user::create(&mut app.db.conn(), "owner@example.com", Role::Owner).unwrap();
    let key = app.api_key(owner.id, &[Capability::TeamView]);
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(app.url(path)).bearer_auth(&key).send();
    assert_eq!(
        get("/api/test-capability/TeamView").await.unwrap().status(),
        200
    );
    assert_eq!(
        get("/api/test-capability/DataExport")
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn api_requests_without_a_valid_key_are_401_problems() {
    let app = TestApp::start_with(|_| {}, Some(capability_routes)).await;
    let client = reqwest::Client::new();
    for auth in [None, Some("Bearer nonsense"), Some("Basic dXNlcjpwYXNz")] {
        let mut request = client.get(app.url("/api/test-capability/DashboardView"));
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}

#[tokio::test]
async fn dashboard_routes_follow_the_role_table() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    assert!(admin.device.is_some(), "Admins must enrol by default");
    let developer = app.member("dev@example.com", Role::Developer).await;
    assert!(
        developer.device.is_none(),
        "Developers need not, by default"
    );
    let viewer = app.member("viewer@example.com", Role::Viewer).await;

    for member in [&owner, &admin, &developer, &viewer] {
        for page in ["/", "/team", "/keys", "/account"] {
            assert_eq!(
                member.browser.get(page).await.status(),
                200,
                "{} {page}",
                member.email
            );
        }
    }
    assert_eq!(owner.browser.get("/settings/security").await.status(), 200);
    for member in [&admin, &developer, &viewer] {
        let status = member.browser.get("/settings/security").await.status();
        assert_eq!(status, 403, "{}", member.email);
    }

    for (member, allowed) in [
        (&owner, true),
        (&admin, true),
        (&developer, false),
        (&viewer, false),
    ] {
        let invitee = format!("invitee-of-{}", member.email);
        let response = member
            .browser
            .submit(
                "/team",
                "/team/invitations",
                &[("email", invitee.as_str()), ("role", "viewer")],
            )
            .await;
        if allowed {
            assert!(
                response.status().is_success() || response.status() == 303,
                "{}: {}",
                member.email,
                response.status()
            );
        } else {
            // The form is not even shown to them; a forged post is refused.
            assert_eq!(response.status(), 403, "{}", member.email);
        }
    }
}
