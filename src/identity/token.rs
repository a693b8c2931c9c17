//! Bearer secrets (session cookies, setup links): 256 random bits, stored only as SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::secret::SecretString;

const TOKEN_BYTES: usize = 32;
/// Length of the base64url text of [`TOKEN_BYTES`] random bytes.
pub const TOKEN_LEN: usize = 43;

pub type TokenHash = [u8; 32];

/// A fresh token and the hash under which it is stored.
pub fn generate() -> (SecretString, TokenHash) {
    let mut bytes = zeroize::Zeroizing::new([0u8; TOKEN_BYTES]);
    getrandom::fill(bytes.as_mut()).expect("the operating system's random source failed");
    let token = SecretString::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
    let hash = hash(token.expose());
    (token, hash)
}

pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Rejects text that cannot be a token before anything is looked up.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_well_formed_and_hash_to_their_stored_form() {
        let (a, ha) = generate();
        let (b, _) = generate();
        assert_ne!(a.expose(), b.expose());
        assert!(is_well_formed(a.expose()));
        assert_eq!(hash(a.expose()), ha);
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"/".repeat(TOKEN_LEN)));
    }
}
