//! Signing in and out. Browsers post a form and follow redirects (a failed attempt
//! goes back to the form with a generic message); scripts may post JSON instead.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::identity::{IdentityError, sign_in};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::{self, SESSION_COOKIE, SignedIn};
use crate::web::csrf::{self, CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::pages::{self, Layout};

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

#[derive(Deserialize)]
pub struct NoFields {}

pub async fn page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    // Fixed texts only: nothing from the query string is reflected into the page.
    let error = match messages.error.as_deref() {
        Some("invalid") => Some("Invalid email or password."),
        Some("busy") => Some("Too many sign-ins are in progress. Try again in a few seconds."),
        Some(_) => Some("Sign-in failed. Try again."),
        None => None,
    };
    let notice = match messages.notice.as_deref() {
        Some("setup_complete") => Some("Your password is set. Sign in to continue."),
        Some("signed_out") => Some("You have signed out."),
        _ => None,
    };
    pages::html(
        &LoginPage {
            layout: Layout::public(&state.config.server_name, &csrf),
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
    match start_session(&req, &state, form).await {
        Ok(response) => Ok(response),
        Err(IdentityError::InvalidCredentials) => {
            Ok(pages::see_other("/login?error=invalid").finish())
        }
        Err(IdentityError::Password(crate::identity::PasswordError::Busy)) => {
            Ok(pages::see_other("/login?error=busy").finish())
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /login` with a JSON body. A JSON content type cannot be sent cross-site
/// without a CORS preflight, which Outpost never grants, so no CSRF token is needed.
pub async fn submit_json(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AppError> {
    Ok(start_session(&req, &state, body.into_inner()).await?)
}

async fn start_session(
    req: &HttpRequest,
    state: &AppState,
    credentials: Credentials,
) -> Result<HttpResponse, IdentityError> {
    let policy = state.session_policy();
    let (user, session) = sign_in::sign_in(
        &state.db,
        &state.passwords,
        policy,
        &credentials.email,
        credentials.password,
        auth::client_info(req),
    )
    .await?;
    let wants_json = req.content_type().starts_with("application/json");
    let mut response = if wants_json {
        HttpResponse::Ok()
    } else {
        pages::see_other("/")
    };
    response.cookie(auth::session_cookie(&session, policy.absolute_timeout));
    // A new session gets a new CSRF token too.
    response.cookie(auth::expired_cookie(csrf::COOKIE));
    Ok(if wants_json {
        let expires_at = session
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        response.json(json!({ "user": user, "session_expires_at": expires_at }))
    } else {
        response.finish()
    })
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

trait ContentType {
    fn content_type(&self) -> &str;
}

impl ContentType for HttpRequest {
    fn content_type(&self) -> &str {
        self.headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}
