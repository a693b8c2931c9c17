//! The session cookie and the extractor that turns it into a signed-in person.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use super::error::AppError;
use super::middleware::RequestId;
use crate::identity::session::{self, ActiveSession, NewSession};
use crate::identity::{ClientInfo, User};
use crate::secret::SecretString;

pub const SESSION_COOKIE: &str = "__Host-outpost-session";

/// A request made with a live session. Browser pages that need one redirect to the
/// sign-in page when it is missing or expired.
#[derive(Debug)]
pub struct SignedIn {
    pub session: ActiveSession,
    pub token: SecretString,
}

impl SignedIn {
    pub fn user(&self) -> &User {
        &self.session.user
    }
}

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = super::app_state(req);
        let token = req
            .cookie(SESSION_COOKIE)
            .map(|c| SecretString::new(c.value()));
        Box::pin(async move {
            let state = state?;
            let token = token.ok_or(AppError::LoginRequired)?;
            let policy = state.session_policy();
            let probe = token.clone();
            let active = state
                .db
                .run(move |conn| {
                    session::authenticate(conn, probe.expose(), &policy).map_err(AppError::from)
                })
                .await?;
            active
                .map(|session| SignedIn { session, token })
                .ok_or(AppError::LoginRequired)
        })
    }
}

pub fn session_cookie(new: &NewSession, lifetime: std::time::Duration) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, new.token.expose().to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(lifetime.as_secs() as i64))
        .finish()
}

/// A cookie that tells the browser to forget `name` at once.
pub fn expired_cookie(name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "")
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    cookie.make_removal();
    cookie
}

/// Who is asking, for sessions and audit entries. The peer address is used as is:
/// Outpost terminates connections itself, so forwarding headers are not trusted.
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        ip: req.peer_addr().map(|a| a.ip().to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_id: Some(RequestId::of(req)),
    }
}
