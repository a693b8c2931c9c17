//! Argon2id password hashing with a bounded number of hashes in flight, so a flood of
//! sign-ins queues (and is refused after a while) instead of exhausting memory.

use std::sync::Arc;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;
use zxcvbn::Match;
use zxcvbn::matching::patterns::MatchPattern;

use crate::secret::SecretString;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("password must be at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("too many sign-ins in progress; try again shortly")]
    Busy,
    #[error("password hashing failed")]
    Hashing,
    #[error("this password is among the most common passwords; choose another")]
    TooCommon,
}

/// Passwords ranked this high in zxcvbn's frequency list are refused outright.
pub const COMMON_RANK_LIMIT: usize = 10_000;

/// The policy every new password meets.
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        Err(PasswordError::TooShort)
    } else if chars > MAX_LENGTH {
        Err(PasswordError::TooLong)
    } else if is_common(password) {
        Err(PasswordError::TooCommon)
    } else {
        Ok(())
    }
}

/// True when the whole password, ignoring case, is one of the [`COMMON_RANK_LIMIT`] most
/// common passwords, a l33t spelling of one ("l3tm31n"; swapping letters for digits is
/// the first thing a guessing attack tries), or one of them repeated. A reversed entry
/// is accepted, and so is a common password with anything added, which zxcvbn reports
/// as more than one match.
fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let entropy = zxcvbn::zxcvbn(&lower, &[]);
    match entropy.sequence() {
        [only] => covers(only, &lower) && is_common_match(only),
        _ => false,
    }
}

fn covers(m: &Match, text: &str) -> bool {
    m.i == 0 && m.j + 1 == text.chars().count()
}

fn is_common_match(m: &Match) -> bool {
    match &m.pattern {
        MatchPattern::Dictionary(dict) => {
            // zxcvbn does not export the type of `dictionary_name`; its Debug name is stable.
            format!("{:?}", dict.dictionary_name) == "Passwords"
                && dict.rank <= COMMON_RANK_LIMIT
                && !dict.reversed
        }
        // zxcvbn prefers "a common password twice" over a dictionary match when that is
        // cheaper to guess, which hides list entries such as "ghjcnjghjcnj".
        MatchPattern::Repeat(repeat) => match repeat.base_matches.as_slice() {
            [base] => covers(base, &repeat.base_token) && is_common_match(base),
            _ => false,
        },
        _ => false,
    }
}

#[derive(Debug)]
pub struct Passwords {
    argon: Argon2<'static>,
    slots: Semaphore,
    queue_timeout: Duration,
    /// Verified against when an account does not exist, so both cases cost the same.
    decoy_hash: String,
}

impl Passwords {
    /// OWASP's Argon2id minimum (m = 19 MiB, t = 2, p = 1), which is also the crate default.
    pub fn new(max_concurrent: usize, queue_timeout: Duration) -> Result<Self, PasswordError> {
        let params = Params::new(19 * 1024, 2, 1, None).map_err(|_| PasswordError::Hashing)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy_hash = hash_with(&argon, "decoy password never matches")?;
        Ok(Self {
            argon,
            slots: Semaphore::new(max_concurrent.max(1)),
            queue_timeout,
            decoy_hash,
        })
    }

    /// Hashes on the calling thread: for the CLI and other synchronous callers.
    pub fn hash_blocking(&self, password: &str) -> Result<String, PasswordError> {
        hash_with(&self.argon, password)
    }

    pub async fn hash(self: &Arc<Self>, password: SecretString) -> Result<String, PasswordError> {
        self.in_slot(move |this| hash_with(&this.argon, password.expose()))
            .await
    }

    /// Verifies against `stored`, or against a decoy when there is nothing stored.
    pub async fn verify(
        self: &Arc<Self>,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.in_slot(move |this| {
            let (hash, real) = match &stored {
                Some(h) => (h.as_str(), true),
                None => (this.decoy_hash.as_str(), false),
            };
            let matches = this
                .argon
                .verify_password(password.expose().as_bytes(), hash)
                .is_ok();
            Ok(real && matches)
        })
        .await
    }

    async fn in_slot<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Self) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = tokio::time::timeout(self.queue_timeout, self.slots.acquire())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || work(&this))
            .await
            .map_err(|_| PasswordError::Hashing)?
    }
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_counts_characters_not_bytes() {
        assert_eq!(check_policy("short"), Err(PasswordError::TooShort));
        assert_eq!(check_policy("ééééééééééé"), Err(PasswordError::TooShort));
        assert_eq!(check_policy(&"x".repeat(64)), Ok(()));
        assert_eq!(check_policy(&"x".repeat(257)), Err(PasswordError::TooLong));
    }

    #[test]
    fn the_most_common_passwords_are_refused() {
        // Entries of zxcvbn's list long enough to pass the length rule (ranks 1 000 – 9 669).
        for common in [
            "qwerty123456",
            "123456qwerty",
            "1qaz2wsx3edc",
            "leavemealone",
            "finalfantasy",
            "justinbieber",
            "counterstrike",
            "ghjcnjghjcnj",
        ] {
            assert_eq!(
                check_policy(common),
                Err(PasswordError::TooCommon),
                "{common}"
            );
        }
        // Case does not help, and neither does swapping letters for digits.
        assert_eq!(check_policy("LeaveMeAlone"), Err(PasswordError::TooCommon));
        assert_eq!(check_policy("l34v3m34l0n3"), Err(PasswordError::TooCommon));
    }

    #[test]
    fn uncommon_passwords_pass() {
        for fine in [
            "Xq7#mP2vL9!tRw4$kZ8n",
            "correct horse battery staple",
            // Reversed, or with something added, a list entry is no longer a list entry.
            "enolaemevael",
            "leavemealone-7Qx",
        ] {
            assert_eq!(check_policy(fine), Ok(()), "{fine}");
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let pw = Arc::new(Passwords::new(2, Duration::from_secs(5)).unwrap());
        let hash = pw
            .hash(SecretString::new("correct horse battery"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let ok = pw
            .verify(
                SecretString::new("correct horse battery"),
                Some(hash.clone()),
            )
            .await;
        assert_eq!(ok, Ok(true));
        let wrong = pw
            .verify(SecretString::new("wrong horse battery"), Some(hash))
            .await;
        assert_eq!(wrong, Ok(false));
        let absent = pw
            .verify(SecretString::new("decoy password never matches"), None)
            .await;
        assert_eq!(absent, Ok(false), "the decoy must never admit anyone");
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_after_the_timeout() {
        let pw = Arc::new(Passwords::new(1, Duration::from_millis(20)).unwrap());
        let _held = pw.slots.acquire().await.unwrap();
        let r = pw.verify(SecretString::new("whatever"), None).await;
        assert_eq!(r, Err(PasswordError::Busy));
    }
}
