//! Accepting an invitation: the invitee chooses a password and becomes a member.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::identity::{sign_in, team};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::pages::{self, Layout};

use super::password_form::{self, NewPassword};

#[derive(Deserialize)]
pub struct Messages {
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    layout: Layout<'a>,
    email: &'a str,
    role: String,
    link_token: &'a str,
    error: Option<&'static str>,
}

pub async fn page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    link: web::Path<String>,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let link = link.into_inner();
    let probe = link.clone();
    let invitation = state
        .db
        .run(move |conn| team::inspect_invitation(conn, &probe).map_err(AppError::from))
        .await?;
    pages::html(
        &InvitePage {
            layout: Layout::public(&state.config().server_name, &csrf),
            email: &invitation.email,
            role: invitation.role().to_string(),
            link_token: &link,
            error: pages::flash(messages.error.as_deref(), password_form::MESSAGES),
        },
        &csrf,
    )
}

pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    link: web::Path<String>,
    CsrfForm(form): CsrfForm<NewPassword>,
) -> Result<HttpResponse, AppError> {
    let link = link.into_inner();
    let page = format!("/invite/{link}");
    let client = client_info(&req);
    password_form::submit(&page, form, |password| {
        sign_in::join(
            &state.db,
            &state.passwords,
            SecretString::new(link.clone()),
            password,
            client,
        )
    })
    .await
}
