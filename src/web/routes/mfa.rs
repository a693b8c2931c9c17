//! Two-factor sign-in: the second step of signing in, and enrolment.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use crate::audit::{self, Actor, Event, Outcome};
use crate::identity::totp::{self, TotpError};
use crate::identity::{IdentityError, recovery_codes, sign_in};
use crate::notify::messages;
use crate::secret::SecretString;
use crate::vault::Vault;
use crate::web::AppState;
use crate::web::auth::{self, SignedIn};
use crate::web::csrf::{self, CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::mail;
use crate::web::pages::{self, Layout};

pub const CHALLENGE_COOKIE: &str = "__Host-outpost-mfa";

const ERRORS: &[(&str, &str)] = &[
    ("invalid", "That code is not right. Try again."),
    (
        "reused",
        "That code was already used. Wait for the next one.",
    ),
];

#[derive(Deserialize)]
pub struct Messages {
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct ChallengePage<'a> {
    layout: Layout<'a>,
    error: Option<&'static str>,
}

pub fn challenge_cookie(challenge: &SecretString, ttl: std::time::Duration) -> Cookie<'static> {
    Cookie::build(CHALLENGE_COOKIE, challenge.expose().to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(ttl.as_secs() as i64))
        .finish()
}

pub async fn challenge_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    if req.cookie(CHALLENGE_COOKIE).is_none() {
        return Ok(pages::see_other("/login").finish());
    }
    pages::html(
        &ChallengePage {
            layout: Layout::public(&state.config().server_name, &csrf),
            error: pages::flash(messages.error.as_deref(), ERRORS),
        },
        &csrf,
    )
}

pub async fn submit_challenge(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    finish(&req, &state, form.code, false).await
}

/// `POST /login/mfa` with a JSON body `{"code": "…"}`, after a JSON sign-in.
pub async fn submit_challenge_json(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CodeForm>,
) -> Result<HttpResponse, AppError> {
    finish(&req, &state, body.into_inner().code, true).await
}

async fn finish(
    req: &HttpRequest,
    state: &AppState,
    code: String,
    json: bool,
) -> Result<HttpResponse, AppError> {
    let Some(challenge) = req
        .cookie(CHALLENGE_COOKIE)
        .map(|c| SecretString::new(c.value()))
    else {
        return if json {
            Err(IdentityError::ChallengeExpired.into())
        } else {
            Ok(pages::see_other("/login").finish())
        };
    };
    let result = sign_in::complete_second_factor(
        &state.db,
        &state.vault,
        state.session_policy(),
        challenge,
        code,
        auth::client_info(req),
    )
    .await;
    let (user, session) = match result {
        Ok(done) => done,
        Err(IdentityError::CodeReused(user)) => {
            let ip = auth::client_info(req)
                .ip
                .unwrap_or_else(|| "unknown".into());
            tracing::warn!(client_ip = %ip, account = %user.email, "second factor code reused");
            let alert = messages::totp_code_reused(&user.email, &state.config().server_name, &ip);
            mail::deliver(state, &alert).await;
            return if json {
                Err(AppError::InvalidCredentials)
            } else {
                Ok(pages::see_other("/login/mfa?error=reused").finish())
            };
        }
        Err(IdentityError::ChallengeExpired) if !json => {
            return Ok(pages::see_other("/login?error=expired")
                .cookie(auth::expired_cookie(CHALLENGE_COOKIE))
                .finish());
        }
        Err(IdentityError::Totp(TotpError::InvalidCode)) if !json => {
            return Ok(pages::see_other("/login/mfa?error=invalid").finish());
        }
        Err(IdentityError::Totp(TotpError::InvalidCode)) => {
            return Err(AppError::InvalidCredentials);
        }
        Err(other) => return Err(other.into()),
    };
    let mut response = if json {
        HttpResponse::Ok()
    } else {
        pages::see_other("/")
    };
    response
        .cookie(auth::session_cookie(
            &session,
            state.config().session.absolute_timeout,
        ))
        .cookie(auth::expired_cookie(CHALLENGE_COOKIE))
        .cookie(auth::expired_cookie(csrf::COOKIE));
    Ok(if json {
        response.json(serde_json::json!({ "user": user, "session_expires_at": super::sign_in::rfc3339(session.expires_at) }))
    } else {
        response.finish()
    })
}

struct EnrolmentView {
    secret: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "mfa_enrol.html")]
struct EnrolPage<'a> {
    layout: Layout<'a>,
    required: bool,
    enrolment: Option<EnrolmentView>,
    recovery_remaining: i64,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct CodesPage<'a> {
    layout: Layout<'a>,
    codes: Vec<String>,
    next: &'a str,
}

