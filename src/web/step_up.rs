//! Re-authentication for sensitive actions: the person types their password and a
//! fresh two-factor code again. Used where an Owner acts alone on something that
//! would otherwise need a second Owner.

use actix_web::HttpRequest;

use super::AppState;
use super::error::AppError;
use crate::identity::totp::{self, TotpError};
use crate::identity::{User, user};
use crate::secret::SecretString;

/// `Ok(false)` when no password was given (the action then takes its normal path);
/// `Ok(true)` when both the password and a TOTP code check out; an error otherwise.
pub async fn verify(
    state: &AppState,
    who: &User,
    password: Option<SecretString>,
    code: Option<String>,
    _req: &HttpRequest,
) -> Result<bool, AppError> {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let code = code
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            AppError::NotPermitted("Enter a two-factor code together with your password.".into())
        })?;
    let email = who.email.clone();
    let stored = state
        .db
        .run(move |conn| user::credentials_by_email(conn, &email).map_err(AppError::from))
        .await?
        .and_then(|(_, hash)| hash);
    if !state.passwords.verify(password, stored).await? {
        return Err(AppError::NotPermitted("The password is wrong.".into()));
    }
    let vault = state.vault.clone();
    let user_id = who.id;
    let now = totp::unix_now();
    state
        .db
        .run(move |conn| {
            totp::verify(conn, &vault, user_id, &code, now).map_err(|e| match e {
                TotpError::InvalidCode | TotpError::Reused => AppError::NotPermitted(
                    "The two-factor code is wrong or was already used.".into(),
                ),
                TotpError::NotEnrolled => AppError::NotPermitted(
                    "Turn on two-factor sign-in first: this action needs a code.".into(),
                ),
                other => other.into(),
            })
        })
        .await?;
    Ok(true)
}
