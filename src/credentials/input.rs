//! What a stored credential may be: its kinds and the bounds on what people type.
//! The table's CHECK constraints say the same; checking here first gives a clear
//! error instead of a constraint violation.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use super::CredentialError;
use crate::secret::SecretString;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
pub const MAX_REASON_CHARS: usize = 500;
pub const ROTATION_DAYS: std::ops::RangeInclusive<i32> = 1..=3650;

macro_rules! kinds {
    ($($variant:ident => $name:literal, $label:literal;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind {
            $($variant,)+
        }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)+
                }
            }

            /// How people call it.
            pub fn label(self) -> &'static str {
                match self {
                    $(Kind::$variant => $label,)+
                }
            }
        }
    };
}

kinds! {
    OauthToken => "oauth_token", "OAuth token";
    ApiKey => "api_key", "API key";
    Password => "password", "Password";
    WebhookSecret => "webhook_secret", "Webhook secret";
    SmtpPassword => "smtp_password", "SMTP password";
    StorageKey => "storage_key", "Storage key";
    Other => "other", "Other";
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = CredentialError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| CredentialError::InvalidKind(s.trim().chars().take(40).collect()))
    }
}

/// The list of kinds as error messages show it.
pub fn kind_names() -> String {
    Kind::ALL
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name, trimmed.
pub fn name(raw: &str) -> Result<&str, CredentialError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if (1..=MAX_NAME_CHARS).contains(&chars) && !name.chars().any(char::is_control) {
        Ok(name)
    } else {
        Err(CredentialError::InvalidName)
    }
}

/// The description, trimmed; none is an empty one.
pub fn description(raw: Option<&str>) -> Result<&str, CredentialError> {
    let text = raw.unwrap_or_default().trim();
    if text.chars().count() <= MAX_DESCRIPTION_CHARS {
        Ok(text)
    } else {
        Err(CredentialError::DescriptionTooLong)
    }
}

/// The value is kept exactly as given (whitespace can be part of a secret), but one
/// that is nothing but whitespace is a mistake.
pub fn value(value: &SecretString) -> Result<(), CredentialError> {
    if value.expose().trim().is_empty() {
        Err(CredentialError::EmptyValue)
    } else if value.expose().len() > MAX_VALUE_BYTES {
        Err(CredentialError::ValueTooLong)
    } else {
        Ok(())
    }
}

pub fn rotation(days: Option<i32>) -> Result<Option<i32>, CredentialError> {
    match days {
        Some(d) if !ROTATION_DAYS.contains(&d) => Err(CredentialError::InvalidRotation),
        other => Ok(other),
    }
}

pub fn expiry(
    at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, CredentialError> {
    match at {
        Some(at) if at <= now => Err(CredentialError::ExpiryInPast),
        other => Ok(other),
    }
}

/// Why a value is being revealed, trimmed: it goes into the audit log.
pub fn reason(raw: Option<&str>) -> Result<&str, CredentialError> {
    let reason = raw.unwrap_or_default().trim();
    if (1..=MAX_REASON_CHARS).contains(&reason.chars().count()) {
        Ok(reason)
    } else {
        Err(CredentialError::InvalidReason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_ones_are_named_in_the_error() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().unwrap(), *kind);
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        let err = "ssh_key".parse::<Kind>().unwrap_err();
        assert!(err.to_string().contains("`ssh_key`"), "{err}");
        assert!(err.to_string().contains("`oauth_token`"), "{err}");
    }

    #[test]
    fn bounds_are_in_characters_and_trimmed() {
        assert_eq!(name("  Stripe live key ").unwrap(), "Stripe live key");
        assert!(name(&"é".repeat(100)).is_ok());
        for bad in ["", "  ", "a\nb", &"x".repeat(101)] {
            assert!(name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(description(None).unwrap(), "");
        assert!(description(Some(&"é".repeat(500))).is_ok());
        assert!(description(Some(&"x".repeat(501))).is_err());
        assert!(reason(Some(" incident 42 ")).is_ok());
        for bad in [None, Some(""), Some("   "), Some(&"x".repeat(501)[..])] {
            assert!(reason(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_rotation_and_expiry_are_bounded() {
        assert!(value(&SecretString::new(" a b ")).is_ok());
        assert!(value(&SecretString::new(" \n ")).is_err());
        assert!(value(&SecretString::new("x".repeat(MAX_VALUE_BYTES))).is_ok());
        assert!(value(&SecretString::new("x".repeat(MAX_VALUE_BYTES + 1))).is_err());
        assert_eq!(rotation(None).unwrap(), None);
        assert_eq!(rotation(Some(3650)).unwrap(), Some(3650));
        assert!(rotation(Some(0)).is_err() && rotation(Some(3651)).is_err());
        let now = OffsetDateTime::now_utc();
        assert!(expiry(Some(now), now).is_err());
        assert!(expiry(Some(now + time::Duration::SECOND), now).is_ok());
    }
}
