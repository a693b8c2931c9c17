//! The Owner-only security policy page: which roles must use two-factor sign-in.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, Actor, Event, Outcome};
use crate::identity::{Role, cap, policy};
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::guard::Authorized;
use crate::web::pages::{self, Layout};

/// Owners always need a second factor: the policy can add roles, never drop this one.
const ALWAYS: Role = Role::Owner;

struct RoleChoice {
    value: &'static str,
    label: String,
    required: bool,
    locked: bool,
}

#[derive(Template)]
#[template(path = "security_policy.html")]
struct PolicyPage<'a> {
    layout: Layout<'a>,
    roles: Vec<RoleChoice>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::SecurityPolicyManage>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let required = state
        .db
        .run(|conn| policy::mfa_required_roles(conn).map_err(AppError::from))
        .await?;
    pages::html(
        &PolicyPage {
            layout: Layout::signed_in(
                &state.config().server_name,
                &csrf,
                &caller.caller,
                "/settings/security",
            ),
            roles: Role::ALL
                .iter()
                .map(|r| RoleChoice {
                    value: r.as_str(),
                    label: r.to_string(),
                    required: required.contains(r) || *r == ALWAYS,
                    locked: *r == ALWAYS,
                })
                .collect(),
            notice: pages::flash(messages.notice.as_deref(), &[("saved", "Saved.")]),
        },
        &csrf,
    )
}

#[derive(Deserialize)]
pub struct PolicyForm {
    mfa_admin: Option<String>,
    mfa_developer: Option<String>,
    mfa_viewer: Option<String>,
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SecurityPolicyManage>,
    CsrfForm(form): CsrfForm<PolicyForm>,
) -> Result<HttpResponse, AppError> {
    let mut roles = vec![ALWAYS];
    for (checked, role) in [
        (form.mfa_admin, Role::Admin),
        (form.mfa_developer, Role::Developer),
        (form.mfa_viewer, Role::Viewer),
    ] {
        if checked.is_some() {
            roles.push(role);
        }
    }
    let by = caller.user().id;
    let client = client_info(&req);
    state
        .db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                let before = policy::mfa_required_roles(conn)?;
                policy::set_mfa_required_roles(conn, &roles, by)?;
                audit::record(
                    conn,
                    &Event::new(
                        Actor::User(by),
                        "policy.mfa_roles_changed",
                        Outcome::Success,
                    )
                    .client(&client)
                    .details(json!({ "from": before, "to": roles })),
                )
            })
            .map_err(AppError::from)
        })
        .await?;
    state.scan_requests.request("config_changed");
    Ok(pages::see_other("/settings/security?notice=saved").finish())
}
