//! What ACME keeps on disk: the account's credentials (its private key) under
//! `data_dir/acme/`, owner-only, and the certificate and key files the listener
//! serves, replaced atomically so the hot reload never reads half a file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;
use serde::{Deserialize, Serialize};

/// `data_dir/acme`: the account and the renewal requests.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("acme")
}

fn account_file(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("account.json")
}

/// Where `outpost tls renew` asks the running server for a renewal.
pub fn renew_request_file(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("renew-requested")
}

/// The account is one per directory: another CA (or staging after production) gets
/// an account of its own.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory_url: String,
    credentials: AccountCredentials,
}

/// The stored account for `directory_url`, if there is one.
pub fn load_account(
    data_dir: &Path,
    directory_url: &str,
) -> Result<Option<AccountCredentials>, String> {
    let path = account_file(data_dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    // The error names the file only: serde would quote the key's base64.
    let stored: StoredAccount = serde_json::from_str(&text)
        .map_err(|_| format!("{} is not a stored ACME account", path.display()))?;
    Ok((stored.directory_url == directory_url).then_some(stored.credentials))
}

pub fn save_account(
    data_dir: &Path,
    directory_url: &str,
    credentials: AccountCredentials,
) -> Result<(), String> {
    let stored = StoredAccount {
        directory_url: directory_url.to_owned(),
        credentials,
    };
    let text = serde_json::to_vec(&stored).map_err(|e| e.to_string())?;
    ensure_private_dir(&dir(data_dir))?;
    replace(&account_file(data_dir), &text)
}

/// Creates `dir` owner-only (0700), and tightens one that exists.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))
}

/// Installs a new certificate: the key first, then the chain, each written aside and
/// renamed into place. The reload compares both files, so between the two renames
/// it sees a mismatched pair, keeps serving the old one, and takes the new pair at
/// the next handshake after the second rename.
pub fn install_pair(
    cert_file: &Path,
    key_file: &Path,
    chain_pem: &str,
    key_pem: &str,
) -> Result<(), String> {
    replace(key_file, key_pem.as_bytes())?;
    replace(cert_file, chain_pem.as_bytes())
}

/// Writes `contents` to a new owner-only (0600) file next to `path`, flushes it, and
/// renames it over `path`.
fn replace(path: &Path, contents: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(fail)?;
    // tempfile creates the file 0600 with a name nobody can predict.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    file.write_all(contents).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn installed_files_are_owner_only_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("tls/fullchain.pem");
        let key = dir.path().join("tls/privkey.pem");
        install_pair(&cert, &key, "chain one", "key one").unwrap();
        install_pair(&cert, &key, "chain two", "key two").unwrap();
        assert_eq!(fs::read_to_string(&cert).unwrap(), "chain two");
        assert_eq!(fs::read_to_string(&key).unwrap(), "key two");
        for file in [&cert, &key] {
            assert_eq!(fs::metadata(file).unwrap().mode() & 0o777, 0o600);
        }
        // Nothing is left beside them.
        assert_eq!(fs::read_dir(dir.path().join("tls")).unwrap().count(), 2);
    }

    #[test]
    fn no_account_is_stored_until_one_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load_account(dir.path(), "https://ca.example/dir")
                .unwrap()
                .is_none()
        );
        ensure_private_dir(&super::dir(dir.path())).unwrap();
        fs::write(account_file(dir.path()), "{not json").unwrap();
        let Err(error) = load_account(dir.path(), "https://ca.example/dir") else {
            panic!("a broken account file is an error");
        };
        assert!(error.contains("not a stored ACME account"), "{error}");
        let mode = fs::metadata(super::dir(dir.path())).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
