//! Signing in and out. Browsers post a form and follow redirects (a failed attempt
//! goes back to the form with a generic message); scripts may post JSON instead.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::identity::IdentityError;
use crate::identity::sign_in::{self, SignInOutcome};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::{self, SESSION_COOKIE, SignedIn};
use crate::web::csrf::{self, CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::pages::{self, Layout};

use super::mfa;

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    layout: Layout<'a>,
    error: Option<&'static str>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct Messages {
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: SecretString,
}

pub async fn page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    // Fixed texts only: nothing from the query string is reflected into the page.
    let error = match messages.error.as_deref() {
        Some("invalid") => Some("Invalid email or password."),
        Some("busy") => Some("Too many sign-ins are in progress. Try again in a few seconds."),
        Some("throttled") => Some("Too many failed attempts. Wait a little and try again."),
        Some("expired") => Some("The sign-in took too long. Enter your email and password again."),
        Some(_) => Some("Sign-in failed. Try again."),
        None => None,
    };
    let notice = match messages.notice.as_deref() {
        Some("setup_complete") => Some("Your password is set. Sign in to continue."),
        Some("signed_out") => Some("You have signed out."),
        Some("reset_sent") => {
            Some("If an account uses that email, a link to choose a new password is on its way.")
        }
        _ => None,
    };
    pages::html(
        &LoginPage {
            layout: Layout::public(&state.config().server_name, &csrf),
            error,
            notice,
        },
        &csrf,
    )
}

pub async fn submit_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<Credentials>,
) -> Result<HttpResponse, AppError> {
    let outcome = match attempt(&req, &state, form).await {
        Ok(outcome) => outcome,
        Err(IdentityError::InvalidCredentials) => {
            return Ok(pages::see_other("/login?error=invalid").finish());
        }
        Err(IdentityError::Throttled { .. }) => {
            return Ok(pages::see_other("/login?error=throttled").finish());
        }
        Err(IdentityError::Password(crate::identity::PasswordError::Busy)) => {
            return Ok(pages::see_other("/login?error=busy").finish());
        }
        Err(other) => return Err(other.into()),
    };
    Ok(match outcome {
        SignInOutcome::SignedIn { session, .. } => pages::see_other("/")
            .cookie(auth::session_cookie(
                &session,
                state.config().session.absolute_timeout,
            ))
            // A new session gets a new CSRF token too.
            .cookie(auth::expired_cookie(csrf::COOKIE))
            .finish(),
        SignInOutcome::SecondFactorRequired { challenge } => pages::see_other("/login/mfa")
            .cookie(mfa::challenge_cookie(
                &challenge,
                state.config().session.mfa_challenge_ttl,
            ))
            .finish(),
    })
}

/// `POST /login` with a JSON body. A JSON content type cannot be sent cross-site
/// without a CORS preflight, which Outpost never grants, so no CSRF token is needed.
pub async fn submit_json(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AppError> {
    Ok(match attempt(&req, &state, body.into_inner()).await? {
        SignInOutcome::SignedIn { user, session } => HttpResponse::Ok()
            .cookie(auth::session_cookie(
                &session,
                state.config().session.absolute_timeout,
            ))
            .json(json!({ "user": user, "session_expires_at": rfc3339(session.expires_at) })),
        SignInOutcome::SecondFactorRequired { challenge } => HttpResponse::Ok()
            .cookie(mfa::challenge_cookie(
                &challenge,
                state.config().session.mfa_challenge_ttl,
            ))
            .json(json!({ "second_factor_required": true, "next": "/login/mfa" })),
    })
}

pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn attempt(
    req: &HttpRequest,
    state: &AppState,
    credentials: Credentials,
) -> Result<SignInOutcome, IdentityError> {
    sign_in::sign_in(
        &state.db,
        &state.passwords,
        &state.sign_in_policy(),
        &credentials.email,
        credentials.password,
        auth::client_info(req),
    )
    .await
}

pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed_in: SignedIn,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    sign_in::sign_out(
        &state.db,
        signed_in.user(),
        signed_in.token.clone(),
        auth::client_info(&req),
    )
    .await?;
    Ok(pages::see_other("/login?notice=signed_out")
        .cookie(auth::expired_cookie(SESSION_COOKIE))
        .cookie(auth::expired_cookie(csrf::COOKIE))
        .finish())
}
