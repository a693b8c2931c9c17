//! What every "choose a password" form (setup link, invitation, account) says when
//! the new password is refused, and how a refusal becomes a message code.

use crate::identity::{IdentityError, PasswordError};

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
