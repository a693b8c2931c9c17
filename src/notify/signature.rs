//! Standard Webhooks signatures (v1): HMAC-SHA256 over `{id}.{timestamp}.{body}` with a
//! `whsec_`-prefixed base64 secret, sent as `webhook-signature: v1,<base64>` beside
//! `webhook-id` and `webhook-timestamp`. Used for the client's outbound webhooks and for
//! the satellites' health reports to the fleet controller.
//!
//! Verification checks the timestamp first (±[`TOLERANCE`], so a captured request
//! cannot be replayed later; rejecting replays within the window by id is the
//! receiver's job), then each `v1` signature in the header (several during a secret's
//! rotation): decoded, exactly 32 bytes, compared in constant time. An empty
//! signature (`v1,`) never verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// How far a timestamp may be from the receiver's clock, either way.
pub const TOLERANCE: i64 = 300;

const PREFIX: &str = "whsec_";
const SHORTEST: usize = 24;
const LONGEST: usize = 64;
const MAC_LEN: usize = 32;

/// A signing secret. Never printed: `Debug` shows only its length.
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecret({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the secret must be `whsec_` followed by base64 of {SHORTEST} to {LONGEST} bytes")]
    BadSecret,
    #[error("the timestamp is {0} s old (at most {TOLERANCE} s are accepted)")]
    Stale(i64),
    #[error("the timestamp is {0} s in the future (at most {TOLERANCE} s are accepted)")]
    Future(i64),
    #[error("no signature matches")]
    Mismatch,
}

impl WebhookSecret {
    /// From its written form, `whsec_<base64>` (the prefix may be left off).
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let encoded = text.trim().strip_prefix(PREFIX).unwrap_or(text.trim());
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| SignatureError::BadSecret)?,
        );
        if !(SHORTEST..=LONGEST).contains(&bytes.len()) {
            return Err(SignatureError::BadSecret);
        }
        Ok(Self(bytes))
    }

    /// A new random secret of 32 bytes.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(&mut bytes).expect("the system's random source");
        Self(bytes)
    }

    /// Its written form, for the one place it is handed over.
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{PREFIX}{}", STANDARD.encode(&*self.0)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The `webhook-signature` value for this message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    /// Checks a received message at `now` (Unix seconds).
    pub fn verify(
        &self,
        id: &str,
        timestamp: i64,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        check_time(timestamp, now)?;
        self.verify_signature(id, timestamp, signatures, body)
    }

    /// Checks only the signature, whatever the time (for debugging a captured request).
    pub fn verify_signature(
        &self,
        id: &str,
        timestamp: i64,
        signatures: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let expected = self.mac(id, timestamp, body);
        let matches = signatures
            .split_whitespace()
            .filter_map(|one| one.strip_prefix("v1,"))
            .filter_map(|encoded| STANDARD.decode(encoded).ok())
            .filter(|mac| mac.len() == MAC_LEN)
            .any(|mac| bool::from(mac.ct_eq(&expected)));
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Whether `timestamp` is within [`TOLERANCE`] of `now`.
pub fn check_time(timestamp: i64, now: i64) -> Result<(), SignatureError> {
    let age = now.saturating_sub(timestamp);
    if age > TOLERANCE {
        Err(SignatureError::Stale(age))
    } else if -age > TOLERANCE {
        Err(SignatureError::Future(-age))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const AT: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const EXPECTED: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).unwrap()
    }

    #[test]
    fn the_standard_vector_signs_and_verifies() {
        assert_eq!(secret().sign(ID, AT, BODY), EXPECTED);
        assert_eq!(secret().verify(ID, AT, EXPECTED, BODY, AT), Ok(()));
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let header = format!("v1,Zm9vYmFyYmF6 v1a,abc {EXPECTED}");
        assert_eq!(secret().verify(ID, AT, &header, BODY, AT + 10), Ok(()));
    }

    #[test]
    fn empty_truncated_and_altered_signatures_are_rejected() {
        let truncated = &EXPECTED[..EXPECTED.len() - 8];
        for bad in [
            "v1,",
            "",
            "v1",
            "v2,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            truncated,
        ] {
            assert_eq!(
                secret().verify(ID, AT, bad, BODY, AT),
                Err(SignatureError::Mismatch),
                "{bad:?}"
            );
        }
        let other_body = br#"{"email":"test@example.com","username":"test_user2"}"#;
        assert_eq!(
            secret().verify(ID, AT, EXPECTED, other_body, AT),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secret().verify("msg_other", AT, EXPECTED, BODY, AT),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_either_way_are_rejected() {
        let signed = |at| secret().sign(ID, at, BODY);
        let now = AT + 301;
        assert_eq!(
            secret().verify(ID, AT, &signed(AT), BODY, now),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            secret().verify(ID, AT + 601, &signed(AT + 601), BODY, AT + 300),
            Err(SignatureError::Future(301))
        );
        assert_eq!(secret().verify(ID, AT, &signed(AT), BODY, AT + 300), Ok(()));
        assert_eq!(
            secret().verify(ID, AT + 300, &signed(AT + 300), BODY, AT),
            Ok(())
        );
    }

    #[test]
    fn secrets_must_be_base64_of_a_sensible_length() {
        assert!(WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_ok());
        for bad in ["whsec_", "whsec_not base64!", "whsec_c2hvcnQ="] {
            assert_eq!(
                WebhookSecret::parse(bad).err(),
                Some(SignatureError::BadSecret)
            );
        }
        let fresh = WebhookSecret::generate();
        let again = WebhookSecret::parse(&fresh.expose()).unwrap();
        assert_eq!(again.sign(ID, AT, BODY), fresh.sign(ID, AT, BODY));
        assert!(!format!("{fresh:?}").contains(&fresh.expose()[6..]));
    }
}
