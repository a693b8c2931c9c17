//! Where backups are stored: a local directory or an S3-compatible object store.
//!
//! A backup is a set of objects under `<backup-id>/`; its manifest
//! (`<backup-id>/manifest.json`) is written last, so "complete" means "the manifest
//! exists". A crash, a failed upload or a killed process leaves a backup without a
//! manifest: never listed by [`Target::complete_backups`], removed by
//! [`Target::cleanup_partial`].
//!
//! The trait is blocking (`std::io::Read` in and out) because the rest of Outpost runs
//! long work on `spawn_blocking` threads and the backup producers (pg_dump, tar,
//! encryption) are blocking pipes; the S3 target drives its async client on a runtime
//! of its own (see [`s3`]).

pub mod local;
pub mod s3;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

pub use local::LocalDir;
pub use s3::{S3, S3Config};

/// Name of the object that marks a backup complete; written after every other object.
pub const MANIFEST: &str = "manifest.json";

/// What a finished `put` stored, as counted and hashed on the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub sha256: [u8; 32],
}

impl Stored {
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full object name, `<backup-id>/<file>`.
    pub name: String,
    pub size: u64,
    pub modified: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("invalid object name {0:?}: use <backup-id>/<file> of plain path segments")]
    InvalidName(String),
    #[error("object {0} does not exist")]
    NotFound(String),
    #[error("{op} {name}: {source}")]
    Io {
        op: &'static str,
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("S3 {op} {name} failed: {cause}")]
    S3 {
        op: &'static str,
        name: String,
        cause: String,
    },
    #[error("S3 target configuration: {0}")]
    S3Config(String),
    #[error("upload verification of {name} failed: {reason}")]
    Verify { name: String, reason: String },
}

pub type Result<T> = std::result::Result<T, TargetError>;

/// A place to store backup objects. All methods block.
pub trait Target: Send + Sync + std::fmt::Debug {
    /// Streams `reader` into object `name`, replacing it; nothing of it becomes visible
    /// unless the whole stream was stored.
    fn put(&self, name: &str, reader: &mut dyn Read) -> Result<Stored>;

    fn get(&self, name: &str) -> Result<Box<dyn Read + Send>>;

    fn head(&self, name: &str) -> Result<Option<ObjectInfo>>;

    /// Objects whose names start with `prefix` (a plain string prefix), sorted by name.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;

    /// Removes `name`; removing an object that does not exist is not an error.
    fn delete(&self, name: &str) -> Result<()>;

    /// Reads the stored object back (size from HEAD, then a full download hashed) and
    /// fails if either differs from what `put` sent. A re-download is slower than a
    /// store-side checksum, but works the same on every store and checks what a restore
    /// would actually read.
    fn verify(&self, name: &str, expected: &Stored) -> Result<()> {
        let fail = |reason: String| {
            tracing::error!(object = name, %reason, "backup upload verification failed");
            Err(TargetError::Verify {
                name: name.to_owned(),
                reason,
            })
        };
        let Some(info) = self.head(name)? else {
            return fail("the object is missing".into());
        };
        if info.size != expected.size {
            return fail(format!(
                "stored size {} bytes, sent {} bytes",
                info.size, expected.size
            ));
        }
        let mut reader = self.get(name)?;
        let got = copy_hashed(&mut reader, &mut io::sink()).map_err(|source| TargetError::Io {
            op: "read back",
            name: name.to_owned(),
            source,
        })?;
        if got != *expected {
            return fail(format!(
                "read back {} bytes with SHA-256 {}, sent {} bytes with SHA-256 {}",
                got.size,
                got.sha256_hex(),
                expected.size,
                expected.sha256_hex()
            ));
        }
        Ok(())
    }

    /// Ids of the backups whose manifest exists, sorted.
    fn complete_backups(&self) -> Result<Vec<String>> {
        Ok(group_by_backup(self.list("")?)
            .into_iter()
            .filter(|(_, g)| g.has_manifest)
            .map(|(id, _)| id)
            .collect())
    }

    /// Removes every object of each backup that has no manifest and whose newest object
    /// is older than `older_than` (so a backup still being written is left alone).
    /// Returns the ids removed.
    fn cleanup_partial(&self, older_than: Duration) -> Result<Vec<String>> {
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = Vec::new();
        for (id, group) in group_by_backup(self.list("")?) {
            if group.has_manifest || group.newest > cutoff {
                continue;
            }
            for name in &group.names {
                self.delete(name)?;
            }
            tracing::info!(backup = %id, objects = group.names.len(), "removed partial backup");
            removed.push(id);
        }
        Ok(removed)
    }
}

#[derive(Debug)]
struct Group {
    names: Vec<String>,
    has_manifest: bool,
    newest: SystemTime,
}

fn group_by_backup(objects: Vec<ObjectInfo>) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for object in objects {
        let Some((id, rest)) = object.name.split_once('/') else {
            continue; // Not part of any backup; never touched.
        };
        let group = groups.entry(id.to_owned()).or_insert(Group {
            names: Vec::new(),
            has_manifest: false,
            newest: SystemTime::UNIX_EPOCH,
        });
        group.has_manifest |= rest == MANIFEST;
        group.newest = group.newest.max(object.modified);
        group.names.push(object.name);
    }
    groups
}

/// Object names are `<backup-id>/<file>` (deeper paths allowed) of plain segments, so a
/// name can never leave the target's directory or prefix.
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.contains('/')
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && !seg.ends_with(".partial")
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
        });
    if ok {
        Ok(())
    } else {
        Err(TargetError::InvalidName(name.to_owned()))
    }
}

/// Copies `reader` to `writer`, counting and hashing the bytes.
pub fn copy_hashed(reader: &mut dyn Read, writer: &mut dyn io::Write) -> io::Result<Stored> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok(Stored {
        size,
        sha256: hasher.finalize().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_target() {
        for good in [
            "2026-11-23T07-00-00Z/db.dump",
            "b1/manifest.json",
            "b/sub/x.tar.zst",
        ] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "noslash",
            "/abs/x",
            "b/../x",
            "b//x",
            "b/./x",
            "b/x/",
            "b/x.partial",
            "b/a b",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn groups_need_a_manifest_to_be_complete() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let obj = |name: &str| ObjectInfo {
            name: name.into(),
            size: 1,
            modified: t,
        };
        let groups = group_by_backup(vec![
            obj("a/db"),
            obj("a/manifest.json"),
            obj("b/db"),
            obj("loose"),
        ]);
        assert!(groups["a"].has_manifest);
        assert!(!groups["b"].has_manifest);
        assert!(!groups.contains_key("loose"));
    }
}
