//! The settings over the JSON API (`/api/v1/settings`), for keys with
//! `settings:manage`. A secret is shown only as whether one is set.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::identity::cap;
use crate::settings::Settings;
use crate::settings::keys::KEYS;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::error::AppError;
use crate::web::guard::Authorized;

pub async fn get(
    state: web::Data<AppState>,
    _: Authorized<cap::SettingsManage>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(listing(&state).await?))
}

/// `{"smtp.port": 2525, "backup.daily": null, …}`: each key set to a value, or back to
/// the file's with `null`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct PatchBody(pub Map<String, Value>);

/// All or nothing: any bad field is a 422 naming each.
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, AppError> {
    let changes = body
        .into_inner()
        .0
        .into_iter()
        .map(|(key, value)| (key, Some(value).filter(|v| !v.is_null())))
        .collect::<Vec<_>>();
    if changes.is_empty() {
        return Err(AppError::Unprocessable(
            "Name at least one setting to change.".into(),
        ));
    }
    super::apply(&state, changes, caller.user().id, client_info(&req)).await?;
    Ok(HttpResponse::Ok().json(listing(&state).await?))
}

async fn listing(state: &AppState) -> Result<Value, AppError> {
    let rows = state.settings.overrides().await?;
    let config = state.config();
    let settings: Vec<Value> = KEYS
        .iter()
        .map(|key| {
            let row = rows.iter().find(|r| r.key == key.name);
            let value = key.read(&config);
            let mut entry = json!({
                "key": key.name,
                "section": key.section.as_str(),
                "source": Settings::source(&rows, key),
                "changed_by": row.and_then(|r| r.changed_by),
                "changed_at": row.map(|r| r.changed_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()),
            });
            if key.secret {
                entry["set"] = value;
            } else {
                entry["value"] = value;
            }
            entry
        })
        .collect();
    Ok(json!({ "settings": settings }))
}
