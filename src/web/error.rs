//! Every failure a client sees, rendered as an RFC 9457 problem document.
//!
//! Handlers return [`AppError`]; the problem middleware turns it (or any other error
//! response) into `application/problem+json` carrying the request id as `instance`.
//! The detail text is written here, never taken from an internal error, so no SQL,
//! path, crate name or version can leak.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
use crate::identity::api_keys::ApiKeyError;
use crate::identity::{IdentityError, PasswordError};

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("CSRF check failed")]
    Csrf,
    #[error("gone: {0}")]
    Gone(String),
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("busy")]
    Busy,
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The string is for the log only; the client sees a generic detail.
    #[error("internal error: {0}")]
    Internal(String),
    /// Not an error for the client: a browser page that needs a session.
    #[error("sign-in required")]
    LoginRequired,
}

/// The fields of a problem document, minus `instance`, which the middleware adds.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Problem {
    /// A problem for a bare HTTP status (RFC 9457 §4.2.1: type about:blank).
    pub fn for_status(status: StatusCode) -> Self {
        let detail = match status {
            StatusCode::NOT_FOUND => "No resource exists at this path.",
            StatusCode::METHOD_NOT_ALLOWED => "This resource does not support that method.",
            StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large.",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "The request body has an unsupported media type.",
            s if s.is_server_error() => {
                "An internal error occurred. Quote the request id when reporting it."
            }
            _ => "The request could not be processed.",
        };
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
        }
    }

    fn typed(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
        }
    }

    pub fn render(mut self, request_id: &str) -> HttpResponse {
        self.instance = Some(request_id.to_string());
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).unwrap_or_else(|_| "{}".into());
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        response.body(body)
    }
}

impl AppError {
    pub fn problem(&self) -> Problem {
        use StatusCode as S;
        match self {
            AppError::NotFound => Problem::for_status(S::NOT_FOUND),
            AppError::MethodNotAllowed => Problem::for_status(S::METHOD_NOT_ALLOWED),
            AppError::BadRequest(detail) => {
                Problem::typed(S::BAD_REQUEST, "about:blank", "Bad Request", detail)
            }
            AppError::UnsupportedMediaType(detail) => Problem::typed(
                S::UNSUPPORTED_MEDIA_TYPE,
                "about:blank",
                "Unsupported Media Type",
                detail,
            ),
            AppError::PayloadTooLarge { limit } => Problem::typed(
                S::PAYLOAD_TOO_LARGE,
                "about:blank",
                "Payload Too Large",
                format!("Request bodies are limited to {} KiB.", limit / 1024),
            ),
            AppError::InvalidCredentials => Problem::typed(
                S::UNAUTHORIZED,
                "urn:outpost:problem:invalid-credentials",
                "Invalid credentials",
                "Invalid email or password.",
            ),
            AppError::Csrf => Problem::typed(
                S::FORBIDDEN,
                "urn:outpost:problem:csrf",
                "Cross-site request refused",
                "The form was stale or sent from another site. Reload the page and try again.",
            ),
            AppError::Gone(detail) => Problem::typed(S::GONE, "about:blank", "Gone", detail),
            AppError::Unprocessable(detail) => Problem::typed(
                S::UNPROCESSABLE_ENTITY,
                "urn:outpost:problem:validation",
                "Invalid input",
                detail,
            ),
            AppError::Busy => Problem::typed(
                S::SERVICE_UNAVAILABLE,
                "urn:outpost:problem:busy",
                "Busy",
                "Too many sign-ins are in progress. Try again in a few seconds.",
            ),
            AppError::Unavailable(detail) => Problem::typed(
                S::SERVICE_UNAVAILABLE,
                "about:blank",
                "Service Unavailable",
                detail,
            ),
            AppError::Internal(_) => Problem::for_status(S::INTERNAL_SERVER_ERROR),
            AppError::LoginRequired => Problem::for_status(S::SEE_OTHER),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The body is a placeholder: the problem middleware renders the final document.
    fn error_response(&self) -> HttpResponse {
        if matches!(self, AppError::LoginRequired) {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish();
        }
        HttpResponse::build(self.status_code()).finish()
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(format!("template: {e}"))
    }
}

impl From<IdentityError> for AppError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::InvalidCredentials => AppError::InvalidCredentials,
            IdentityError::InvalidEmail(_) => AppError::Unprocessable(e.to_string()),
            IdentityError::OwnerExists(_) => AppError::Unprocessable(e.to_string()),
            IdentityError::SetupLinkInvalid => AppError::Gone(
                "This setup link is invalid, already used or expired. Ask an Owner for a new one."
                    .into(),
            ),
            IdentityError::Password(PasswordError::Busy) => AppError::Busy,
            IdentityError::Password(PasswordError::Hashing) => {
                AppError::Internal("password hashing failed".into())
            }
            IdentityError::Password(p) => AppError::Unprocessable(p.to_string()),
            IdentityError::ApiKey(ApiKeyError::NotFound) => AppError::NotFound,
            IdentityError::ApiKey(ApiKeyError::Db(db)) => db.into(),
            IdentityError::ApiKey(k) => AppError::Unprocessable(k.to_string()),
            IdentityError::Db(db) => db.into(),
        }
    }
}
