//! Revealing a value, for the dashboard and the API alike: a reason, then proof that
//! the person is at the keyboard, then the vault. Every refusal is audited.
//!
//! A browser session proves itself with the password or a code, and is trusted for
//! [`credentials::REVEAL_REAUTH_WINDOW`] after; an API key has no session to remember
//! that in, so each of its reveals carries a fresh code of the key's owner.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::credentials;
use crate::identity::session::{self, Reauthentication};
use crate::identity::{ClientInfo, cap};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller};
use crate::web::step_up;

/// What a caller sends to see a value.
pub struct Request {
    pub reason: Option<String>,
    pub password: Option<SecretString>,
    pub code: Option<String>,
}

pub async fn reveal_value(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    ask: Request,
    client: ClientInfo,
) -> Result<SecretString, AppError> {
    let reason = match credentials::input::reason(ask.reason.as_deref()) {
        Ok(reason) => reason.to_owned(),
        Err(e) => {
            let reason = ask.reason.as_deref();
            return Err(refused(state, caller, id, reason, &client, e.into()).await);
        }
    };
    let proof = match prove(state, caller, ask.password, ask.code).await {
        Ok(proof) => proof,
        Err(e @ (AppError::NotPermitted(_) | AppError::TooManyRequests { .. })) => {
            return Err(refused(state, caller, id, Some(&reason), &client, e).await);
        }
        Err(e) => return Err(e),
    };
    let (vault, actor) = (state.vault.clone(), caller.user.clone());
    state
        .db
        .run(move |conn| {
            credentials::reveal(conn, &vault, &actor, id, &reason, proof, &client)
                .map_err(AppError::from)
        })
        .await
}

/// Audits a refused reveal and hands back the refusal.
async fn refused(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    reason: Option<&str>,
    client: &ClientInfo,
    refusal: AppError,
) -> AppError {
    let why = refusal.problem().detail;
    let event = credentials::refusal(&caller.user, id, reason, &why, client);
    // A refusal stands alone, so it takes the group-commit path, as the guard's do.
    match state.audit_writer().append(event).await {
        Ok(_) => refusal,
        Err(e) => AppError::Internal(e.to_string()),
    }
}

async fn prove(
    state: &AppState,
    caller: &Caller,
    password: Option<SecretString>,
    code: Option<String>,
) -> Result<Reauthentication, AppError> {
    let Some(session) = caller.session_id() else {
        let code = code.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
            AppError::NotPermitted(
                "Revealing a value through the API needs `code`: a current two-factor code \
                 of the key's owner, entered for this request."
                    .into(),
            )
        })?;
        step_up::check_code(state, &caller.user, code).await?;
        return Ok(Reauthentication::TotpCode);
    };
    if let Some(proof) = step_up::reauthenticate(state, &caller.user, password, code).await? {
        state
            .db
            .run(move |conn| {
                session::mark_reauthenticated(conn, session, OffsetDateTime::now_utc())
                    .map_err(AppError::from)
            })
            .await?;
        return Ok(proof);
    }
    let recent = state
        .db
        .run(move |conn| {
            session::reauthenticated_within(
                conn,
                session,
                credentials::REVEAL_REAUTH_WINDOW,
                OffsetDateTime::now_utc(),
            )
            .map_err(AppError::from)
        })
        .await?;
    if recent {
        Ok(Reauthentication::Recent)
    } else {
        Err(AppError::NotPermitted(format!(
            "Enter your password or a two-factor code: revealing a value needs you to have \
             re-entered one within the last {} minutes.",
            credentials::REVEAL_REAUTH_WINDOW.as_secs() / 60
        )))
    }
}

/// A response carrying a revealed value must never be stored by a browser or proxy.
pub fn no_store(response: &mut HttpResponse) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[derive(Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    code: Option<String>,
}

/// Shows the value once, on the page this post returns: never in a URL, never again
/// on reload.
pub async fn reveal(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::CredentialsReveal>,
    csrf: CsrfToken,
    id: web::Path<Uuid>,
    CsrfForm(form): CsrfForm<RevealForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let ask = Request {
        reason: form.reason,
        password: form.password,
        code: form.code,
    };
    let caller = &caller.caller;
    match reveal_value(&state, caller, id, ask, client_info(&req)).await {
        Ok(value) => {
            let notice = Some("Revealed. It is shown only on this page: copy it now.");
            let mut response =
                super::render_detail(&state, caller, &csrf, id, Some(&value), notice, None).await?;
            no_store(&mut response);
            Ok(response)
        }
        Err(AppError::NotPermitted(why) | AppError::Unprocessable(why)) => {
            super::render_detail(&state, caller, &csrf, id, None, None, Some(why)).await
        }
        Err(other) => Err(other),
    }
}
