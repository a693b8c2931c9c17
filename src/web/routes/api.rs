//! The JSON API under `/api/v1`, authenticated by API keys (`Authorization: Bearer`).
//! Each endpoint needs one capability, checked by the same guard as the dashboard.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::{create_key, revoke_key, rotate_key};
use super::team::run_as;
use crate::identity::api_keys::{self, NewKey};
use crate::identity::team::{self, RoleChange};
use crate::identity::{Capability, Role, cap, session};
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller, Via};

/// Who the key belongs to and what it may do right now.
pub async fn me(caller: Caller) -> HttpResponse {
    let key = match caller.via {
        Via::ApiKey { id } => Some(id),
        Via::Session { .. } => None,
    };
    HttpResponse::Ok().json(json!({
        "user": caller.user,
        "capabilities": caller.capabilities,
        "api_key": key,
    }))
}

pub async fn team(
    state: web::Data<AppState>,
    _: Authorized<cap::TeamView>,
) -> Result<HttpResponse, AppError> {
    let overview = state
        .db
        .run(|conn| team::overview(conn).map_err(AppError::from))
        .await?;
    Ok(HttpResponse::Ok().json(overview))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    email: String,
    role: Role,
}

/// Invites over the API never carry a re-authentication, so Owner and Admin
/// invitations always wait for a second Owner.
pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::TeamManage>,
    body: web::Json<InviteBody>,
) -> Result<HttpResponse, AppError> {
    let InviteBody { email, role } = body.into_inner();
    let ttl = state.config().session.invitation_ttl;
    let outcome = run_as(&state, &req, caller.user(), move |conn, actor, client| {
        team::invite(conn, actor, &email, role, ttl, false, client)
    })
    .await?;
    let status = if outcome.grant.is_some() {
        "awaiting_approval"
    } else {
        "created"
    };
    let link = outcome
        .link_token
        .map(|t| format!("{}/invite/{}", state.config().base_url(), t.expose()));
    Ok(HttpResponse::Created().json(json!({
        "invitation": outcome.invitation,
        "status": status,
        "role_grant": outcome.grant,
        "link": link,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: Role,
}

pub async fn change_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::TeamManage>,
    member: web::Path<Uuid>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, AppError> {
    let (member_id, role) = (member.into_inner(), body.role);
    let change = run_as(&state, &req, caller.user(), move |conn, actor, client| {
        team::change_role(conn, actor, member_id, role, false, client)
    })
    .await?;
    Ok(match change {
        RoleChange::Applied(user) => HttpResponse::Ok().json(json!({ "member": user })),
        RoleChange::Pending { grant } => HttpResponse::Accepted()
            .json(json!({ "status": "awaiting_approval", "role_grant": grant })),
    })
}

pub async fn remove_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::TeamManage>,
    member: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let member = member.into_inner();
    run_as(&state, &req, caller.user(), move |conn, actor, client| {
        team::remove_member(conn, actor, member, client)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The key owner's browser sessions.
pub async fn sessions(
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
) -> Result<HttpResponse, AppError> {
    let user_id = caller.user().id;
    let policy = state.session_policy();
    let list = state
        .db
        .run(move |conn| session::list_for_user(conn, user_id, &policy).map_err(AppError::from))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "sessions": list })))
}

pub async fn revoke_session(
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let user_id = caller.user().id;
    let id = id.into_inner();
    let ended = state
        .db
        .run(move |conn| session::revoke_by_id(conn, user_id, id).map_err(AppError::from))
        .await?;
    if ended {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn keys(
    state: web::Data<AppState>,
    caller: Authorized<cap::ApiKeysManage>,
) -> Result<HttpResponse, AppError> {
    let user_id = caller.user().id;
    let list = state
        .db
        .run(move |conn| api_keys::list_for_user(conn, user_id).map_err(AppError::from))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "api_keys": list })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    name: String,
    capabilities: Vec<Capability>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
}

/// A key created with a key can hold no more than the creating key itself.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::ApiKeysManage>,
    body: web::Json<NewKeyBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    if let Some(beyond) = body.capabilities.iter().find(|c| !caller.caller.can(**c)) {
        return Err(AppError::Forbidden(*beyond));
    }
    let new = NewKey {
        name: body.name,
        capabilities: body.capabilities,
        expires_at: body.expires_at,
    };
    let (key, secret) = create_key(&state, caller.user(), new, client_info(&req)).await?;
    Ok(HttpResponse::Created().json(json!({ "api_key": key, "secret": secret.expose() })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    #[serde(default)]
    grace_seconds: u64,
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::ApiKeysManage>,
    key: web::Path<Uuid>,
    body: web::Json<RotateBody>,
) -> Result<HttpResponse, AppError> {
    let grace = Duration::from_secs(body.grace_seconds);
    let (key, secret) = rotate_key(
        &state,
        caller.user(),
        key.into_inner(),
        grace,
        client_info(&req),
    )
    .await?;
    Ok(HttpResponse::Created().json(json!({ "api_key": key, "secret": secret.expose() })))
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::ApiKeysManage>,
    key: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    revoke_key(&state, caller.user(), key.into_inner(), client_info(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}
