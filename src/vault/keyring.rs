//! The key-encryption keys (KEKs) and where they come from.
//!
//! The keyring is one owner-only file, never the database or the environment:
//!
//! ```text
//! outpost-keyring v1
//! audit <64 hex digits>
//! kek 1 <64 hex digits> 2026-11-23T05:00:00Z
//! kek 2 <64 hex digits> 2027-02-21T05:00:00Z
//! ```
//!
//! `audit` is the root the audit log's entry-authentication key is derived from; it
//! never rotates, because old entries must stay verifiable. Each `kek` is one version
//! of the key that wraps data keys; the highest id wraps new ones. A retired KEK is
//! removed from the file, so its material is gone for good.
//!
//! Under systemd the keyring may instead arrive as the credential `vault-keyring`
//! (`LoadCredential=` / `LoadCredentialEncrypted=`), which systemd hands to the service
//! in `$CREDENTIALS_DIRECTORY` and keeps private to it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::KeyInit;
use aes_gcm::{Aes256Gcm, Key};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::keyfile;

const HEADER: &str = "outpost-keyring v1";
const MAX_FILE_LEN: u64 = 64 * 1024;
/// The name the keyring has among a systemd unit's credentials.
pub const CREDENTIAL_NAME: &str = "vault-keyring";

/// Where the keyring is read from (and, for a file, written back to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    /// `$CREDENTIALS_DIRECTORY/vault-keyring`: read-only, private to the unit.
    SystemdCredential(PathBuf),
}

