//! The Settings page (`/settings`, Owners and Admins): the domain, the SMTP relay,
//! backup schedules and target, notification routing. Each section saves on its own;
//! a value differing from the file's is kept as a dashboard setting (shown as such,
//! with a revert), checked, audited and applied to the running server.

pub mod api;
mod target_forms;
mod view;

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{self, Actor, Event, Outcome};
use crate::backup::{schedule, targets};
use crate::identity::{ClientInfo, cap};
use crate::settings::keys::{self, Section};
use crate::settings::{FieldError, SettingsError, store};
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller};
use crate::web::pages::{self, Layout};
use target_forms::TargetRow;
pub use target_forms::{remove_target, save_target};
use view::{SectionView, Submitted};

const NOTICES: &[(&str, &str)] = &[
    ("saved", "Saved and applied."),
    ("unchanged", "Nothing changed."),
    ("reverted", "Back to the config file's value, and applied."),
    ("target_saved", "Target saved and applied."),
    ("target_removed", "Target removed."),
];

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    layout: Layout<'a>,
    sections: Vec<SectionView>,
    next_runs: Vec<(String, String)>,
    targets: Vec<TargetRow>,
    notice: Option<&'a str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let notice = pages::flash(messages.notice.as_deref(), NOTICES);
    let shown = Shown {
        notice,
        ..Shown::default()
    };
    render(&state, &caller.caller, &csrf, shown).await
}

/// What one render shows besides the settings in force.
#[derive(Default)]
struct Shown<'a> {
    submitted: Option<Submitted<'a>>,
    errors: Vec<FieldError>,
    notice: Option<&'a str>,
    error: Option<String>,
}

async fn render(
    state: &AppState,
    caller: &Caller,
    csrf: &CsrfToken,
    shown: Shown<'_>,
) -> Result<HttpResponse, AppError> {
    let settings = &state.settings;
    let rows = settings.overrides().await?;
    let config = settings.config();
    let next_runs = next_runs(state).await;
    let invalid = !shown.errors.is_empty();
    let error = shown.error.or_else(|| {
        let general: Vec<_> = (shown.errors.iter())
            // The targets have no field of their own: their problems go on top.
            .filter(|e| keys::find(&e.field).is_none() || e.field == store::TARGETS)
            .map(|e| e.message.clone())
            .collect();
        match (invalid, general.is_empty()) {
            (false, _) => None,
            (true, true) => Some("Nothing was saved: correct the fields marked below.".into()),
            (true, false) => Some(format!("Nothing was saved: {}", general.join("; "))),
        }
    });
    let page = SettingsPage {
        layout: Layout::signed_in(&config.server_name, csrf, caller, "/settings"),
        sections: view::sections(
            &config,
            settings.file(),
            &rows,
            settings.backup_jobs().is_some(),
            shown.submitted.as_ref(),
            &shown.errors,
        ),
        next_runs,
        targets: target_forms::rows(&config, settings.file()),
        notice: shown.notice,
        error,
    };
    // A page with its errors is a 200: every 4xx body becomes a problem document on
    // the way out (`middleware::problems`), and the person needs the form back.
    pages::html(&page, csrf)
}

/// The next start of each backup tier: as the running scheduler has it, or (with no
/// scheduler in this process) as the schedules say.
async fn next_runs(state: &AppState) -> Vec<(String, String)> {
    if let Some(jobs) = state.settings.backup_jobs() {
        return jobs
            .next_runs()
            .await
            .into_iter()
            .map(|(trigger, at)| {
                let at = at.map_or_else(|| "not scheduled".into(), pages::when);
                (trigger.as_str().to_owned(), at)
            })
            .collect();
    }
    let config = state.config();
    let now = time::OffsetDateTime::now_utc();
    crate::backup::runs::Trigger::SCHEDULED
        .into_iter()
        .filter_map(|trigger| {
            let cron = schedule::parse(trigger.cron(&config)).ok()?;
            let at = schedule::next(&cron, now)?;
            Some((
                trigger.as_str().to_owned(),
                format!("{} (at the scheduler's next start)", pages::when(at)),
            ))
        })
        .collect()
}

/// The changes a section's form asks for: values equal to those in force are left
/// alone, a value equal to the file's drops the dashboard's, an empty secret keeps
/// the one stored. Values that do not parse are left to [`Settings::change`] to
/// report, with the others.
fn form_changes(
    state: &AppState,
    section: Section,
    form: &BTreeMap<String, String>,
) -> Vec<(String, Option<Value>)> {
    let (config, file) = (state.config(), state.settings.file());
    let mut changes = Vec::new();
    for key in section.keys() {
        let Some(raw) = form.get(key.name) else {
            continue;
        };
        if key.secret {
            if !raw.trim().is_empty() {
                changes.push((key.name.to_owned(), Some(Value::String(raw.clone()))));
            }
            continue;
        }
        let input = Value::String(raw.clone());
        match key.parse(&input, &config) {
            Ok(value) if value == key.read(&config) => {}
            Ok(value) if value == key.read(file) => changes.push((key.name.to_owned(), None)),
            _ => changes.push((key.name.to_owned(), Some(input))),
        }
    }
    changes
}

