//! What a target holds: its complete backups (those with a manifest), each manifest
//! read and authenticated, and ids given by a unique prefix as people type them.

use std::io::Read;

use super::error::BackupError;
use super::key::BackupKey;
use super::manifest::Manifest;
use crate::backup_target::{MANIFEST, Target, TargetError};

/// Longest manifest accepted: a manifest is a few KiB; anything bigger is not one.
const MAX_MANIFEST: u64 = 4 << 20;

/// One complete backup as listed; a manifest that does not authenticate is listed
/// with its problem rather than hidden.
#[derive(Debug)]
pub struct Listed {
    pub id: String,
    pub manifest: Result<Manifest, String>,
}

/// Every complete backup on `target`, oldest first (by manifest time; unreadable
/// ones first of all, so they are seen).
pub fn list(target: &dyn Target, key: &BackupKey) -> Result<Vec<Listed>, BackupError> {
    let mut out: Vec<Listed> = target
        .complete_backups()?
        .into_iter()
        .map(|id| {
            let manifest = read_manifest(target, &id, key).map_err(|e| e.to_string());
            Listed { id, manifest }
        })
        .collect();
    out.sort_by_key(|l| l.manifest.as_ref().ok().map(|m| m.created_at));
    Ok(out)
}

/// Reads `<id>/manifest.json` and checks its MAC under `key`.
pub fn read_manifest(
    target: &dyn Target,
    id: &str,
    key: &BackupKey,
) -> Result<Manifest, BackupError> {
    let name = format!("{id}/{MANIFEST}");
    let mut text = String::new();
    target
        .get(&name)?
        .take(MAX_MANIFEST)
        .read_to_string(&mut text)
        .map_err(|source| TargetError::Io {
            op: "read",
            name: name.clone(),
            source,
        })?;
    let manifest = Manifest::verify(&text, key)?;
    if manifest.backup_id.to_string() != id {
        return Err(BackupError::Failed(format!(
            "{name} describes backup {}, not {id}",
            manifest.backup_id
        )));
    }
    Ok(manifest)
}

/// The complete backup whose id starts with `prefix`.
pub fn resolve(target: &dyn Target, prefix: &str) -> Result<String, BackupError> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Err(BackupError::NotFound("(empty id)".into()));
    }
    let mut found = target
        .complete_backups()?
        .into_iter()
        .filter(|id| id.starts_with(prefix));
    match (found.next(), found.next()) {
        (Some(id), None) => Ok(id),
        (None, _) => Err(BackupError::NotFound(prefix.to_owned())),
        (Some(_), Some(_)) => Err(BackupError::Ambiguous(prefix.to_owned())),
    }
}