impl KeySource {
    /// The systemd credential when the service was given one, else the configured file.
    pub fn locate(configured: &Path) -> Self {
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = Path::new(&dir).join(CREDENTIAL_NAME);
            if path.exists() {
                return KeySource::SystemdCredential(path);
            }
        }
        KeySource::File(configured.to_path_buf())
    }

    pub fn path(&self) -> &Path {
        match self {
            KeySource::File(path) | KeySource::SystemdCredential(path) => path,
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "keyring {}", path.display()),
            KeySource::SystemdCredential(path) => {
                write!(f, "systemd credential {}", path.display())
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {reason}")]
pub struct KeyringError {
    source_name: String,
    reason: String,
}

impl KeyringError {
    pub(super) fn in_memory(reason: &str) -> Self {
        Self {
            source_name: "in-memory keyring".into(),
            reason: reason.into(),
        }
    }

    fn at(source: &KeySource, reason: impl Into<String>) -> Self {
        Self {
            source_name: source.to_string(),
            reason: reason.into(),
        }
    }
}

/// One KEK version.
pub struct Kek {
    pub id: u32,
    pub created_at: OffsetDateTime,
    material: Zeroizing<[u8; 32]>,
    pub(super) cipher: Aes256Gcm,
}

impl Kek {
    fn new(id: u32, material: Zeroizing<[u8; 32]>, created_at: OffsetDateTime) -> Self {
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*material));
        Self {
            id,
            created_at,
            material,
            cipher,
        }
    }

    /// Names the key without revealing it, so the database can tell a keyring that
    /// is not the one its values were sealed with.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"outpost kek fingerprint v1")
            .chain_update(self.material.as_ref())
            .finalize();
        hex(&digest[..8]).to_string()
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

pub struct Keyring {
    audit_root: Zeroizing<[u8; 32]>,
    keks: BTreeMap<u32, Kek>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("keks", &self.keks.values().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A new keyring: a fresh audit root and KEK 1.
    pub fn generate() -> Self {
        Self::with_audit_root(random_key())
    }

    /// A new keyring with a given audit root (tests pin it) and a fresh KEK 1.
    pub fn with_audit_root(audit_root: Zeroizing<[u8; 32]>) -> Self {
        let mut keks = BTreeMap::new();
        keks.insert(1, Kek::new(1, random_key(), now_seconds()));
        Self { audit_root, keks }
    }

    pub fn audit_root(&self) -> &[u8; 32] {
        &self.audit_root
    }

    /// The KEK that wraps new data keys: the newest.
    pub fn primary(&self) -> &Kek {
        self.keks
            .values()
            .next_back()
            .expect("a keyring always holds at least one KEK")
    }

    pub fn get(&self, id: u32) -> Option<&Kek> {
        self.keks.get(&id)
    }

    pub fn keks(&self) -> impl Iterator<Item = &Kek> {
        self.keks.values()
    }

    /// Adds a new primary KEK with the next id not yet used by this keyring or by
    /// `taken` (ids the database has seen, including retired ones).
    pub fn add_kek(&mut self, taken: u32) -> u32 {
        let id = self.primary().id.max(taken) + 1;
        self.keks
            .insert(id, Kek::new(id, random_key(), now_seconds()));
        id
    }

    /// Drops a KEK's material. The primary is never dropped.
    pub fn remove_kek(&mut self, id: u32) -> bool {
        id != self.primary().id && self.keks.remove(&id).is_some()
    }

    pub fn load(source: &KeySource) -> Result<Self, KeyringError> {
        let fail = |reason: String| KeyringError::at(source, reason);
        let mut file = match source {
            KeySource::File(path) => keyfile::open_private(path, MAX_FILE_LEN).map_err(fail)?.0,
            // systemd makes the credential readable by the service alone (with an ACL
            // that shows as group bits), so the owner-only mode check does not apply.
            KeySource::SystemdCredential(path) => std::fs::File::open(path)
                .map_err(|e| fail(format!("{e}; check the unit's LoadCredential=")))?,
        };
        let mut text = Zeroizing::new(String::new());
        Read::by_ref(&mut file)
            .take(MAX_FILE_LEN)
            .read_to_string(&mut text)
            .map_err(|e| fail(e.to_string()))?;
        Self::parse(&text).map_err(fail)
    }

    /// Adds the KEKs `other` holds and this keyring lacks (ones retired since `other`
    /// was copied, e.g. into a backup), so values sealed under them open again. Both
    /// must be the same installation's: the same root, and the same key under any id
    /// both hold. Returns the ids added.
    pub fn adopt_missing(&mut self, other: &Keyring) -> Result<Vec<u32>, String> {
        if self.audit_root != other.audit_root {
            return Err("the backup's keyring belongs to another installation".into());
        }
        let mut added = Vec::new();
        for kek in other.keks() {
            match self.keks.get(&kek.id) {
                Some(mine) if mine.fingerprint() != kek.fingerprint() => {
                    return Err(format!("vault key {} differs from the backup's", kek.id));
                }
                Some(_) => {}
                None => {
                    self.keks.insert(
                        kek.id,
                        Kek::new(kek.id, kek.material.clone(), kek.created_at),
                    );
                    added.push(kek.id);
                }
            }
        }
        Ok(added)
    }

    /// A keyring in its file form, as [`Keyring::render`] writes it.
    pub fn from_text(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }

    fn parse(text: &str) -> Result<Self, String> {
        // The single-key file of earlier releases: that key is both KEK 1 (which
        // sealed `v1:` values) and the audit root. Rotation rewrites it in this format.
        if let Some(key) = parse_key(text.trim()) {
            let audit_root = Zeroizing::new(*key);
            let mut keks = BTreeMap::new();
            keks.insert(1, Kek::new(1, key, now_seconds()));
            return Ok(Self { audit_root, keks });
        }
        let mut lines = text
            .lines()
            .map(str::trim)
            .enumerate()
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(format!("does not start with `{HEADER}`")),
        }
        let mut audit_root = None;
        let mut keks = BTreeMap::new();
        for (index, line) in lines {
            let at = |what: &str| format!("line {}: {what}", index + 1);
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            match fields.as_slice() {
                ["audit", key] if audit_root.is_none() => {
                    audit_root = Some(parse_key(key).ok_or_else(|| at("bad audit key"))?);
                }
                ["kek", id, key, created] => {
                    let id: u32 = id
                        .parse()
                        .ok()
                        .filter(|&id| id > 0)
                        .ok_or_else(|| at("bad KEK id"))?;
                    let material = parse_key(key).ok_or_else(|| at("bad KEK"))?;
                    let created_at = OffsetDateTime::parse(created, &Rfc3339)
                        .map_err(|_| at("bad creation time"))?;
                    if keks
                        .insert(id, Kek::new(id, material, created_at))
                        .is_some()
                    {
                        return Err(at("KEK id repeated"));
                    }
                }
                _ => return Err(at("not an `audit` or `kek` entry")),
            }
        }
        let audit_root = audit_root.ok_or("has no `audit` entry")?;
        if keks.is_empty() {
            return Err("holds no KEK".into());
        }
        Ok(Self { audit_root, keks })
    }

    /// The keyring in its file form: what a backup carries so values sealed under a KEK
    /// retired since can still be opened after a restore.
    pub fn render(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(format!(
            "# Outpost vault keyring. Owner-only; written by `outpost keys init` and \
             `outpost keys rotate`, never by hand.\n{HEADER}\naudit {}\n",
            hex(self.audit_root.as_ref()).as_str()
        ));
        for kek in self.keks.values() {
            let created = kek
                .created_at
                .format(&Rfc3339)
                .expect("UTC times always format as RFC 3339");
            text.push_str(&format!(
                "kek {} {} {created}\n",
                kek.id,
                hex(kek.material.as_ref()).as_str()
            ));
        }
        text
    }

    /// Writes a new keyring file (mode 0400); refuses to replace an existing one.
    pub fn create_file(&self, path: &Path) -> Result<(), KeyringError> {
        let source = KeySource::File(path.to_path_buf());
        let fail = |reason: String| KeyringError::at(&source, reason);
        let mut file = keyfile::create(path).map_err(fail)?;
        file.write_all(self.render().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| fail(e.to_string()))?;
        keyfile::restrict(path).map_err(fail)
    }

    /// Replaces the keyring file atomically: readers see the old file or the new one,
    /// never half of either, and the new one keeps the old one's owner and group (a
    /// rotation run as root must not take the key away from the service user).
    pub fn replace_file(&self, source: &KeySource) -> Result<(), KeyringError> {
        let fail = |reason: String| KeyringError::at(source, reason);
        let KeySource::File(path) = source else {
            return Err(fail(
                "a systemd credential is read-only to the service: rotate the keyring file \
                 it is loaded from (`outpost keys rotate` as root), then restart the unit"
                    .into(),
            ));
        };
        let old = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = dir.join(format!(
            ".{}.new-{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let written = (|| -> Result<(), String> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&temp)
                .map_err(|e| e.to_string())?;
            nix::unistd::fchown(
                &file,
                Some(nix::unistd::Uid::from_raw(old.uid())),
                Some(nix::unistd::Gid::from_raw(old.gid())),
            )
            .map_err(|e| format!("cannot give the new keyring the old one's owner: {e}"))?;
            file.write_all(self.render().as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| e.to_string())?;
            std::fs::rename(&temp, path).map_err(|e| e.to_string())?;
            // The rename is durable only once the directory is.
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| e.to_string())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(fail)
    }
}

fn parse_key(hex_text: &str) -> Option<Zeroizing<[u8; 32]>> {
    if hex_text.len() != 64 {
        return None;
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex_text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

fn hex(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub(super) fn random_key() -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut()).expect("the operating system's random source failed");
    key
}

fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_keyring_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/vault.keyring");
        let mut ring = Keyring::generate();
        ring.create_file(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o400);
        assert!(ring.create_file(&path).is_err(), "never overwritten");

        let source = KeySource::File(path.clone());
        assert_eq!(
            ring.add_kek(5),
            6,
            "ids never reuse one the database has seen"
        );
        ring.replace_file(&source).unwrap();
        let loaded = Keyring::load(&source).unwrap();
        assert_eq!(loaded.audit_root(), ring.audit_root());
        assert_eq!(
            loaded
                .keks()
                .map(|k| (k.id, k.fingerprint()))
                .collect::<Vec<_>>(),
            ring.keks()
                .map(|k| (k.id, k.fingerprint()))
                .collect::<Vec<_>>()
        );
        assert_eq!(loaded.primary().id, 6);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o400);
        assert!(!format!("{loaded:?}").contains(&hex(&loaded.audit_root[..]).to_string()));
    }

    #[test]
    fn a_readable_or_malformed_keyring_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.keyring");
        Keyring::generate().create_file(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::load(&KeySource::File(path.clone())).unwrap_err();
        assert!(err.to_string().contains("chmod 0400"), "{err}");

        let missing = Keyring::load(&KeySource::File(dir.path().join("none"))).unwrap_err();
        assert!(
            missing.to_string().contains("outpost keys init"),
            "{missing}"
        );

        for (text, reason) in [
            ("", "does not start"),
            ("outpost-keyring v1\n", "no `audit`"),
            (
                "outpost-keyring v1\naudit 00\nkek 1 00 2026-01-01T00:00:00Z",
                "bad audit key",
            ),
            (
                &format!("outpost-keyring v1\naudit {}\n", "ab".repeat(32)),
                "holds no KEK",
            ),
            (
                &format!(
                    "outpost-keyring v1\naudit {k}\nkek 1 {k} 2026-01-01T00:00:00Z\nkek 1 {k} 2026-01-01T00:00:00Z",
                    k = "ab".repeat(32)
                ),
                "repeated",
            ),
        ] {
            let err = Keyring::parse(text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_single_key_file_of_earlier_releases_is_kek_1_and_the_audit_root() {
        let ring = Keyring::parse(&format!("{}\n", "0f".repeat(32))).unwrap();
        assert_eq!(ring.audit_root(), &[0x0f; 32]);
        assert_eq!(ring.primary().id, 1);
    }

    #[test]
    fn the_primary_is_never_removed() {
        let mut ring = Keyring::generate();
        let new = ring.add_kek(0);
        assert!(!ring.remove_kek(new));
        assert!(ring.remove_kek(1));
        assert_eq!(ring.keks().count(), 1);
    }
}
