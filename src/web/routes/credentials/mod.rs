//! Stored credentials on the dashboard: the list and the form to add one, and each
//! credential's page (status, reveal, replace, delete). Rules live in `credentials`;
//! the JSON API is in [`api`], revealing (shared by both) in [`reveal`].

pub mod api;
pub mod reveal;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::credentials::{self, Credential, CredentialError, Kind, NewCredential, Replacement};
use crate::identity::{Capability, ClientInfo, User, cap, session};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller};
use crate::web::pages::{self, Layout, relative, when};

const NOTICES: &[(&str, &str)] = &[
    (
        "created",
        "Credential stored. Its value is sealed; only Owners and Admins can reveal it.",
    ),
    ("replaced", "Value replaced. The old one is gone."),
    ("deleted", "Credential deleted."),
];

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
}

/// A credential as the pages show it.
struct CredentialView {
    id: Uuid,
    name: String,
    kind: &'static str,
    description: String,
    status: &'static str,
    /// `ok`, `warn` or `bad`: the stylesheet's colours.
    tone: &'static str,
    age: String,
    rotation: String,
    expiry: String,
    created: String,
    last_revealed: String,
}

fn view(c: &Credential, now: OffsetDateTime) -> CredentialView {
    let status = c.status(now);
    let rotation = match c.rotation_due_at() {
        None => "no reminder".to_owned(),
        Some(due) if due <= now => format!("rotation was due {}", relative(due, now)),
        Some(due) => format!("rotation due {}", relative(due, now)),
    };
    let expiry = match c.expires_at {
        None => "never expires".to_owned(),
        Some(at) if at <= now => format!("expired {}", relative(at, now)),
        Some(at) => format!("expires {} ({})", relative(at, now), when(at)),
    };
    let age = if c.replaced_at > c.created_at {
        format!("replaced {}", relative(c.replaced_at, now))
    } else {
        format!("created {}", relative(c.created_at, now))
    };
    CredentialView {
        id: c.id,
        name: c.name.clone(),
        kind: c.kind.label(),
        description: c.description.clone(),
        status: status.label(),
        tone: match status {
            credentials::Status::Fresh => "ok",
            credentials::Status::ExpiresSoon | credentials::Status::RotationDue => "warn",
            credentials::Status::Expired => "bad",
        },
        age,
        rotation,
        expiry,
        created: when(c.created_at),
        last_revealed: c
            .last_revealed_at
            .map_or_else(|| "never".into(), |at| relative(at, now)),
    }
}

struct KindOption {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "credentials.html")]
struct ListPage<'a> {
    layout: Layout<'a>,
    credentials: Vec<CredentialView>,
    kinds: Vec<KindOption>,
    can_manage: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsView>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let notice = pages::flash(messages.notice.as_deref(), NOTICES);
    render_list(&state, &caller.caller, &csrf, notice, None).await
}

async fn render_list(
    state: &AppState,
    caller: &Caller,
    csrf: &CsrfToken,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let listed = run(state, |conn| Ok(credentials::list(conn)?)).await?;
    let now = OffsetDateTime::now_utc();
    let config = state.config();
    let page = ListPage {
        layout: Layout::signed_in(&config.server_name, csrf, caller, "/credentials"),
        credentials: listed.iter().map(|c| view(c, now)).collect(),
        kinds: Kind::ALL
            .iter()
            .map(|k| KindOption {
                value: k.as_str(),
                label: k.label(),
            })
            .collect(),
        can_manage: caller.can(Capability::CredentialsManage),
        notice,
        error,
    };
    pages::html(&page, csrf)
}

#[derive(Template)]
#[template(path = "credential.html")]
struct DetailPage<'a> {
    layout: Layout<'a>,
    credential: CredentialView,
    rotate_every_days: Option<i32>,
    can_manage: bool,
    can_reveal: bool,
    /// The reveal form must ask for the password or a code.
    needs_reauth: bool,
    reauth_minutes: u64,
    revealed: Option<&'a str>,
    notice: Option<&'static str>,
    error: Option<String>,
}

pub async fn detail(
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsView>,
    csrf: CsrfToken,
    id: web::Path<Uuid>,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let notice = pages::flash(messages.notice.as_deref(), NOTICES);
    render_detail(&state, &caller.caller, &csrf, *id, None, notice, None).await
}

