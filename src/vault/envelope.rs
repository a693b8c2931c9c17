//! The sealed form of a value: envelope encryption with AES-256-GCM.
//!
//! ```text
//! v2:aes256gcm:k<KEK id>:<base64(nonce ‖ DEK sealed by the KEK ‖ tag)>:<base64(nonce ‖ value sealed by the DEK ‖ tag)>
//! ```
//!
//! Every value has a data key (DEK) of its own, used once. The version prefix names the
//! algorithm and the KEK, so values under old and new KEKs coexist. Both layers are
//! bound by their associated data to the value's location (`table.column:row`) and the
//! wrap also to its KEK id: a value copied to another row, or a wrap relabelled with
//! another KEK id, does not open. Rotation re-seals only the small wrap; the value's
//! own ciphertext never changes.
//!
//! `v1:` values (earlier releases) were sealed directly by KEK 1 and still open;
//! rotation turns them into `v2`.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::keyring::{Kek, random_key};

pub const PREFIX: &str = "v2:aes256gcm:";
const LEGACY_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("a sealed value is malformed")]
    Malformed,
    #[error("a sealed value does not open with this key and location")]
    Tampered,
}

/// A parsed sealed value, borrowing its parts from the stored text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed<'a> {
    V2 {
        kek_id: u32,
        wrapped_dek: &'a str,
        payload: &'a str,
    },
    /// Sealed directly by KEK 1.
    V1 { payload: &'a str },
}

impl<'a> Sealed<'a> {
    pub fn parse(text: &'a str) -> Result<Self, EnvelopeError> {
        if let Some(payload) = text.strip_prefix(LEGACY_PREFIX) {
            return Ok(Sealed::V1 { payload });
        }
        let rest = text.strip_prefix(PREFIX).ok_or(EnvelopeError::Malformed)?;
        let mut parts = rest.splitn(3, ':');
        let (Some(kek), Some(wrapped_dek), Some(payload)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(EnvelopeError::Malformed);
        };
        let kek_id = kek
            .strip_prefix('k')
            .and_then(|id| id.parse().ok())
            .ok_or(EnvelopeError::Malformed)?;
        Ok(Sealed::V2 {
            kek_id,
            wrapped_dek,
            payload,
        })
    }

    /// The KEK this value needs.
    pub fn kek_id(&self) -> u32 {
        match self {
            Sealed::V2 { kek_id, .. } => *kek_id,
            Sealed::V1 { .. } => 1,
        }
    }
}

/// The text every value sealed under KEK `id` starts with (for finding them in SQL).
pub fn kek_prefix(id: u32) -> String {
    format!("{PREFIX}k{id}:")
}

pub fn seal(kek: &Kek, location: &str, plaintext: &[u8]) -> String {
    let dek = random_key();
    let payload = encrypt(&cipher_for(&dek), location.as_bytes(), plaintext);
    let wrapped = wrap(kek, location, &dek);
    format!("{}{}:{payload}", kek_prefix(kek.id), wrapped)
}

/// Opens a value; `kek` must be the one [`Sealed::kek_id`] names.
pub fn open(
    kek: &Kek,
    location: &str,
    sealed: Sealed<'_>,
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    match sealed {
        Sealed::V1 { payload } => decrypt(&kek.cipher, location.as_bytes(), payload),
        Sealed::V2 {
            wrapped_dek,
            payload,
            ..
        } => {
            let dek = unwrap(kek, location, wrapped_dek)?;
            decrypt(&cipher_for(&dek), location.as_bytes(), payload)
        }
    }
}

/// The same value with its DEK wrapped by `to` instead: the value's own ciphertext is
/// untouched. A `v1` value is opened and sealed afresh.
pub fn rewrap(
    from: &Kek,
    to: &Kek,
    location: &str,
    sealed: Sealed<'_>,
) -> Result<String, EnvelopeError> {
    match sealed {
        Sealed::V1 { .. } => Ok(seal(to, location, &open(from, location, sealed)?)),
        Sealed::V2 {
            wrapped_dek,
            payload,
            ..
        } => {
            let dek = unwrap(from, location, wrapped_dek)?;
            Ok(format!(
                "{}{}:{payload}",
                kek_prefix(to.id),
                wrap(to, location, &dek)
            ))
        }
    }
}

fn wrap_context(kek_id: u32, location: &str) -> String {
    format!("outpost dek|k{kek_id}|{location}")
}

fn wrap(kek: &Kek, location: &str, dek: &[u8; 32]) -> String {
    encrypt(
        &kek.cipher,
        wrap_context(kek.id, location).as_bytes(),
        dek.as_ref(),
    )
}

fn unwrap(kek: &Kek, location: &str, wrapped: &str) -> Result<Zeroizing<[u8; 32]>, EnvelopeError> {
    let dek = decrypt(
        &kek.cipher,
        wrap_context(kek.id, location).as_bytes(),
        wrapped,
    )?;
    let mut key = Zeroizing::new([0u8; 32]);
    if dek.len() != key.len() {
        return Err(EnvelopeError::Malformed);
    }
    key.copy_from_slice(&dek);
    Ok(key)
}

