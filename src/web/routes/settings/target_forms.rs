//! The backup targets on the Settings page: the list (file or dashboard), the form
//! that adds or replaces one, and the removal of one defined here. Each is a change
//! of `backup.targets`, the map of the dashboard's targets, through
//! [`super::apply`]: checked, audited and applied like every other key.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Shown, apply, render};
use crate::backup::settings::TargetSettings;
use crate::config::Config;
use crate::identity::cap;
use crate::settings::{SettingsError, store};
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::guard::Authorized;
use crate::web::pages;

/// One target as the page lists it.
pub struct TargetRow {
    pub name: String,
    pub kind: &'static str,
    pub detail: String,
    /// `config file`, `dashboard`, or `dashboard (over the config file's)`.
    pub source: &'static str,
    /// Defined on the dashboard, so it can be removed there.
    pub removable: bool,
}

/// The targets in force, with where each comes from (`file`: the config file's alone).
pub fn rows(config: &Config, file: &Config) -> Vec<TargetRow> {
    let dashboard = &config.backup.dashboard_targets;
    config
        .backup
        .targets
        .iter()
        .map(|(name, target)| {
            let (kind, detail) = match target {
                TargetSettings::Local { path } => ("local", path.display().to_string()),
                TargetSettings::S3 {
                    bucket,
                    region,
                    endpoint,
                    prefix,
                    access_key_id_credential,
                    secret_access_key_credential,
                    ..
                } => (
                    "s3",
                    format!(
                        "bucket {bucket}{prefix} in {region}{at}; credentials \
                         {access_key_id_credential} and {secret_access_key_credential}",
                        prefix = if prefix.is_empty() {
                            String::new()
                        } else {
                            format!(", prefix {prefix}")
                        },
                        at = if endpoint.is_empty() {
                            String::new()
                        } else {
                            format!(" at {endpoint}")
                        },
                    ),
                ),
            };
            let removable = dashboard.contains_key(name);
            let source = match (removable, file.backup.targets.contains_key(name)) {
                (false, _) => "config file",
                (true, false) => "dashboard",
                (true, true) => "dashboard (over the config file's)",
            };
            TargetRow {
                name: name.clone(),
                kind,
                detail,
                source,
                removable,
            }
        })
        .collect()
}

#[derive(Deserialize)]
pub struct TargetForm {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    access_key_id_credential: String,
    #[serde(default)]
    secret_access_key_credential: String,
}

impl TargetForm {
    /// The definition as the config file would have it, left to the key to check.
    fn definition(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), self.kind.trim().into());
        let fields = match self.kind.trim() {
            "s3" => vec![
                ("bucket", &self.bucket),
                ("region", &self.region),
                ("endpoint", &self.endpoint),
                ("prefix", &self.prefix),
                ("access_key_id_credential", &self.access_key_id_credential),
                (
                    "secret_access_key_credential",
                    &self.secret_access_key_credential,
                ),
            ],
            _ => vec![("path", &self.path)],
        };
        for (field, value) in fields {
            let value = value.trim();
            // Left out when empty, so the file's defaults apply (the region).
            if !value.is_empty() || matches!(field, "path" | "bucket") {
                object.insert(field.into(), value.into());
            }
        }
        Value::Object(object)
    }
}

/// The dashboard's targets now, as the key stores them.
fn dashboard_targets(state: &AppState) -> Map<String, Value> {
    match serde_json::to_value(&state.config().backup.dashboard_targets) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Adds a target, or replaces the one of that name (over the file's, if the file has it).
pub async fn save_target(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<TargetForm>,
) -> Result<HttpResponse, AppError> {
    let mut targets = dashboard_targets(&state);
    targets.insert(form.name.trim().to_owned(), form.definition());
    let changes = vec![(store::TARGETS.to_owned(), Some(Value::Object(targets)))];
    finish(req, state, caller, csrf, changes, "target_saved").await
}

#[derive(Deserialize)]
pub struct RemoveForm {
    name: String,
}

/// Removes a target defined on the dashboard (a file's one it overrode comes back).
pub async fn remove_target(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<RemoveForm>,
) -> Result<HttpResponse, AppError> {
    let mut targets = dashboard_targets(&state);
    let name = form.name.trim();
    if targets.remove(name).is_none() {
        let shown = Shown {
            error: Some(format!(
                "No target named `{name}` is defined on the dashboard; a target from the \
                 config file can be replaced here, not removed."
            )),
            ..Shown::default()
        };
        return render(&state, &caller.caller, &csrf, shown).await;
    }
    let to = (!targets.is_empty()).then(|| json!(targets));
    let changes = vec![(store::TARGETS.to_owned(), to)];
    finish(req, state, caller, csrf, changes, "target_removed").await
}

async fn finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    csrf: CsrfToken,
    changes: Vec<(String, Option<Value>)>,
    notice: &str,
) -> Result<HttpResponse, AppError> {
    match apply(&state, changes, caller.user().id, client_info(&req)).await {
        Ok(()) => Ok(pages::see_other(&format!("/settings?notice={notice}#backups")).finish()),
        Err(SettingsError::Invalid(errors)) => {
            let shown = Shown {
                errors,
                ..Shown::default()
            };
            render(&state, &caller.caller, &csrf, shown).await
        }
        Err(other) => Err(other.into()),
    }
}