async fn render_detail(
    state: &AppState,
    caller: &Caller,
    csrf: &CsrfToken,
    id: Uuid,
    revealed: Option<&SecretString>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let session = caller.session_id();
    let (credential, recent) = run(state, move |conn| {
        let credential = credentials::find(conn, id)?.ok_or(AppError::NotFound)?;
        let recent = match session {
            Some(session) => session::reauthenticated_within(
                conn,
                session,
                credentials::REVEAL_REAUTH_WINDOW,
                OffsetDateTime::now_utc(),
            )?,
            None => false,
        };
        Ok((credential, recent))
    })
    .await?;
    let config = state.config();
    let page = DetailPage {
        layout: Layout::signed_in(&config.server_name, csrf, caller, "/credentials"),
        credential: view(&credential, OffsetDateTime::now_utc()),
        rotate_every_days: credential.rotate_every_days,
        can_manage: caller.can(Capability::CredentialsManage),
        can_reveal: caller.can(Capability::CredentialsReveal),
        needs_reauth: !recent,
        reauth_minutes: credentials::REVEAL_REAUTH_WINDOW.as_secs() / 60,
        revealed: revealed.map(SecretString::expose),
        notice,
        error,
    };
    pages::html(&page, csrf)
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    kind: String,
    value: SecretString,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    rotate_every_days: String,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsManage>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Result<HttpResponse, AppError> {
    let created = async {
        let new = NewCredential {
            kind: form.kind.parse()?,
            expires_at: date_field(&form.expires_on)?,
            rotate_every_days: days_field(&form.rotate_every_days)?,
            name: form.name,
            value: form.value,
            description: Some(form.description),
        };
        create_credential(&state, caller.user(), new, client_info(&req)).await
    };
    match created.await {
        Ok(c) => Ok(pages::see_other(&format!("/credentials/{}?notice=created", c.id)).finish()),
        Err(AppError::Unprocessable(why) | AppError::Conflict(why)) => {
            render_list(&state, &caller.caller, &csrf, None, Some(why)).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct ReplaceForm {
    value: SecretString,
    #[serde(default)]
    expires_on: String,
}

pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsManage>,
    csrf: CsrfToken,
    id: web::Path<Uuid>,
    CsrfForm(form): CsrfForm<ReplaceForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let replaced = async {
        let replacement = Replacement {
            value: form.value,
            expires_at: date_field(&form.expires_on)?,
        };
        replace_credential(&state, caller.user(), id, replacement, client_info(&req)).await
    };
    match replaced.await {
        Ok(_) => Ok(pages::see_other(&format!("/credentials/{id}?notice=replaced")).finish()),
        Err(AppError::Unprocessable(why)) => {
            render_detail(&state, &caller.caller, &csrf, id, None, None, Some(why)).await
        }
        Err(other) => Err(other),
    }
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsManage>,
    id: web::Path<Uuid>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    delete_credential(&state, caller.user(), *id, client_info(&req)).await?;
    Ok(pages::see_other("/credentials?notice=deleted").finish())
}

/// `Db::run` with the error type fixed, so `?` on domain errors converts them.
async fn run<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut diesel::PgConnection) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    state.db.run(f).await
}

// The three changes, shared by the dashboard and the JSON API.

async fn create_credential(
    state: &AppState,
    actor: &User,
    new: NewCredential,
    client: ClientInfo,
) -> Result<Credential, AppError> {
    let (vault, actor) = (state.vault.clone(), actor.clone());
    run(state, move |conn| {
        Ok(credentials::create(conn, &vault, &actor, new, &client)?)
    })
    .await
}

async fn replace_credential(
    state: &AppState,
    actor: &User,
    id: Uuid,
    replacement: Replacement,
    client: ClientInfo,
) -> Result<Credential, AppError> {
    let (vault, actor) = (state.vault.clone(), actor.clone());
    run(state, move |conn| {
        Ok(credentials::replace(
            conn,
            &vault,
            &actor,
            id,
            replacement,
            &client,
        )?)
    })
    .await
}

async fn delete_credential(
    state: &AppState,
    actor: &User,
    id: Uuid,
    client: ClientInfo,
) -> Result<(), AppError> {
    let actor = actor.clone();
    run(state, move |conn| {
        Ok(credentials::delete(conn, &actor, id, &client)?)
    })
    .await
}

/// `YYYY-MM-DD` from a date input: the credential expires as that day begins (UTC).
fn date_field(text: &str) -> Result<Option<OffsetDateTime>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|d| Some(d.midnight().assume_utc()))
        .map_err(|_| AppError::Unprocessable("Give the expiry date as YYYY-MM-DD.".into()))
}

fn days_field(text: &str) -> Result<Option<i32>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| AppError::from(CredentialError::InvalidRotation))
}
