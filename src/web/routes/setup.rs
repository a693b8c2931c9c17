//! The one-time setup link at which a new account chooses its password.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::identity::{setup_link, sign_in};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::pages::{self, Layout};

use super::password_form::{self, NewPassword};

#[derive(askama::Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    layout: Layout<'a>,
    email: &'a str,
    link_token: &'a str,
    link_ttl_minutes: u64,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct Messages {
    error: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    link: web::Path<String>,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let link = link.into_inner();
    let probe = link.clone();
    let user = state
        .db
        .run(move |conn| setup_link::inspect(conn, &probe))
        .await?;
    let error = pages::flash(messages.error.as_deref(), password_form::MESSAGES);
    pages::html(
        &SetupPage {
            layout: Layout::public(&state.config().server_name, &csrf),
            email: &user.email,
            link_token: &link,
            link_ttl_minutes: state.config().session.setup_link_ttl.as_secs() / 60,
            error,
        },
        &csrf,
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    link: web::Path<String>,
    CsrfForm(form): CsrfForm<NewPassword>,
) -> Result<HttpResponse, AppError> {
    let link = link.into_inner();
    let page = format!("/setup/{link}");
    let client = auth::client_info(&req);
    password_form::submit(&page, form, |password| {
        sign_in::complete_setup(
            &state.db,
            &state.passwords,
            SecretString::new(link.clone()),
            password,
            client,
        )
    })
    .await
}
