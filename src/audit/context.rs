//! What every audit entry is stamped with: the server's entry-authentication key and
//! the digest of the configuration in force. Installed once when the process starts
//! (from the vault key, which never lives in the database) and immutable afterwards,
//! so `audit::record` keeps its simple signature at its many call sites.

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub struct AuditContext {
    mac_key: Zeroizing<[u8; 32]>,
    policy_version: String,
}

static CONTEXT: OnceLock<AuditContext> = OnceLock::new();

impl AuditContext {
    /// Derives the entry key from the vault key (a different purpose, a different key).
    pub fn new(vault_key: &[u8; 32], config_digest_input: &str) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(vault_key)
            .expect("HMAC accepts keys of any length");
        mac.update(b"outpost audit entry authentication v1");
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&mac.finalize().into_bytes());
        let digest = Sha256::digest(config_digest_input.as_bytes());
        let policy_version = format!("cfg-{}", hex(&digest[..6]));
        Self {
            mac_key: key,
            policy_version,
        }
    }

    pub fn policy_version(&self) -> &str {
        &self.policy_version
    }

    pub fn mac(&self, canonical: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.mac_key.as_ref())
            .expect("HMAC accepts keys of any length");
        mac.update(canonical);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check of a stored MAC.
    pub fn mac_matches(&self, canonical: &[u8], stored: &[u8]) -> bool {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.mac_key.as_ref())
            .expect("HMAC accepts keys of any length");
        mac.update(canonical);
        mac.verify_slice(stored).is_ok()
    }
}

impl std::fmt::Debug for AuditContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditContext")
            .field("policy_version", &self.policy_version)
            .finish_non_exhaustive()
    }
}

/// Installs the context; a second call keeps the first (one process, one server).
pub fn install(context: AuditContext) -> &'static AuditContext {
    CONTEXT.get_or_init(|| context)
}

pub fn current() -> Option<&'static AuditContext> {
    CONTEXT.get()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
