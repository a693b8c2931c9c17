//! Sealing of stored secrets with AES-256-GCM.
//!
//! Every ciphertext is `v1:` + base64(nonce ‖ ciphertext ‖ tag) and is bound, through
//! the associated data, to where it is stored (`table.column:row`): moved to another
//! row, it no longer opens. The key comes from an owner-only file, never from the
//! database or the environment.

use std::io::{Read, Write};
use std::path::Path;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::keyfile;

const VERSION_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("vault key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("a sealed value is malformed")]
    Malformed,
    #[error("a sealed value does not open with this key and location")]
    Tampered,
}

pub struct Vault {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(key hidden)")
    }
}

impl Vault {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        }
    }

    /// A vault with a fresh random key (tests, throwaway runs).
    pub fn ephemeral() -> Self {
        Self::from_key(&random_key())
    }

    /// Reads a key written by [`write_key_file`]: 64 hex digits in a file that only its
    /// owner may read.
    pub fn from_key_file(path: &Path) -> Result<Self, VaultError> {
        read_key_file(path).map(|key| Self::from_key(&key))
    }
}

/// The raw key from a key file, for deriving purpose-specific keys from it.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let fail = |reason: String| VaultError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let (mut file, _) = keyfile::open_private(path, 256).map_err(fail)?;
    let mut text = Zeroizing::new(String::with_capacity(128));
    file.read_to_string(&mut text)
        .map_err(|e| fail(e.to_string()))?;
    let hex = text.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(fail("must hold exactly 64 hexadecimal digits".into()));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| fail("not hexadecimal".into()))?;
    }
    Ok(key)
}

impl Vault {
    /// Seals `plaintext` for the location `context` (e.g. `totp_credentials.secret:<id>`).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let nonce = Nonce::generate();
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{VERSION_PREFIX}{}", STANDARD.encode(blob))
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let encoded = sealed
            .strip_prefix(VERSION_PREFIX)
            .ok_or(VaultError::Malformed)?;
        let blob = STANDARD
            .decode(encoded)
            .map_err(|_| VaultError::Malformed)?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(VaultError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| VaultError::Malformed)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Tampered)
            .inspect(|plain| {
                // Anything the vault hands out must never reach a log line.
                if let Ok(text) = std::str::from_utf8(plain) {
                    crate::leak_guard::remember(text);
                }
            })
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the operating system's random source failed");
    key
}

/// Writes a new random key to `path` (mode 0400); refuses to replace an existing one.
pub fn write_key_file(path: &Path) -> Result<(), VaultError> {
    let fail = |reason: String| VaultError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let mut file = keyfile::create(path).map_err(fail)?;
    let key = Zeroizing::new(random_key());
    let hex: Zeroizing<String> = Zeroizing::new(key.iter().map(|b| format!("{b:02x}")).collect());
    file.write_all(format!("{}\n", hex.as_str()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| fail(e.to_string()))?;
    keyfile::restrict(path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn round_trips_and_binds_to_its_location() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal("totp.secret:1", b"JBSWY3DPEHPK3PXP");
        assert!(sealed.starts_with("v1:"));
        assert_eq!(
            &*vault.open("totp.secret:1", &sealed).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        assert!(matches!(
            vault.open("totp.secret:2", &sealed),
            Err(VaultError::Tampered)
        ));
        assert!(matches!(
            Vault::ephemeral().open("totp.secret:1", &sealed),
            Err(VaultError::Tampered)
        ));
        let mut flipped = STANDARD.decode(&sealed[3..]).unwrap();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let tampered = format!("v1:{}", STANDARD.encode(flipped));
        assert!(matches!(
            vault.open("totp.secret:1", &tampered),
            Err(VaultError::Tampered)
        ));
        assert!(matches!(
            vault.open("x", "v2:abc"),
            Err(VaultError::Malformed)
        ));
    }

    #[test]
    fn key_files_are_owner_only_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/vault.key");
        write_key_file(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o400);
        let vault = Vault::from_key_file(&path).unwrap();
        let sealed = vault.seal("c", b"x");
        assert_eq!(
            &*Vault::from_key_file(&path)
                .unwrap()
                .open("c", &sealed)
                .unwrap(),
            b"x"
        );
        assert!(
            write_key_file(&path).is_err(),
            "an existing key is never overwritten"
        );

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Vault::from_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 0400"), "{err}");
        assert!(Vault::from_key_file(&dir.path().join("missing")).is_err());
    }
}