/// One handler per section, so each form posts to a path of its own.
macro_rules! section_handler {
    ($name:ident, $section:expr) => {
        pub async fn $name(
            req: HttpRequest,
            state: web::Data<AppState>,
            caller: Authorized<cap::SettingsManage>,
            csrf: CsrfToken,
            form: CsrfForm<BTreeMap<String, String>>,
        ) -> Result<HttpResponse, AppError> {
            save(req, state, caller, csrf, $section, form).await
        }
    };
}

section_handler!(save_domain, Section::Domain);
section_handler!(save_smtp, Section::Smtp);
section_handler!(save_backups, Section::Backups);
section_handler!(save_notifications, Section::Notifications);

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    csrf: CsrfToken,
    section: Section,
    CsrfForm(form): CsrfForm<BTreeMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    let changes = form_changes(&state, section, &form);
    if changes.is_empty() {
        return Ok(
            pages::see_other(&format!("/settings?notice=unchanged#{}", section.as_str())).finish(),
        );
    }
    match apply(&state, changes, caller.user().id, client_info(&req)).await {
        Ok(()) => {
            Ok(pages::see_other(&format!("/settings?notice=saved#{}", section.as_str())).finish())
        }
        Err(SettingsError::Invalid(errors)) => {
            let shown = Shown {
                submitted: Some(Submitted {
                    section,
                    values: &form,
                }),
                errors,
                ..Shown::default()
            };
            render(&state, &caller.caller, &csrf, shown).await
        }
        Err(other) => Err(other.into()),
    }
}

/// Checks a new backup target can take a backup, stores and applies `changes`, and
/// asks for a security scan: a changed setting may open or close a finding.
/// Shared by the page and the JSON API.
pub(crate) async fn apply(
    state: &AppState,
    changes: Vec<(String, Option<Value>)>,
    by: uuid::Uuid,
    client: ClientInfo,
) -> Result<(), SettingsError> {
    let new_target = changes.iter().find_map(|(key, to)| match to {
        Some(Value::String(name)) if key == "backup.target" => Some(name.trim().to_owned()),
        _ => None,
    });
    if let Some(name) = new_target
        && state.config().backup.targets.contains_key(&name)
        && let Err(e) = probe(state, name).await
    {
        return Err(SettingsError::Invalid(vec![FieldError {
            field: "backup.target".into(),
            message: format!("cannot be used now: {e}"),
        }]));
    }
    state.settings.change(changes, by, client).await?;
    state.scan_requests.request("config_changed");
    Ok(())
}

async fn probe(state: &AppState, name: String) -> Result<(), String> {
    let (config, vault) = (state.config(), state.vault.clone());
    state
        .db
        .run(move |conn| {
            Ok::<_, crate::db::DbError>(
                targets::probe(&config.backup, &config.data_dir, &name, conn, &vault)
                    .map_err(|e| e.to_string()),
            )
        })
        .await
        .map_err(|e| e.to_string())?
}

#[derive(Deserialize)]
pub struct RevertForm {
    key: String,
}

pub async fn revert(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<RevertForm>,
) -> Result<HttpResponse, AppError> {
    let key =
        keys::find(&form.key).ok_or_else(|| AppError::BadRequest("No such setting.".into()))?;
    let changes = vec![(key.name.to_owned(), None)];
    match apply(&state, changes, caller.user().id, client_info(&req)).await {
        Ok(()) => Ok(pages::see_other(&format!(
            "/settings?notice=reverted#{}",
            key.section.as_str()
        ))
        .finish()),
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

/// Sends a test email to the signed-in person through the relay in force.
pub async fn test_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    csrf: CsrfToken,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let sent = crate::web::mail::send_test(&state, caller.user(), client_info(&req)).await?;
    let shown = match sent {
        Ok(()) => Shown {
            notice: Some("Test email sent to your address."),
            ..Shown::default()
        },
        Err(e) => Shown {
            error: Some(format!("The test email was not sent: {e}")),
            ..Shown::default()
        },
    };
    render(&state, &caller.caller, &csrf, shown).await
}

#[derive(Deserialize)]
pub struct TargetForm {
    target: String,
}

/// Writes, reads back and removes a small object on a backup target.
pub async fn test_target(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::SettingsManage>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<TargetForm>,
) -> Result<HttpResponse, AppError> {
    let name = form.target.trim().to_owned();
    if !targets::names(&state.config().backup).contains(&name) {
        return Err(AppError::Unprocessable(format!(
            "No backup target is named `{name}`."
        )));
    }
    let checked = probe(&state, name.clone()).await;
    let outcome = if checked.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let details = json!({ "target": name, "error": checked.as_ref().err() });
    let (by, client) = (caller.user().id, client_info(&req));
    state
        .db
        .run(move |conn| {
            audit::record(
                conn,
                &Event::new(Actor::User(by), "backup.target_tested", outcome)
                    .client(&client)
                    .details(details),
            )
            .map_err(AppError::from)
        })
        .await?;
    let shown = match checked {
        Ok(()) => Shown {
            notice: Some("The target took a test object, gave it back intact, and removed it."),
            ..Shown::default()
        },
        Err(e) => Shown {
            error: Some(format!(
                "Target `{}` failed the test: {e}",
                form.target.trim()
            )),
            ..Shown::default()
        },
    };
    render(&state, &caller.caller, &csrf, shown).await
}