fn cipher_for(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

/// base64(random nonce ‖ ciphertext ‖ tag).
fn encrypt(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> String {
    let nonce = Nonce::generate();
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption cannot fail for in-memory buffers");
    let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    STANDARD.encode(blob)
}

fn decrypt(
    cipher: &Aes256Gcm,
    aad: &[u8],
    encoded: &str,
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let blob = STANDARD
        .decode(encoded)
        .map_err(|_| EnvelopeError::Malformed)?;
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce).map_err(|_| EnvelopeError::Malformed)?;
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::Tampered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::keyring::Keyring;

    fn flip_last_byte(encoded: &str) -> String {
        let mut blob = STANDARD.decode(encoded).unwrap();
        *blob.last_mut().unwrap() ^= 1;
        STANDARD.encode(blob)
    }

    #[test]
    fn round_trips_and_is_bound_to_its_location() {
        let ring = Keyring::generate();
        let kek = ring.primary();
        let sealed = seal(kek, "t.c:1", b"sk-live-123");
        assert!(sealed.starts_with("v2:aes256gcm:k1:"));
        let parsed = Sealed::parse(&sealed).unwrap();
        assert_eq!(&*open(kek, "t.c:1", parsed).unwrap(), b"sk-live-123");
        assert_eq!(open(kek, "t.c:2", parsed), Err(EnvelopeError::Tampered));
        let other = Keyring::generate();
        assert_eq!(
            open(other.primary(), "t.c:1", parsed),
            Err(EnvelopeError::Tampered)
        );
        assert_ne!(
            sealed,
            seal(kek, "t.c:1", b"sk-live-123"),
            "a fresh DEK and nonce every time"
        );
    }

    #[test]
    fn a_tampered_wrap_or_payload_or_relabelled_kek_fails() {
        let mut ring = Keyring::generate();
        ring.add_kek(0);
        let (k1, k2) = (ring.get(1).unwrap(), ring.get(2).unwrap());
        let sealed = seal(k1, "t.c:1", b"value");
        let Sealed::V2 {
            wrapped_dek,
            payload,
            ..
        } = Sealed::parse(&sealed).unwrap()
        else {
            unreachable!()
        };
        for bad in [
            format!("{}{}:{payload}", kek_prefix(1), flip_last_byte(wrapped_dek)),
            format!("{}{wrapped_dek}:{}", kek_prefix(1), flip_last_byte(payload)),
        ] {
            let parsed = Sealed::parse(&bad).unwrap();
            assert_eq!(open(k1, "t.c:1", parsed), Err(EnvelopeError::Tampered));
        }
        // The same wrap claimed to be under KEK 2 does not open with KEK 2.
        let relabelled = format!("{}{wrapped_dek}:{payload}", kek_prefix(2));
        let parsed = Sealed::parse(&relabelled).unwrap();
        assert_eq!(parsed.kek_id(), 2);
        assert_eq!(open(k2, "t.c:1", parsed), Err(EnvelopeError::Tampered));
        for malformed in ["", "v2:aes256gcm:k1:abc", "v2:aes256gcm:kx:a:b", "v3:x"] {
            assert!(
                Sealed::parse(malformed).is_err() || {
                    let parsed = Sealed::parse(malformed).unwrap();
                    open(k1, "t.c:1", parsed) == Err(EnvelopeError::Malformed)
                }
            );
        }
    }

    #[test]
    fn rewrap_moves_the_dek_and_keeps_the_ciphertext() {
        let mut ring = Keyring::generate();
        ring.add_kek(0);
        let (k1, k2) = (ring.get(1).unwrap(), ring.get(2).unwrap());
        let sealed = seal(k1, "t.c:9", b"token");
        let moved = rewrap(k1, k2, "t.c:9", Sealed::parse(&sealed).unwrap()).unwrap();
        assert!(moved.starts_with(&kek_prefix(2)));
        let payload = |s: &str| s.rsplit(':').next().unwrap().to_owned();
        assert_eq!(payload(&sealed), payload(&moved));
        let parsed = Sealed::parse(&moved).unwrap();
        assert_eq!(&*open(k2, "t.c:9", parsed).unwrap(), b"token");
        assert_eq!(open(k1, "t.c:9", parsed), Err(EnvelopeError::Tampered));
    }

    #[test]
    fn values_of_earlier_releases_open_and_rewrap_into_envelopes() {
        let mut ring = Keyring::generate();
        let k1 = ring.primary();
        let legacy = format!("v1:{}", encrypt(&k1.cipher, b"t.c:3", b"JBSWY3DP"));
        let parsed = Sealed::parse(&legacy).unwrap();
        assert_eq!(parsed.kek_id(), 1);
        assert_eq!(&*open(k1, "t.c:3", parsed).unwrap(), b"JBSWY3DP");
        ring.add_kek(0);
        let moved = rewrap(ring.get(1).unwrap(), ring.get(2).unwrap(), "t.c:3", parsed).unwrap();
        let reopened = open(
            ring.get(2).unwrap(),
            "t.c:3",
            Sealed::parse(&moved).unwrap(),
        );
        assert_eq!(&*reopened.unwrap(), b"JBSWY3DP");
    }
}
