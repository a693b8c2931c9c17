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

use crate::backup::error::BackupError;
use crate::backup_target::TargetError;
use crate::credentials::CredentialError;
use crate::db::DbError;
use crate::export::store::StoreError;
use crate::identity::api_keys::ApiKeyError;
use crate::identity::team::TeamError;
use crate::identity::totp::TotpError;
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
    /// An API request without a valid key.
    #[error("unauthorized")]
    Unauthorized,
    /// A signed request (a fleet report) whose sender or signature did not check out;
    /// which of them is for the log only.
    #[error("signature refused")]
    SignatureRefused,
    /// A request for the fleet operators' API without the operator token.
    #[error("operator token required")]
    OperatorTokenRequired,
    #[error("forbidden: missing {0}")]
    Forbidden(crate::identity::Capability),
    /// A refusal that is not about capabilities (e.g. an Admin acting on an Owner).
    #[error("not permitted: {0}")]
    NotPermitted(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many attempts")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("CSRF check failed")]
    Csrf,
    #[error("gone: {0}")]
    Gone(String),
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 422 naming each field that is wrong (the Settings API).
    #[error("invalid fields")]
    InvalidFields(Vec<crate::settings::FieldError>),
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
    /// The role requires two-factor sign-in and the person has not enrolled yet.
    #[error("two-factor enrolment required")]
    MfaEnrolmentRequired,
}

/// The fields of a problem document, minus `instance`, which the middleware adds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:outpost:problem:…` or `about:blank`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Extension member: which fields were wrong, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<crate::settings::FieldError>,
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
            errors: Vec::new(),
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
            errors: Vec::new(),
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
            AppError::Unauthorized => Problem::typed(
                S::UNAUTHORIZED,
                "urn:outpost:problem:unauthorized",
                "Authentication required",
                "Send an API key as `Authorization: Bearer opk_…`.",
            ),
            AppError::SignatureRefused => Problem::typed(
                S::UNAUTHORIZED,
                "urn:outpost:problem:signature",
                "Signature refused",
                "The request must be signed (webhook-signature) by a known sender, \
                 with a webhook-timestamp within five minutes of the receiver's clock.",
            ),
            AppError::OperatorTokenRequired => Problem::typed(
                S::UNAUTHORIZED,
                "urn:outpost:problem:unauthorized",
                "Authentication required",
                "Send the controller's operator token as `Authorization: Bearer …`.",
            ),
            AppError::Forbidden(capability) => Problem::typed(
                S::FORBIDDEN,
                "urn:outpost:problem:forbidden",
                "Forbidden",
                format!("This needs the `{capability}` capability, which your role or key lacks."),
            ),
            AppError::NotPermitted(detail) => Problem::typed(
                S::FORBIDDEN,
                "urn:outpost:problem:forbidden",
                "Forbidden",
                detail,
            ),
            AppError::Conflict(detail) => {
                Problem::typed(S::CONFLICT, "about:blank", "Conflict", detail)
            }
            AppError::TooManyRequests { retry_after_secs } => Problem::typed(
                S::TOO_MANY_REQUESTS,
                "urn:outpost:problem:throttled",
                "Too many attempts",
                format!("Too many failed attempts. Try again in {retry_after_secs} seconds."),
            ),
            AppError::MfaEnrolmentRequired => Problem::typed(
                S::FORBIDDEN,
                "urn:outpost:problem:mfa-enrolment-required",
                "Two-factor enrolment required",
                "Your role requires two-factor sign-in. Enrol at /account/mfa first.",
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
            AppError::InvalidFields(errors) => Problem {
                errors: errors.clone(),
                ..Problem::typed(
                    S::UNPROCESSABLE_ENTITY,
                    "urn:outpost:problem:validation",
                    "Invalid input",
                    errors
                        .iter()
                        .map(|e| format!("`{}` {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            },
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
        let redirect = |to: &'static str| {
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .finish()
        };
        match self {
            AppError::LoginRequired => redirect("/login"),
            AppError::MfaEnrolmentRequired => redirect("/account/mfa"),
            AppError::Unauthorized => HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"outpost\""))
                .finish(),
            AppError::OperatorTokenRequired => HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"outpost-fleet\""))
                .finish(),
            AppError::TooManyRequests { retry_after_secs } => HttpResponse::TooManyRequests()
                .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
                .finish(),
            _ => HttpResponse::build(self.status_code()).finish(),
        }
    }
}

