//! The one place secrets are stored: envelope encryption with AES-256-GCM.
//!
//! A keyring file (never the database or the environment) holds versioned key-
//! encryption keys; every value gets a data key of its own, stored wrapped by the
//! newest KEK inside the value ([`envelope`]). Values are bound to their location
//! ([`location`]); the database counts wraps per KEK ([`ledger`]); [`rotation`]
//! rewraps every value under a new KEK while the server keeps running.

pub mod envelope;
pub mod keyring;
pub mod ledger;
pub mod location;
pub mod reminder;
pub mod rotation;
#[cfg(test)]
mod wycheproof;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use diesel::PgConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use zeroize::Zeroizing;

use envelope::{EnvelopeError, Sealed};
use keyring::{KeySource, Keyring, KeyringError};
pub use location::{Location, SealedColumn};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("a sealed value is malformed")]
    Malformed,
    #[error("a sealed value does not open with this key and location")]
    Tampered,
    #[error(
        "a value is sealed under KEK {0}, which the keyring lacks: is this the keyring \
         this database was sealed with? (`outpost keys status` lists both)"
    )]
    UnknownKek(u32),
    #[error(
        "KEK {0} in the keyring is not the key this database knows by that id: \
         the keyring belongs to another installation"
    )]
    ForeignKek(u32),
    #[error("KEK {0} is retired and the keyring holds no newer one; reload the keyring")]
    RetiredKek(u32),
    #[error(
        "KEK {0} has wrapped 2^32 data keys, the most AES-GCM allows under one key: \
         run `outpost keys rotate`"
    )]
    Exhausted(u32),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
}

impl From<EnvelopeError> for VaultError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Malformed => VaultError::Malformed,
            EnvelopeError::Tampered => VaultError::Tampered,
        }
    }
}

/// A re-read of the keyring at most this often, however many unknown ids arrive.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

pub struct Vault {
    /// Where the keyring came from; `None` for an in-memory one.
    source: Option<KeySource>,
    ring: RwLock<Arc<Keyring>>,
    last_reload: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Vault {
    pub fn new(ring: Keyring, source: Option<KeySource>) -> Self {
        Self {
            source,
            ring: RwLock::new(Arc::new(ring)),
            last_reload: Mutex::new(None),
        }
    }

    /// Reads the keyring; a missing or readable-by-others file is refused.
    pub fn load(source: KeySource) -> Result<Self, VaultError> {
        let ring = Keyring::load(&source)?;
        Ok(Self::new(ring, Some(source)))
    }

    /// A vault with a fresh in-memory keyring (tests, throwaway runs).
    pub fn ephemeral() -> Self {
        Self::new(Keyring::generate(), None)
    }

    pub fn source(&self) -> Option<&KeySource> {
        self.source.as_ref()
    }

    pub fn keyring(&self) -> Arc<Keyring> {
        Arc::clone(&self.ring.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads the keyring from its source (after a rotation elsewhere added or
    /// retired KEKs). True if it now holds a different set of KEKs.
    pub fn reload(&self) -> Result<bool, VaultError> {
        let Some(source) = &self.source else {
            return Ok(false);
        };
        let fresh = Keyring::load(source)?;
        let ids = |r: &Keyring| r.keks().map(|k| k.id).collect::<Vec<_>>();
        let mut ring = self.ring.write().unwrap_or_else(|e| e.into_inner());
        let changed = ids(&fresh) != ids(&ring);
        *ring = Arc::new(fresh);
        Ok(changed)
    }

    /// Installs a keyring this process has just written (rotation).
    pub fn replace(&self, ring: Keyring) {
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
    }

    /// A reload, at most once per [`RELOAD_INTERVAL`]; failures are logged, not fatal:
    /// the caller falls back to the keyring it has.
    fn catch_up(&self) -> bool {
        {
            let mut last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < RELOAD_INTERVAL) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match self.reload() {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read the vault keyring");
                false
            }
        }
    }

    /// Seals `plaintext` for `at` under the newest KEK. Call it inside the transaction
    /// that stores the value: the wrap is counted there, and a KEK cannot be retired
    /// between the count and the store.
    pub fn seal(
        &self,
        conn: &mut PgConnection,
        at: &Location,
        plaintext: &[u8],
    ) -> Result<String, VaultError> {
        let depth =
            AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
        assert!(
            depth.is_some(),
            "Vault::seal must run inside the transaction that stores the value"
        );
        for first_try in [true, false] {
            let ring = self.keyring();
            let kek = ring.primary();
            match ledger::reserve(conn, kek, 1)? {
                Some(counted) if counted.wraps > ledger::WRAP_LIMIT => {
                    return Err(VaultError::Exhausted(kek.id));
                }
                Some(counted) => {
                    let newer = counted
                        .newest_live
                        .is_some_and(|n| n as i64 > kek.id as i64);
                    // A rotation has added a KEK this process has not read yet.
                    if newer && first_try && self.catch_up() {
                        continue;
                    }
                    return Ok(envelope::seal(kek, at.as_str(), plaintext));
                }
                None if first_try && self.catch_up() => continue,
                None => return Err(self.refusal(conn, kek)?),
            }
        }
        unreachable!("the second attempt always returns")
    }

    /// Why the ledger refused a KEK: retired, or not the key it knows by that id.
    fn refusal(
        &self,
        conn: &mut PgConnection,
        kek: &keyring::Kek,
    ) -> Result<VaultError, VaultError> {
        let known = ledger::records(conn)?
            .into_iter()
            .find(|r| r.id as i64 == kek.id as i64);
        Ok(match known {
            Some(record) if record.fingerprint != kek.fingerprint() => {
                VaultError::ForeignKek(kek.id)
            }
            _ => VaultError::RetiredKek(kek.id),
        })
    }

    /// Opens a value sealed for `at`. Whatever it hands out is remembered by the leak
    /// guard, so it can never reach a log line.
    pub fn open(&self, at: &Location, sealed: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let parsed = Sealed::parse(sealed)?;
        let id = parsed.kek_id();
        let mut ring = self.keyring();
        if ring.get(id).is_none() && self.catch_up() {
            ring = self.keyring();
        }
        let kek = ring.get(id).ok_or(VaultError::UnknownKek(id))?;
        let plain = envelope::open(kek, at.as_str(), parsed)?;
        if let Ok(text) = std::str::from_utf8(&plain) {
            crate::leak_guard::remember(text);
        }
        Ok(plain)
    }

    /// At start: records the keyring's KEKs and refuses a keyring that is not this
    /// database's (a KEK with another key under its id, or one the database's values
    /// need that the keyring lacks).
    pub fn check_against(&self, conn: &mut PgConnection) -> Result<(), VaultError> {
        let ring = self.keyring();
        let records = ledger::records(conn)?;
        for kek in ring.keks() {
            match records.iter().find(|r| r.id as i64 == kek.id as i64) {
                Some(r) if r.fingerprint != kek.fingerprint() => {
                    return Err(VaultError::ForeignKek(kek.id));
                }
                Some(_) => {}
                None => ledger::register(conn, kek)?,
            }
        }
        for record in records.iter().filter(|r| r.retired_at.is_none()) {
            let id = u32::try_from(record.id).unwrap_or_default();
            if ring.get(id).is_none() && ledger::references(conn, id)? > 0 {
                return Err(VaultError::UnknownKek(id));
            }
        }
        Ok(())
    }
}
