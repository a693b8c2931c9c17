//! Accepting an invitation: the invitee chooses a password and becomes a member.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::identity::{IdentityError, PasswordError, password, team};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken};
use crate::web::error::AppError;
use crate::web::pages::{self, Layout};

const ERRORS: &[(&str, &str)] = &[
    ("mismatch", "The two passwords differ."),
    ("too_short", "Use at least 12 characters."),
    ("too_long", "Use at most 256 characters."),
    (
        "too_common",
        "That password is among the most common ones. Choose another.",
    ),
    ("busy", "The server is busy. Try again in a few seconds."),
];

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
            error: pages::flash(messages.error.as_deref(), ERRORS),
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
    match password::check_policy(form.password.expose()) {
        Ok(()) => {}
        Err(PasswordError::TooShort) => return back("too_short"),
        Err(PasswordError::TooLong) => return back("too_long"),
        Err(PasswordError::TooCommon) => return back("too_common"),
        Err(other) => return Err(IdentityError::from(other).into()),
    }
    // Check the link before paying for a password hash.
    let probe = link.clone();
    state
        .db
        .run(move |conn| team::inspect_invitation(conn, &probe).map_err(AppError::from))
        .await?;
    let hash = match state.passwords.hash(form.password).await {
        Ok(hash) => hash,
        Err(PasswordError::Busy) => return back("busy"),
        Err(other) => return Err(IdentityError::from(other).into()),
    };
    let client = client_info(&req);
    state
        .db
        .run(move |conn| {
            team::accept_invitation(conn, &link, &hash, &client).map_err(AppError::from)
        })
        .await?;
    Ok(pages::see_other("/login?notice=setup_complete").finish())
}
