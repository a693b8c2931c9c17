//! Webhook endpoints over the JSON API (`/api/v1/webhooks`), for keys with
//! `webhooks:manage`. The secret is in the creation's answer only.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{change, create_endpoint};
use crate::identity::cap;
use crate::notify::webhooks::{NewEndpoint, endpoints, outbox};
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::error::AppError;
use crate::web::guard::Authorized;

/// Deliveries listed per endpoint, newest first.
const DELIVERIES: i64 = 100;

pub async fn list(
    state: web::Data<AppState>,
    _: Authorized<cap::WebhooksManage>,
) -> Result<HttpResponse, AppError> {
    let listed = state
        .db
        .run(|conn| endpoints::list(conn).map_err(AppError::from))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "webhooks": listed })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewWebhook)]
pub struct CreateBody {
    url: String,
    #[serde(default)]
    description: String,
    events: Vec<String>,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::WebhooksManage>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let new = NewEndpoint {
        url: body.url,
        description: body.description,
        events: body.events,
    };
    let (endpoint, secret) = create_endpoint(&state, caller.user(), new, client_info(&req)).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/webhooks/{}", endpoint.id),
        ))
        .json(json!({ "webhook": endpoint, "secret": *secret.expose() })))
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::WebhooksManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    change(
        &state,
        caller.user(),
        *id,
        client_info(&req),
        endpoints::delete,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn deliveries(
    state: web::Data<AppState>,
    _: Authorized<cap::WebhooksManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let listed = state
        .db
        .run(move |conn| {
            endpoints::find(conn, id)?.ok_or(AppError::NotFound)?;
            Ok::<_, AppError>(outbox::recent(conn, Some(id), DELIVERIES)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deliveries": listed })))
}
