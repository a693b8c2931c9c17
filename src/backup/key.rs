//! The backup key and the subkeys derived from it.

use std::fmt;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::vault::keyring::Keyring;

const INFO_SERVER_KEY: &[u8] = b"outpost backup key v1: from the keyring root";

/// Longest key id the file header can carry; ids are names, not data.
pub const MAX_KEY_ID_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a backup key id must be 1 to {MAX_KEY_ID_LEN} bytes of printable ASCII")]
    BadId,
}

/// A 256-bit backup key and the id written beside what it protects, so a restore
/// can tell which key a file needs before trying one. Copies wipe themselves too.
#[derive(Clone)]
pub struct BackupKey {
    id: String,
    material: Zeroizing<[u8; 32]>,
}

impl BackupKey {
    pub fn new(id: impl Into<String>, material: Zeroizing<[u8; 32]>) -> Result<Self, KeyError> {
        let id = id.into();
        let printable = id.bytes().all(|b| b.is_ascii_graphic());
        if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !printable {
            return Err(KeyError::BadId);
        }
        Ok(Self { id, material })
    }

    /// A fresh random key, for tests and for `backup init`.
    pub fn generate(id: impl Into<String>) -> Result<Self, KeyError> {
        let mut material = Zeroizing::new([0u8; 32]);
        getrandom::fill(material.as_mut()).expect("the OS random source is available");
        Self::new(id, material)
    }

    /// This server's backup key, derived from the vault keyring's root (the secret that
    /// never rotates, so every backup ever taken stays readable). Whoever holds a copy
    /// of the keyring can decrypt this server's backups and nothing else can: keep one
    /// off the server.
    pub fn from_keyring(ring: &Keyring) -> Self {
        let mut material = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, ring.audit_root())
            .expand(INFO_SERVER_KEY, material.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let digest = Sha256::new()
            .chain_update(b"outpost backup key id v1")
            .chain_update(material.as_ref())
            .finalize();
        let id = format!("vault-{}", super::pipeline::hex(&digest[..6]));
        Self::new(id, material).expect("the derived id is printable ASCII")
    }

    /// The raw key, to wrap it for a recipient.
    pub(crate) fn material(&self) -> &[u8; 32] {
        &self.material
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// HKDF-SHA256 (RFC 5869): every use of the backup key gets its own subkey, so the
    /// stream cipher and the manifest MAC never share key material.
    pub(crate) fn derive(&self, salt: Option<&[u8]>, info: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(salt, self.material.as_ref())
            .expand(info, out.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
