//! Exports on the dashboard (Owners only, `data.export`): the list, the form that
//! prepares one, and the download, which serves the JSON API as well (the guard tells
//! a session from a key). Preparing is in `export::store`; this is the HTTP around it.

pub mod api;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Actor, Event, Outcome};
use crate::cancellation::{self, Phase};
use crate::db::DbError;
use crate::export::store::{self, ExportRecord, Status};
use crate::identity::{Capability, ClientInfo, cap};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::download;
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller};
use crate::web::pages::{self, Layout, when};
use crate::web::step_up;

const NOTICES: &[(&str, &str)] = &[(
    "preparing",
    "Preparing the export. Reload this page in a minute: it can be downloaded once ready.",
)];

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
}

/// One export as the page lists it.
struct ExportView {
    id: Uuid,
    created: String,
    origin: &'static str,
    contents: &'static str,
    status: String,
    /// `ok`, `warn` or `bad`: the stylesheet's colours.
    tone: &'static str,
    size: String,
    until: String,
    downloadable: bool,
}

fn view(record: &ExportRecord, now: OffsetDateTime) -> ExportView {
    let (status, tone) = match record.status() {
        Status::Ready if !record.downloadable(now) => ("expired".to_owned(), "warn"),
        Status::Ready => ("ready".to_owned(), "ok"),
        Status::Preparing => ("preparing…".to_owned(), "warn"),
        Status::Failed => (
            format!("failed: {}", record.error.as_deref().unwrap_or("unknown")),
            "bad",
        ),
    };
    ExportView {
        id: record.id,
        created: when(record.created_at),
        origin: if record.requested_by.is_some() {
            "requested"
        } else {
            "at cancellation"
        },
        contents: if record.include_secrets {
            "with stored values"
        } else {
            "values sealed"
        },
        status,
        tone,
        size: record.bytes.map_or_else(String::new, pages::size),
        until: when(record.expires_at),
        downloadable: record.downloadable(now),
    }
}

#[derive(Template)]
#[template(path = "export.html")]
struct ExportPage<'a> {
    layout: Layout<'a>,
    exports: Vec<ExportView>,
    kept_days: i64,
    notice: Option<&'static str>,
    error: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::DataExport>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let notice = pages::flash(messages.notice.as_deref(), NOTICES);
    render(&state, &caller.caller, &csrf, notice, None).await
}

async fn render(
    state: &AppState,
    caller: &Caller,
    csrf: &CsrfToken,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let listed = state
        .db
        .run(|conn| store::list(conn).map_err(AppError::from))
        .await?;
    let now = OffsetDateTime::now_utc();
    let config = state.config();
    let page = ExportPage {
        layout: Layout::signed_in(&config.server_name, csrf, caller, "/export")
            .with_banner(banner(state, caller).await?),
        exports: listed.iter().map(|r| view(r, now)).collect(),
        kept_days: store::KEPT_FOR.whole_days(),
        notice,
        error,
    };
    pages::html(&page, csrf)
}

/// The cancellation's dates, for those who can take the export (Owners); `None` for
/// everyone else and when no cancellation is in force.
pub async fn banner(state: &AppState, caller: &Caller) -> Result<Option<String>, AppError> {
    if !caller.can(Capability::DataExport) {
        return Ok(None);
    }
    let found = state
        .db
        .run(|conn| cancellation::in_force(conn).map_err(AppError::from))
        .await?;
    let now = OffsetDateTime::now_utc();
    Ok(found.map(|c| match (c.destroyed_at, c.phase(now)) {
        (Some(at), _) => format!(
            "The service has ended: this organisation's data was destroyed on {}.",
            when(at)
        ),
        (None, Phase::Scheduled) => format!(
            "The service ends on {}. An export of all data will then be prepared, to \
             download from the Export page until {}, when all data is destroyed.",
            when(c.effective_at),
            when(c.window_closes_at)
        ),
        (None, Phase::WindowOpen) => format!(
            "The service ended on {}. Download the export from the Export page before {}: \
             then all data is destroyed.",
            when(c.effective_at),
            when(c.window_closes_at)
        ),
        (None, Phase::Closed) => format!(
            "The export window closed on {}: all data is being destroyed.",
            when(c.window_closes_at)
        ),
    }))
}

#[derive(Deserialize)]
pub struct PrepareForm {
    #[serde(default)]
    include_secrets: Option<String>,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    code: Option<String>,
}

