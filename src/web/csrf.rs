//! CSRF protection for every state-changing form.
//!
//! Double-submit: a random token lives in a `__Host-` cookie (which no other site or
//! subdomain can set) and in a hidden form field; [`CsrfForm`] refuses a post unless
//! both agree. A cross-site `Origin` or `Sec-Fetch-Site` is refused outright as well.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::error::AppError;
use crate::identity::token;
use crate::secret::SecretString;

pub const COOKIE: &str = "__Host-outpost-csrf";
pub const FIELD: &str = "csrf_token";

/// The token to embed in a page's forms; `fresh` tokens still need their cookie set.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    value: SecretString,
    fresh: bool,
}

impl CsrfToken {
    pub fn new() -> Self {
        Self {
            value: token::generate().0,
            fresh: true,
        }
    }

    pub fn value(&self) -> &str {
        self.value.expose()
    }

    /// The cookie to send with the page, if the browser does not have it yet.
    pub fn cookie(&self) -> Option<Cookie<'static>> {
        self.fresh.then(|| {
            Cookie::build(COOKIE, self.value.expose().to_owned())
                .path("/")
                .secure(true)
                .http_only(true)
                .same_site(SameSite::Strict)
                .finish()
        })
    }

    fn from_cookie(req: &HttpRequest) -> Option<SecretString> {
        req.cookie(COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| token::is_well_formed(v))
            .map(SecretString::new)
    }
}

impl Default for CsrfToken {
    fn default() -> Self {
        Self::new()
    }
}

impl FromRequest for CsrfToken {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(match Self::from_cookie(req) {
            Some(value) => Self {
                value,
                fresh: false,
            },
            None => Self::new(),
        }))
    }
}

/// The body of a form that carries nothing but its CSRF token (sign out, revoke, …).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// A urlencoded form body of type `T`, admitted only with a valid CSRF token.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct TokenField {
    csrf_token: Option<String>,
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            refuse_cross_site(&req)?;
            let content_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !content_type.starts_with("application/x-www-form-urlencoded") {
                return Err(AppError::UnsupportedMediaType(
                    "Forms must be sent as application/x-www-form-urlencoded.".into(),
                ));
            }
            let body = body.await.map_err(|_| AppError::PayloadTooLarge {
                limit: super::middleware::problems::MAX_BODY_BYTES,
            })?;
            let sent: TokenField = serde_urlencoded::from_bytes(&body)
                .map_err(|_| AppError::BadRequest("The form body is malformed.".into()))?;
            let expected = CsrfToken::from_cookie(&req).ok_or(AppError::Csrf)?;
            let sent = sent.csrf_token.ok_or(AppError::Csrf)?;
            if !bool::from(sent.as_bytes().ct_eq(expected.expose().as_bytes())) {
                return Err(AppError::Csrf);
            }
            serde_html_form::from_bytes(&body)
                .map(CsrfForm)
                .map_err(|e| AppError::BadRequest(format!("The form is incomplete: {e}.")))
        })
    }
}

/// Browsers say where a request comes from; believe them when they say "elsewhere".
fn refuse_cross_site(req: &HttpRequest) -> Result<(), AppError> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site") == Some("cross-site") {
        return Err(AppError::Csrf);
    }
    if let (Some(origin), Some(host)) = (header("origin"), header("host")) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin_host != host {
            return Err(AppError::Csrf);
        }
    }
    Ok(())
}