/// Enrolment needs only a session, not the capabilities an enrolled person has: it is
/// where people whose role requires two-factor sign-in are sent first.
pub async fn enrol_page(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let user = signed_in.user().clone();
    let vault = state.vault.clone();
    let issuer = state.config().server_name.clone();
    let (required, enrolment, remaining) = state
        .db
        .run(move |conn| {
            let required = crate::identity::policy::must_enrol_mfa(conn, &user)?;
            if totp::is_enrolled(conn, user.id)? {
                return Ok::<_, AppError>((
                    required,
                    None,
                    recovery_codes::remaining(conn, user.id)?,
                ));
            }
            let enrolment = totp::resume_or_begin_enrolment(conn, &vault, &user, &issuer)?;
            Ok((
                required,
                Some(EnrolmentView {
                    secret: enrolment.secret_base32.expose().to_owned(),
                    qr_svg: enrolment.qr_svg,
                }),
                0,
            ))
        })
        .await?;
    pages::html(
        &EnrolPage {
            layout: Layout::bare(&state.config().server_name, &csrf, signed_in.user()),
            required,
            enrolment,
            recovery_remaining: remaining,
            error: pages::flash(messages.error.as_deref(), ERRORS),
        },
        &csrf,
    )
}

/// The second step of enrolment: a first valid code turns two-factor sign-in on and
/// yields the recovery codes.
pub async fn confirm_enrolment(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed_in: SignedIn,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let issue: IssueCodes = |conn, vault, user_id, code| {
        Ok(totp::confirm_enrolment(
            conn,
            vault,
            user_id,
            code,
            totp::unix_now(),
        )?)
    };
    let done = CodesDone {
        action: "mfa.enrolled",
        notice: Some("mfa_enabled"),
    };
    codes_for_a_code(&req, &state, &signed_in, &csrf, &form.code, issue, done).await
}

/// New recovery codes, against a current code; the old ones stop working.
pub async fn regenerate_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed_in: SignedIn,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let issue: IssueCodes = |conn, vault, user_id, code| {
        totp::verify(conn, vault, user_id, code, totp::unix_now())?;
        Ok(recovery_codes::generate(conn, user_id)?)
    };
    let done = CodesDone {
        action: "mfa.recovery_codes_regenerated",
        notice: None,
    };
    codes_for_a_code(&req, &state, &signed_in, &csrf, &form.code, issue, done).await
}

type IssueCodes =
    fn(&mut diesel::PgConnection, &Vault, Uuid, &str) -> Result<Vec<SecretString>, IdentityError>;

struct CodesDone {
    action: &'static str,
    /// Shown on the account page the person continues to.
    notice: Option<&'static str>,
}

/// Checks the typed code and issues recovery codes in one transaction with its audit
/// entry, then shows them once; a wrong or reused code goes back to the MFA page.
async fn codes_for_a_code(
    req: &HttpRequest,
    state: &AppState,
    signed_in: &SignedIn,
    csrf: &CsrfToken,
    code: &str,
    issue: IssueCodes,
    done: CodesDone,
) -> Result<HttpResponse, AppError> {
    let user_id = signed_in.user().id;
    let vault = state.vault.clone();
    let client = auth::client_info(req);
    let code = code.replace(' ', "");
    let action = done.action;
    let result = state
        .db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                let codes = issue(conn, &vault, user_id, &code)?;
                audit::record(
                    conn,
                    &Event::new(Actor::User(user_id), action, Outcome::Success)
                        .target(format!("user:{user_id}"))
                        .client(&client),
                )?;
                Ok::<_, IdentityError>(codes)
            })
        })
        .await;
    match result {
        Ok(codes) => {
            let next = match done.notice {
                Some(notice) => format!("{}?notice={notice}", state.account_page),
                None => state.account_page.to_owned(),
            };
            show_codes(state, signed_in, csrf, codes, &next)
        }
        Err(IdentityError::Totp(TotpError::InvalidCode)) => {
            Ok(pages::see_other("/account/mfa?error=invalid").finish())
        }
        Err(IdentityError::Totp(TotpError::Reused)) => {
            Ok(pages::see_other("/account/mfa?error=reused").finish())
        }
        Err(other) => Err(other.into()),
    }
}

fn show_codes(
    state: &AppState,
    signed_in: &SignedIn,
    csrf: &CsrfToken,
    codes: Vec<SecretString>,
    next: &str,
) -> Result<HttpResponse, AppError> {
    pages::html(
        &CodesPage {
            layout: Layout::bare(&state.config().server_name, csrf, signed_in.user()),
            codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
            next,
        },
        csrf,
    )
}
