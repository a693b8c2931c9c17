//! Re-authentication for sensitive actions: the person types their password or a fresh
//! two-factor code again. [`verify`] asks for both, where an Owner acts alone on
//! something that would otherwise need a second Owner; [`reauthenticate`] for either,
//! before a stored credential is revealed.
//!
//! Failures count against the account's sign-in back-off: a stolen session must not
//! become a way to guess the password or a code without limit.

use actix_web::HttpRequest;
use time::OffsetDateTime;

use super::AppState;
use super::error::AppError;
use crate::identity::session::Reauthentication;
use crate::identity::throttle::{self, Subject};
use crate::identity::totp::{self, TotpError};
use crate::identity::{IdentityError, User, user};
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
    let code = given(code).ok_or_else(|| {
        AppError::NotPermitted("Enter a two-factor code together with your password.".into())
    })?;
    check_password(state, who, password).await?;
    check_code(state, who, code).await?;
    Ok(true)
}

/// Checks whichever was given, the password or a TOTP code (the code when both were);
/// `Ok(None)` when neither was.
pub async fn reauthenticate(
    state: &AppState,
    who: &User,
    password: Option<SecretString>,
    code: Option<String>,
) -> Result<Option<Reauthentication>, AppError> {
    if let Some(code) = given(code) {
        check_code(state, who, code).await?;
        return Ok(Some(Reauthentication::TotpCode));
    }
    match password.filter(|p| !p.is_empty()) {
        Some(password) => {
            check_password(state, who, password).await?;
            Ok(Some(Reauthentication::Password))
        }
        None => Ok(None),
    }
}

fn given(code: Option<String>) -> Option<String> {
    code.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty())
}

pub async fn check_password(
    state: &AppState,
    who: &User,
    password: SecretString,
) -> Result<(), AppError> {
    refuse_if_throttled(state, who).await?;
    let email = who.email.clone();
    let stored = state
        .db
        .run(move |conn| user::credentials_by_email(conn, &email).map_err(AppError::from))
        .await?
        .and_then(|(_, hash)| hash);
    if state.passwords.verify(password, stored).await? {
        Ok(())
    } else {
        Err(failed(state, who, "The password is wrong.").await)
    }
}

/// Checks a TOTP code of `who` and spends its time step.
pub async fn check_code(state: &AppState, who: &User, code: String) -> Result<(), AppError> {
    refuse_if_throttled(state, who).await?;
    let vault = state.vault.clone();
    let user_id = who.id;
    let now = totp::unix_now();
    let checked = state
        .db
        .run(move |conn| Ok::<_, AppError>(totp::verify(conn, &vault, user_id, &code, now)))
        .await?;
    match checked {
        Ok(()) => Ok(()),
        Err(TotpError::InvalidCode | TotpError::Reused) => Err(failed(
            state,
            who,
            "The two-factor code is wrong or was already used.",
        )
        .await),
        Err(TotpError::NotEnrolled) => Err(AppError::NotPermitted(
            "Turn on two-factor sign-in first: this action needs a code.".into(),
        )),
        Err(other) => Err(other.into()),
    }
}

async fn refuse_if_throttled(state: &AppState, who: &User) -> Result<(), AppError> {
    let email = who.email.clone();
    let wait = state
        .db
        .run(move |conn| {
            throttle::retry_after(conn, &[Subject::Account(&email)], OffsetDateTime::now_utc())
                .map_err(AppError::from)
        })
        .await?;
    match wait {
        Some(wait) => Err(IdentityError::Throttled { retry_after: wait }.into()),
        None => Ok(()),
    }
}

/// Counts the failure against the account and returns the refusal to send.
async fn failed(state: &AppState, who: &User, why: &str) -> AppError {
    let email = who.email.clone();
    let policy = state.sign_in_policy().throttle;
    let counted = state
        .db
        .run(move |conn| {
            throttle::record_failure(
                conn,
                Subject::Account(&email),
                &policy,
                OffsetDateTime::now_utc(),
            )
            .map_err(AppError::from)
        })
        .await;
    match counted {
        Ok(_) => AppError::NotPermitted(why.into()),
        Err(e) => e,
    }
}
