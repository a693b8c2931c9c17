//! Exports over the JSON API (`/api/v1/exports`), with `data.export`. An export with
//! stored values needs a fresh two-factor code of the key's owner in the request.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Request, start};
use crate::cancellation;
use crate::export::store::{self, ExportRecord, Status};
use crate::identity::cap;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::error::AppError;
use crate::web::guard::Authorized;

#[derive(Serialize)]
struct View<'a> {
    #[serde(flatten)]
    record: &'a ExportRecord,
    status: Status,
    /// Where to fetch it, once ready and until it expires.
    download: Option<String>,
}

fn view(record: &ExportRecord) -> View<'_> {
    View {
        record,
        status: record.status(),
        download: record
            .downloadable(OffsetDateTime::now_utc())
            .then(|| format!("/api/v1/exports/{}/download", record.id)),
    }
}

pub async fn list(
    state: web::Data<AppState>,
    _: Authorized<cap::DataExport>,
) -> Result<HttpResponse, AppError> {
    let (listed, cancellation) = state
        .db
        .run(|conn| Ok::<_, AppError>((store::list(conn)?, cancellation::in_force(conn)?)))
        .await?;
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let cancellation = cancellation.map(|c| {
        json!({
            "effective_at": rfc3339(c.effective_at),
            "window_closes_at": rfc3339(c.window_closes_at),
            "export_id": c.export_id,
            "destroyed_at": c.destroyed_at.map(rfc3339),
        })
    });
    let views: Vec<_> = listed.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(json!({ "exports": views, "cancellation": cancellation })))
}

pub async fn get(
    state: web::Data<AppState>,
    _: Authorized<cap::DataExport>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let found = state
        .db
        .run(move |conn| store::find(conn, id)?.ok_or(AppError::NotFound))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "export": view(&found) })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewExport)]
pub struct CreateBody {
    #[serde(default)]
    include_secrets: bool,
    #[serde(default)]
    code: Option<String>,
}

/// `202 Accepted`: the export is being prepared; poll its `Location` until `ready`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::DataExport>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let ask = Request {
        include_secrets: body.include_secrets,
        password: None,
        code: body.code,
    };
    let record = start(&state, &caller.caller, ask, client_info(&req)).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/exports/{}", record.id)))
        .json(json!({ "export": view(&record) })))
}
