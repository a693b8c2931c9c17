//! Server-rendered pages (templates/ via askama) and the one way to send them.
//!
//! Page structs carry CSRF tokens, so they deliberately have no `Debug`.
#![allow(missing_debug_implementations)]

use actix_web::HttpResponse;
use askama::Template;

use super::csrf::CsrfToken;
use super::error::AppError;
use crate::identity::User;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub server_name: &'a str,
    pub csrf_token: &'a str,
    pub error: Option<&'static str>,
    pub notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage<'a> {
    pub server_name: &'a str,
    pub csrf_token: &'a str,
    pub email: &'a str,
    pub link_token: &'a str,
    pub link_ttl_minutes: u64,
    pub error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage<'a> {
    pub server_name: &'a str,
    pub csrf_token: &'a str,
    pub version: &'a str,
    pub user: &'a User,
    pub session_expires: String,
}

/// Renders `page` as HTML, setting the CSRF cookie if the browser lacks it.
pub fn html(page: &impl Template, csrf: &CsrfToken) -> Result<HttpResponse, AppError> {
    let body = page.render()?;
    let mut response = HttpResponse::Ok();
    response.content_type("text/html; charset=utf-8");
    if let Some(cookie) = csrf.cookie() {
        response.cookie(cookie);
    }
    Ok(response.body(body))
}

/// A 303 to `location`: the answer to every successful form post.
pub fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((actix_web::http::header::LOCATION, location.to_owned()));
    response
}
