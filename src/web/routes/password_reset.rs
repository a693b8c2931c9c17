//! "Forgot your password": the answer is the same whether or not the account exists.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::identity::account;
use crate::notify::messages;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::mail;
use crate::web::pages::{self, Layout};

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage<'a> {
    layout: Layout<'a>,
    ttl_minutes: u64,
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

pub async fn page(state: web::Data<AppState>, csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    pages::html(
        &ForgotPage {
            layout: Layout::public(&state.config().server_name, &csrf),
            ttl_minutes: state.config().session.setup_link_ttl.as_secs() / 60,
        },
        &csrf,
    )
}

pub async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> Result<HttpResponse, AppError> {
    let ttl = state.config().session.setup_link_ttl;
    let client = client_info(&req);
    let issued = state
        .db
        .run(move |conn| {
            account::request_reset(conn, &form.email, ttl, &client).map_err(AppError::from)
        })
        .await?;
    if let Some((user, link)) = issued {
        let url = format!("{}/setup/{}", state.config().base_url(), link.expose());
        let email = messages::password_reset(
            &user.email,
            &state.config().server_name,
            &url,
            ttl.as_secs() / 60,
        );
        mail::deliver(&state, &email).await;
    }
    Ok(pages::see_other("/login?notice=reset_sent").finish())
}