pub async fn prepare(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::DataExport>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<PrepareForm>,
) -> Result<HttpResponse, AppError> {
    let ask = Request {
        include_secrets: form.include_secrets.is_some(),
        password: form.password,
        code: form.code,
    };
    match start(&state, &caller.caller, ask, client_info(&req)).await {
        Ok(_) => Ok(pages::see_other("/export?notice=preparing").finish()),
        Err(e @ (AppError::NotPermitted(_) | AppError::TooManyRequests { .. })) => {
            let why = e.problem().detail;
            render(&state, &caller.caller, &csrf, None, Some(why)).await
        }
        Err(other) => Err(other),
    }
}

/// What a caller sends to have an export prepared.
pub struct Request {
    pub include_secrets: bool,
    pub password: Option<SecretString>,
    pub code: Option<String>,
}

/// Records the export and prepares it in the background (a dump takes a while; the
/// list shows when it is ready). Stored values only after proof that the Owner is at
/// the keyboard; a refusal is audited.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    ask: Request,
    client: ClientInfo,
) -> Result<ExportRecord, AppError> {
    if ask.include_secrets {
        match prove(state, caller, ask.password, ask.code).await {
            Ok(()) => {}
            Err(e @ (AppError::NotPermitted(_) | AppError::TooManyRequests { .. })) => {
                return Err(refused(state, caller, &client, e).await);
            }
            Err(e) => return Err(e),
        }
    }
    let (user, include_secrets) = (caller.user.id, ask.include_secrets);
    let expires_at = OffsetDateTime::now_utc() + store::KEPT_FOR;
    let record = state
        .db
        .run(move |conn| {
            store::begin(conn, Some(user), include_secrets, expires_at).map_err(AppError::from)
        })
        .await?;
    let (db, config, vault) = (state.db.clone(), state.config(), state.vault.clone());
    let pending = record.clone();
    actix_web::rt::spawn(async move {
        let id = pending.id;
        let prepared = db
            .run(move |conn| {
                store::prepare(conn, &config, &vault, &pending, Actor::User(user), client)
                    .map_err(DbError::from)
            })
            .await;
        if let Err(error) = prepared {
            tracing::error!(export = %id, %error, "the export's outcome could not be recorded");
        }
    });
    Ok(record)
}

/// A browser session proves itself with the password or a code, every time (an export
/// with values is every secret at once); an API key with a fresh code of its owner.
async fn prove(
    state: &AppState,
    caller: &Caller,
    password: Option<SecretString>,
    code: Option<String>,
) -> Result<(), AppError> {
    if caller.session_id().is_none() {
        let code = code.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
            AppError::NotPermitted(
                "An export with stored values needs `code`: a current two-factor code of the \
                 key's owner, entered for this request."
                    .into(),
            )
        })?;
        return step_up::check_code(state, &caller.user, code).await;
    }
    match step_up::reauthenticate(state, &caller.user, password, code).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotPermitted(
            "Enter your password or a two-factor code: an export with stored values needs you \
             to confirm it is you."
                .into(),
        )),
    }
}

/// Audits a refused export and hands back the refusal.
async fn refused(
    state: &AppState,
    caller: &Caller,
    client: &ClientInfo,
    refusal: AppError,
) -> AppError {
    let event = Event::new(
        Actor::User(caller.user.id),
        crate::export::ACTION,
        Outcome::Denied,
    )
    .client(client)
    .details(json!({ "include_secrets": true, "refused": refusal.problem().detail }));
    // A refusal stands alone, so it takes the group-commit path, as the guard's do.
    match state.audit_writer().append(event).await {
        Ok(_) => refusal,
        Err(e) => AppError::Internal(e.to_string()),
    }
}

/// `GET /export/{id}/download` and `GET /api/v1/exports/{id}/download`.
pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::DataExport>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let data_dir = state.config().data_dir.clone();
    let actor = Actor::User(caller.user().id);
    let client = client_info(&req);
    let (_, file, size) = state
        .db
        .run(move |conn| {
            store::open_for_download(
                conn,
                &data_dir,
                id,
                actor,
                &client,
                OffsetDateTime::now_utc(),
            )
            .map_err(AppError::from)
        })
        .await?;
    Ok(download::attachment(
        file,
        size,
        &format!("outpost-export-{id}.tar"),
        "application/x-tar",
    ))
}
