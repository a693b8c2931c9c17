//! What every "choose a password" form (setup link, invitation, account) says when
//! the new password is refused, and how a refusal becomes a message code.

use std::future::Future;

use actix_web::HttpResponse;
use serde::Deserialize;

use crate::identity::{IdentityError, PasswordError};
use crate::secret::SecretString;
use crate::web::error::AppError;
use crate::web::pages;

/// The two fields of every "choose a password" form.
#[derive(Deserialize)]
pub struct NewPassword {
    pub password: SecretString,
    pub confirm: SecretString,
}

/// Runs a "choose a password" form posted at `page`: mismatched entries and anything
/// the person can fix send them back to the form with a message; success goes to the
/// sign-in page.
pub async fn submit<T, Fut>(
    page: &str,
    form: NewPassword,
    set: impl FnOnce(SecretString) -> Fut,
) -> Result<HttpResponse, AppError>
where
    Fut: Future<Output = Result<T, IdentityError>>,
{
    let back = |code: &str| Ok(pages::see_other(&format!("{page}?error={code}")).finish());
    if form.password != form.confirm {
        return back("mismatch");
    }
    match set(form.password).await {
        Ok(_) => Ok(pages::see_other("/login?notice=setup_complete").finish()),
        Err(error) => match code_for(&error) {
            Some(code) => back(code),
            None => Err(error.into()),
        },
    }
}

pub const MESSAGES: &[(&str, &str)] = &[
    ("mismatch", "The two passwords differ."),
    ("too_short", "Use at least 12 characters."),
    ("too_long", "Use at most 256 characters."),
    (
        "too_common",
        "That password is among the most common ones. Choose another.",
    ),
    ("busy", "The server is busy. Try again in a few seconds."),
    ("wrong_password", "The current password is wrong."),
];

/// The message code for a refusal the person can fix by typing something else.
pub fn code_for(error: &IdentityError) -> Option<&'static str> {
    match error {
        IdentityError::Password(PasswordError::TooShort) => Some("too_short"),
        IdentityError::Password(PasswordError::TooLong) => Some("too_long"),
        IdentityError::Password(PasswordError::TooCommon) => Some("too_common"),
        IdentityError::Password(PasswordError::Busy) => Some("busy"),
        IdentityError::InvalidCredentials => Some("wrong_password"),
        _ => None,
    }
}
