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

use super::password_form;

#[derive(Deserialize)]
pub struct Messages {
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NewPassword {
    password: SecretString,
    confirm: SecretString,
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
            layout: Layout::public(&state.config.server_name, &csrf),
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
    let back = |code: &str| Ok(pages::see_other(&format!("/invite/{link}?error={code}")).finish());
    if form.password != form.confirm {
        return back("mismatch");
    }
    let joined = sign_in::join(
        &state.db,
        &state.passwords,
        SecretString::new(link.clone()),
        form.password,
        client_info(&req),
    )
    .await;
    if let Err(error) = joined {
        return match password_form::code_for(&error) {
            Some(code) => back(code),
            None => Err(error.into()),
        };
    }
    Ok(pages::see_other("/login?notice=setup_complete").finish())
}
