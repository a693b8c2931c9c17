//! Key files (the vault key, the audit signing key): owner-only, created once, never
//! replaced, and refused when anyone but their owner could read them.

use std::fs::{self, File, Metadata};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `path` (and its directory) for writing a new key, mode 0400.
pub fn create(path: &Path) -> Result<File, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => "already exists; refusing to replace a key".into(),
            _ => e.to_string(),
        })
}

/// Sets the mode to exactly 0400 after writing: the umask may have taken bits away
/// from the mode asked for, never added any, so this only makes it exact.
pub fn restrict(path: &Path) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o400)).map_err(|e| e.to_string())
}

/// Opens a key file for reading. Mode and size come from the open file itself, so it
/// cannot be swapped between the check and the read.
pub fn open_private(path: &Path, max_len: u64) -> Result<(File, Metadata), String> {
    let file = File::open(path).map_err(|e| format!("{e}; create it with `outpost keys init`"))?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "mode {:o} lets group or others read it; run `chmod 0400 {}`",
            meta.mode() & 0o777,
            path.display()
        ));
    }
    if meta.len() > max_len {
        return Err("too large to hold a key".into());
    }
    Ok((file, meta))
}
