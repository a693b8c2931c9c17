//! Backups over the JSON API: the status (`GET /api/v1/backups`), a backup now
//! (`POST /api/v1/backups`), a restore drill (`POST /api/v1/backups/{id}/verify`).
//! Both POSTs answer 202 at once and 409 while other backup work holds the lock.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::jobs;
use crate::backup::error::BackupError;
use crate::identity::cap;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::guard::Authorized;

pub async fn status(
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(super::load(&state, &caller.caller).await?))
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    target: Option<String>,
}

pub async fn run(
    state: web::Data<AppState>,
    caller: Authorized<cap::BackupsManage>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    // The body is optional: an empty POST backs up to the scheduled target.
    let body: RunBody = if body.iter().all(u8::is_ascii_whitespace) {
        RunBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::BadRequest(format!("The JSON body is malformed: {e}.")))?
    };
    let target = body
        .target
        .unwrap_or_else(|| state.config().backup.target.clone());
    let id = jobs::start_run(&state, caller.user(), target.clone())
        .await
        .map_err(|e| match e {
            BackupError::UnknownTarget(name, names) => AppError::BadRequest(format!(
                "There is no backup target named {name:?}; the targets are {names}."
            )),
            other => other.into(),
        })?;
    Ok(HttpResponse::Accepted().json(json!({
        "id": id,
        "target": target,
        "outcome": "running",
    })))
}

pub async fn verify(
    state: web::Data<AppState>,
    caller: Authorized<cap::BackupsManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let target = jobs::start_drill(&state, caller.user(), id).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "backup_id": id,
        "target": target,
        "drill": "running",
    })))
}
