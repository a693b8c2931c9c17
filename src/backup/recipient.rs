//! Backups only an operator can read: sealed to an X25519 public key (`backup.recipient`)
//! whose private half (the identity) never sits on the server.
//!
//! Each backup then gets a fresh random content key that encrypts its parts; the key is
//! wrapped to the recipient (ephemeral X25519, HKDF-SHA256, AES-256-GCM, the shape of
//! age's X25519 stanza) inside the manifest, and forgotten once the backup and its
//! drill are done. The manifest stays authenticated by the server's own backup key, so
//! the server can still list, check and prune what it cannot read.

use std::fmt;
use std::io::Read;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::key::BackupKey;
use super::pipeline::hex;
use crate::keyfile;

const RECIPIENT_PREFIX: &str = "outpost-recipient-";
const IDENTITY_PREFIX: &str = "OUTPOST-IDENTITY-";
const INFO_WRAP: &[u8] = b"outpost backup recipient wrap v1";

#[derive(Debug, thiserror::Error)]
pub enum RecipientError {
    #[error("`{0}` is not a backup recipient (outpost-recipient-… from `outpost backup keygen`)")]
    BadRecipient(String),
    #[error("identity file {path}: {reason}")]
    BadIdentity { path: String, reason: String },
    #[error(
        "the backup's content key does not open with this identity (another recipient's, or altered)"
    )]
    Unwrap,
}

/// The public half: safe to put in the server's configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient(PublicKey);

impl Recipient {
    pub fn parse(text: &str) -> Result<Self, RecipientError> {
        let bad = || RecipientError::BadRecipient(text.to_owned());
        let encoded = text.trim().strip_prefix(RECIPIENT_PREFIX).ok_or_else(bad)?;
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(encoded)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        Ok(Self(PublicKey::from(bytes)))
    }

    /// Names the recipient in key ids and messages without the whole key.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"outpost backup recipient v1")
            .chain_update(self.0.as_bytes())
            .finalize();
        hex(&digest[..6])
    }

    /// A fresh content key for one backup, and its wrapping to this recipient.
    pub fn new_content_key(&self) -> (BackupKey, String) {
        let key = BackupKey::generate(format!("recipient-{}", self.fingerprint()))
            .expect("the id is printable ASCII");
        let ephemeral = EphemeralSecret::random();
        let ephemeral_public = PublicKey::from(&ephemeral);
        let shared = ephemeral.diffie_hellman(&self.0);
        let cipher = wrap_cipher(shared.as_bytes(), &ephemeral_public, &self.0);
        let sealed = cipher
            .encrypt(&Nonce::default(), key.material().as_ref())
            .expect("AES-GCM seals 32 bytes");
        let mut out = ephemeral_public.as_bytes().to_vec();
        out.extend_from_slice(&sealed);
        (key, URL_SAFE_NO_PAD.encode(out))
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{RECIPIENT_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.as_bytes())
        )
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Recipient")
            .field(&self.fingerprint())
            .finish()
    }
}

/// The private half, read from an owner-only file on the operator's machine (or handed
/// to the server only for the duration of a drill or restore).
pub struct Identity(StaticSecret);

impl Identity {
    pub fn generate() -> Self {
        Self(StaticSecret::random())
    }

    pub fn recipient(&self) -> Recipient {
        Recipient(PublicKey::from(&self.0))
    }

    /// The file form: one line, for a password manager or an owner-only file.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# Outpost backup identity for {}\n{IDENTITY_PREFIX}{}\n",
            self.recipient(),
            URL_SAFE_NO_PAD.encode(self.0.as_bytes())
        ))
    }

    pub fn load(path: &Path) -> Result<Self, RecipientError> {
        let fail = |reason: String| RecipientError::BadIdentity {
            path: path.display().to_string(),
            reason,
        };
        let (mut file, _) = keyfile::open_private(path, 4096).map_err(fail)?;
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text)
            .map_err(|e| fail(e.to_string()))?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(IDENTITY_PREFIX))
            .ok_or_else(|| fail(format!("holds no {IDENTITY_PREFIX}… line")))?;
        let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(&line[IDENTITY_PREFIX.len()..])
                .map_err(|_| fail("the key is not valid base64".into()))?,
        );
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| fail("the key is not 32 bytes".into()))?;
        Ok(Self(StaticSecret::from(bytes)))
    }

    /// Opens a content key wrapped by [`Recipient::new_content_key`].
    pub fn unwrap_key(&self, key_id: &str, wrapped: &str) -> Result<BackupKey, RecipientError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(wrapped)
            .map_err(|_| RecipientError::Unwrap)?;
        if bytes.len() != 32 + 32 + 16 {
            return Err(RecipientError::Unwrap);
        }
        let ephemeral: [u8; 32] = bytes[..32].try_into().expect("checked length");
        let ephemeral = PublicKey::from(ephemeral);
        let shared = self.0.diffie_hellman(&ephemeral);
        let public = PublicKey::from(&self.0);
        let plain = Zeroizing::new(
            wrap_cipher(shared.as_bytes(), &ephemeral, &public)
                .decrypt(&Nonce::default(), &bytes[32..])
                .map_err(|_| RecipientError::Unwrap)?,
        );
        let material: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| RecipientError::Unwrap)?;
        BackupKey::new(key_id, Zeroizing::new(material)).map_err(|_| RecipientError::Unwrap)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Identity")
            .field(&self.recipient().fingerprint())
            .finish()
    }
}

/// The wrapping key is used for exactly one message, so a fixed nonce is safe; both
/// public keys are bound into it, so a wrap cannot be moved to another recipient.
fn wrap_cipher(shared: &[u8; 32], ephemeral: &PublicKey, recipient: &PublicKey) -> Aes256Gcm {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral.as_bytes());
    salt[32..].copy_from_slice(recipient.as_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(INFO_WRAP, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_identity_opens_the_content_key() {
        let identity = Identity::generate();
        let recipient = Recipient::parse(&identity.recipient().to_string()).unwrap();
        let (key, wrapped) = recipient.new_content_key();
        let opened = identity.unwrap_key(key.id(), &wrapped).unwrap();
        assert_eq!(opened.material(), key.material());
        assert!(key.id().starts_with("recipient-"));

        let stranger = Identity::generate();
        assert!(matches!(
            stranger.unwrap_key(key.id(), &wrapped),
            Err(RecipientError::Unwrap)
        ));
        let mut tampered = URL_SAFE_NO_PAD.decode(&wrapped).unwrap();
        tampered[40] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(tampered);
        assert!(identity.unwrap_key(key.id(), &tampered).is_err());
    }

    #[test]
    fn identity_files_round_trip_and_bad_recipients_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup.identity");
        let identity = Identity::generate();
        let mut file = keyfile::create(&path).unwrap();
        std::io::Write::write_all(&mut file, identity.to_file_text().as_bytes()).unwrap();
        let loaded = Identity::load(&path).unwrap();
        assert_eq!(loaded.recipient(), identity.recipient());
        let err = Recipient::parse("age1qyqszqgpqyqszqgp")
            .unwrap_err()
            .to_string();
        assert!(err.contains("age1qyqszqgpqyqszqgp"), "{err}");
    }
}
