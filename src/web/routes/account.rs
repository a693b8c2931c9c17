//! The signed-in person's own account: password, sessions, second factor status.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use crate::audit::{self, Actor, Event, Outcome};
use crate::identity::{User, account, cap, session, totp};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::guard::Authorized;
use crate::web::pages::{self, Layout};

use super::password_form;

const NOTICES: &[(&str, &str)] = &[
    (
        "password_changed",
        "Your password has changed. Your other sessions have ended.",
    ),
    ("session_ended", "That session has ended."),
    ("others_ended", "You are now signed out everywhere else."),
    ("mfa_enabled", "Two-factor sign-in is on."),
];
#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
    error: Option<String>,
}

struct SessionRow {
    id: Uuid,
    device: String,
    address: String,
    signed_in: String,
    last_active: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    layout: Layout<'a>,
    user: &'a User,
    mfa_enrolled: bool,
    sessions: Vec<SessionRow>,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let user_id = caller.user().id;
    let policy = state.session_policy();
    let (sessions, mfa_enrolled) = state
        .db
        .run(move |conn| {
            Ok::<_, AppError>((
                session::list_for_user(conn, user_id, &policy)?,
                totp::is_enrolled(conn, user_id)?,
            ))
        })
        .await?;
    let current = caller.caller.session_id();
    let sessions = sessions
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            device: s
                .user_agent
                .map_or_else(|| "Unknown device".into(), |a| describe_agent(&a)),
            address: s.client_ip.unwrap_or_else(|| "unknown".into()),
            signed_in: pages::when(s.created_at),
            last_active: pages::when(s.last_seen_at),
            current: Some(s.id) == current,
        })
        .collect();
    pages::html(
        &AccountPage {
            layout: Layout::signed_in(
                &state.config().server_name,
                &csrf,
                &caller.caller,
                "/account",
            ),
            user: caller.user(),
            mfa_enrolled,
            sessions,
            notice: pages::flash(messages.notice.as_deref(), NOTICES),
            error: pages::flash(messages.error.as_deref(), password_form::MESSAGES),
        },
        &csrf,
    )
}

/// A short, readable name for a browser's User-Agent string.
fn describe_agent(agent: &str) -> String {
    let browser = ["Firefox", "Edg", "Chrome", "Safari", "curl"]
        .into_iter()
        .find(|b| agent.contains(b))
        .map(|b| if b == "Edg" { "Edge" } else { b });
    let system = ["Windows", "Mac OS", "Android", "iPhone", "Linux"]
        .into_iter()
        .find(|s| agent.contains(s));
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        _ => agent.chars().take(60).collect(),
    }
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current: SecretString,
    password: SecretString,
    confirm: SecretString,
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    CsrfForm(form): CsrfForm<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let back = |code: &str| Ok(pages::see_other(&format!("/account?error={code}")).finish());
    if form.password != form.confirm {
        return back("mismatch");
    }
    let keep = caller.caller.session_id().ok_or(AppError::LoginRequired)?;
    let result = account::change_password(
        &state.db,
        &state.passwords,
        caller.user(),
        keep,
        form.current,
        form.password,
        client_info(&req),
    )
    .await;
    match result {
        Ok(()) => Ok(pages::see_other("/account?notice=password_changed").finish()),
        Err(error) => match password_form::code_for(&error) {
            Some(code) => back(code),
            None => Err(error.into()),
        },
    }
}

pub async fn revoke_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    id: web::Path<Uuid>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let user_id = caller.user().id;
    let id = id.into_inner();
    let client = client_info(&req);
    let ended = state
        .db
        .run(move |conn| {
            let ended = session::revoke_by_id(conn, user_id, id)?;
            if ended {
                audit::record(
                    conn,
                    &Event::new(Actor::User(user_id), "session.revoked", Outcome::Success)
                        .target(format!("session:{id}"))
                        .client(&client),
                )?;
            }
            Ok::<_, AppError>(ended)
        })
        .await?;
    if !ended {
        return Err(AppError::NotFound);
    }
    Ok(pages::see_other("/account?notice=session_ended").finish())
}

pub async fn revoke_other_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let user_id = caller.user().id;
    let keep = caller.caller.session_id().ok_or(AppError::LoginRequired)?;
    let client = client_info(&req);
    state
        .db
        .run(move |conn| {
            let ended = session::revoke_others(conn, user_id, keep)?;
            audit::record(
                conn,
                &Event::new(
                    Actor::User(user_id),
                    "session.revoked_others",
                    Outcome::Success,
                )
                .client(&client)
                .details(serde_json::json!({ "ended": ended })),
            )?;
            Ok::<_, AppError>(())
        })
        .await?;
    Ok(pages::see_other("/account?notice=others_ended").finish())
}
