//! Who is signed in and what they may do: accounts, passwords, sessions, setup links,
//! API keys and sign-in back-off.

pub mod account;
pub mod api_keys;
pub mod capability;
pub mod key_networks;
pub mod mfa_challenge;
pub mod network;
pub mod owner;
pub mod password;
pub mod policy;
pub mod recovery_codes;
pub mod session;
pub mod setup_link;
pub mod sign_in;
pub mod sign_in_probe;
pub mod team;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod user;

use crate::db::DbError;

pub use capability::{Capability, RequiredCapability, cap};
pub use password::{PasswordError, Passwords};
pub use user::{Role, User};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("`{0}` is not a valid email address")]
    InvalidEmail(String),
    #[error("an owner already exists ({0}); invite further members from the dashboard")]
    OwnerExists(String),
    #[error("this setup link is invalid, used or expired")]
    SetupLinkInvalid,
    #[error("too many failed attempts; try again in {} seconds", retry_after.as_secs().max(1))]
    Throttled { retry_after: std::time::Duration },
    #[error("the sign-in attempt expired; enter your password again")]
    ChallengeExpired,
    /// A TOTP code was presented a second time: someone may have seen it.
    #[error("this code has already been used")]
    CodeReused(Box<User>),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Team(#[from] team::TeamError),
    #[error(transparent)]
    Totp(#[from] totp::TotpError),
    #[error(transparent)]
    ApiKey(#[from] api_keys::ApiKeyError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for IdentityError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// Where a request came from, for sessions and audit entries.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Lower-cased, trimmed email, or an error if it cannot be an address.
pub fn normalize_email(raw: &str) -> Result<String, IdentityError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(IdentityError::InvalidEmail(
            raw.trim().chars().take(80).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "a@b@c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }
}