impl From<crate::settings::SettingsError> for AppError {
    fn from(e: crate::settings::SettingsError) -> Self {
        match e {
            crate::settings::SettingsError::Invalid(errors) => AppError::InvalidFields(errors),
            other => AppError::Internal(other.to_string()),
        }
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
            IdentityError::Team(team) => team.into(),
            IdentityError::Throttled { retry_after } => AppError::TooManyRequests {
                // Round up: a client retrying at the floor would arrive a moment too early.
                retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u64,
            },
            IdentityError::ChallengeExpired => AppError::Gone(
                "The sign-in attempt expired. Enter your email and password again.".into(),
            ),
            IdentityError::CodeReused(_) => AppError::InvalidCredentials,
            IdentityError::Totp(t @ (TotpError::Vault(_) | TotpError::Db(_))) => {
                AppError::Internal(t.to_string())
            }
            IdentityError::Totp(t) => AppError::Unprocessable(t.to_string()),
            IdentityError::ApiKey(ApiKeyError::NotFound) => AppError::NotFound,
            IdentityError::ApiKey(ApiKeyError::Db(db)) => db.into(),
            IdentityError::ApiKey(k) => AppError::Unprocessable(k.to_string()),
            IdentityError::Db(db) => db.into(),
        }
    }
}

impl From<TotpError> for AppError {
    fn from(e: TotpError) -> Self {
        IdentityError::from(e).into()
    }
}

impl From<PasswordError> for AppError {
    fn from(e: PasswordError) -> Self {
        IdentityError::from(e).into()
    }
}

impl From<CredentialError> for AppError {
    fn from(e: CredentialError) -> Self {
        let text = e.to_string();
        match e {
            CredentialError::NotFound => AppError::NotFound,
            CredentialError::Vault(_) | CredentialError::Db(_) => AppError::Internal(text),
            CredentialError::DuplicateName(_) => AppError::Conflict(capitalised(&text)),
            CredentialError::InvalidName
            | CredentialError::InvalidKind(_)
            | CredentialError::EmptyValue
            | CredentialError::ValueTooLong
            | CredentialError::DescriptionTooLong
            | CredentialError::InvalidRotation
            | CredentialError::ExpiryInPast
            | CredentialError::InvalidReason => AppError::Unprocessable(capitalised(&text)),
        }
    }
}

impl From<crate::notify::webhooks::WebhookError> for AppError {
    fn from(e: crate::notify::webhooks::WebhookError) -> Self {
        use crate::notify::webhooks::WebhookError as E;
        let text = e.to_string();
        match e {
            E::NotFound => AppError::NotFound,
            E::Vault(_) | E::Db(_) | E::Pool(_) => AppError::Internal(text),
            E::InvalidUrl(_) | E::NoEvents | E::UnknownEvent(_) | E::DescriptionTooLong => {
                AppError::Unprocessable(capitalised(&text))
            }
        }
    }
}

/// Domain errors read as clauses; a problem's detail reads as a sentence.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

impl From<TeamError> for AppError {
    fn from(e: TeamError) -> Self {
        let text = e.to_string();
        match e {
            TeamError::AlreadyMember(_)
            | TeamError::LastOwner
            | TeamError::GrantNotPending
            | TeamError::InvitationAwaitingApproval => AppError::Conflict(text),
            TeamError::NoSuchMember | TeamError::NoSuchInvitation => AppError::NotFound,
            TeamError::InvitationInvalid => AppError::Gone(
                "This invitation is invalid, already used, revoked or expired. Ask for a new one."
                    .into(),
            ),
            TeamError::AdminLimit
            | TeamError::OwnAccount
            | TeamError::StepUpRequired
            | TeamError::SameApprover => AppError::NotPermitted(text),
            TeamError::InvalidEmail(_) => AppError::Unprocessable(text),
            TeamError::Db(db) => db.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::NotReady(status) => {
                AppError::Conflict(format!("This export cannot be downloaded: it is {status}."))
            }
            StoreError::Expired => AppError::Gone(
                "This export expired and its file was removed. Prepare a new one.".into(),
            ),
            StoreError::Missing(_) | StoreError::Db(_) => AppError::Internal(e.to_string()),
        }
    }
}

impl From<BackupError> for AppError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Busy => AppError::Conflict(
                "A backup, restore drill or restore is already running on this server.".into(),
            ),
            BackupError::UnknownTarget(..)
            | BackupError::NotFound(_)
            | BackupError::Ambiguous(_)
            | BackupError::Target(TargetError::NotFound(_)) => AppError::NotFound,
            // Not served, and not hidden either: the operator must look at this backup.
            BackupError::Manifest(_) => AppError::Conflict(
                "The backup's manifest does not authenticate (altered, or written under \
                 another key), so it is not served."
                    .into(),
            ),
            BackupError::Sealed { .. } => AppError::Conflict(
                "This backup is sealed to the operator's recipient key: the server cannot \
                 read it. Restore it with `outpost backup restore --identity FILE`."
                    .into(),
            ),
            other => AppError::Internal(other.to_string()),
        }
    }
}
