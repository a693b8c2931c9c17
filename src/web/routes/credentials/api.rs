//! Stored credentials over the JSON API (`/api/v1/credentials`). Metadata only, but for
//! `POST …/reveal`, which needs a reason and a fresh two-factor code of the key's owner.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::reveal::{self, Request};
use super::{create_credential, delete_credential, replace_credential, run};
use crate::credentials::{self, Credential, NewCredential, Replacement, Status};
use crate::identity::cap;
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::error::AppError;
use crate::web::guard::Authorized;

/// A credential's metadata with its status at the time of the response.
#[derive(Serialize)]
struct View<'a> {
    #[serde(flatten)]
    credential: &'a Credential,
    status: Status,
    #[serde(with = "time::serde::rfc3339::option")]
    rotation_due_at: Option<OffsetDateTime>,
}

fn view(credential: &Credential) -> View<'_> {
    View {
        credential,
        status: credential.status(OffsetDateTime::now_utc()),
        rotation_due_at: credential.rotation_due_at(),
    }
}

pub async fn list(
    state: web::Data<AppState>,
    _: Authorized<cap::CredentialsView>,
) -> Result<HttpResponse, AppError> {
    let listed = run(&state, |conn| Ok(credentials::list(conn)?)).await?;
    let views: Vec<_> = listed.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(json!({ "credentials": views })))
}

pub async fn get(
    state: web::Data<AppState>,
    _: Authorized<cap::CredentialsView>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let found = run(&state, move |conn| {
        credentials::find(conn, id)?.ok_or(AppError::NotFound)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "credential": view(&found) })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCredential)]
pub struct CreateBody {
    name: String,
    /// Parsed by the domain, so an unknown kind gets its clear error, not serde's.
    kind: String,
    #[schema(value_type = String)]
    value: SecretString,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
    #[serde(default)]
    rotate_every_days: Option<i32>,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsManage>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let new = NewCredential {
        name: body.name,
        kind: body.kind.parse()?,
        value: body.value,
        description: body.description,
        expires_at: body.expires_at,
        rotate_every_days: body.rotate_every_days,
    };
    let created = create_credential(&state, caller.user(), new, client_info(&req)).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/credentials/{}", created.id),
        ))
        .json(json!({ "credential": view(&created) })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CredentialReplacement)]
pub struct ReplaceBody {
    #[schema(value_type = String)]
    value: SecretString,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
}

pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsManage>,
    id: web::Path<Uuid>,
    body: web::Json<ReplaceBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let replacement = Replacement {
        value: body.value,
        expires_at: body.expires_at,
    };
    let replaced =
        replace_credential(&state, caller.user(), *id, replacement, client_info(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({ "credential": view(&replaced) })))
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    delete_credential(&state, caller.user(), *id, client_info(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CredentialReveal)]
pub struct RevealBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

pub async fn reveal(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsReveal>,
    id: web::Path<Uuid>,
    body: web::Json<RevealBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let ask = Request {
        reason: body.reason,
        code: body.code,
        password: None,
    };
    let value = reveal::reveal_value(&state, &caller.caller, *id, ask, client_info(&req)).await?;
    let mut response = HttpResponse::Ok().json(json!({ "value": value.expose() }));
    reveal::no_store(&mut response);
    Ok(response)
}
