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

use super::password_form;

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

#[derive(Deserialize)]
pub struct NewPassword {
    password: SecretString,
    confirm: SecretString,
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
            layout: Layout::public(&state.config.server_name, &csrf),
            email: &user.email,
            link_token: &link,
            link_ttl_minutes: state.config.session.setup_link_ttl.as_secs() / 60,
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
    let back = |code: &str| Ok(pages::see_other(&format!("/setup/{link}?error={code}")).finish());
    if form.password != form.confirm {
        return back("mismatch");
    }
    let result = sign_in::complete_setup(
        &state.db,
        &state.passwords,
        SecretString::new(link.clone()),
        form.password,
        auth::client_info(&req),
    )
    .await;
    match result {
        Ok(_) => Ok(pages::see_other("/login?notice=setup_complete").finish()),
        Err(error) => match password_form::code_for(&error) {
            Some(code) => back(code),
            None => Err(error.into()),
        },
    }
}
