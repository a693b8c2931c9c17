//! Certificates served from files and picked up again when the files change, with
//! no restart: a renewal (certbot replacing `fullchain.pem` and `privkey.pem`)
//! reaches the next handshake, while connections already open keep the session
//! they negotiated.
//!
//! Each handshake compares the two files' metadata (two `stat` calls, nothing next
//! to the handshake's own cryptography) and re-reads them only when that changed.
//! Polling the metadata, rather than subscribing to file events, follows certbot's
//! symlink swaps and atomic renames without watching directories, and needs no
//! thread of its own.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certificate::{self, CertificateError};

/// Serves the pair in `cert_file` and `key_file`, re-read when either changes. A
/// new pair that does not load (half written, key not matching) is logged and the
/// previous one kept.
#[derive(Debug)]
pub struct ReloadingResolver {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

#[derive(Debug)]
struct Current {
    /// The files' state when last read (successfully or not), so a bad pair is
    /// reported once, not at every handshake.
    stamp: Stamp,
    key: Arc<CertifiedKey>,
}

/// What changes when a file is rewritten or replaced: following symlinks, as
/// certbot's `live/` links point at new files in `archive/` on renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    inode: u64,
    device: u64,
    len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    cert: Option<FileStamp>,
    key: Option<FileStamp>,
}

impl Stamp {
    fn of(cert: &Path, key: &Path) -> Self {
        let stamp = |meta: Metadata| FileStamp {
            modified: meta.modified().ok(),
            inode: meta.ino(),
            device: meta.dev(),
            len: meta.len(),
        };
        Self {
            cert: std::fs::metadata(cert).ok().map(stamp),
            key: std::fs::metadata(key).ok().map(stamp),
        }
    }
}

impl ReloadingResolver {
    /// Loads the pair now: a server must not start without a certificate.
    pub fn load(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, CertificateError> {
        let stamp = Stamp::of(cert_file, key_file);
        let key = certificate::load_pair(cert_file, key_file, &provider)?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: Mutex::new(Current {
                stamp,
                key: Arc::new(key),
            }),
        })
    }

    /// The pair to serve now, re-read first if the files changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let stamp = Stamp::of(&self.cert_file, &self.key_file);
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.stamp != stamp {
            current.stamp = stamp;
            match certificate::load_pair(&self.cert_file, &self.key_file, &self.provider) {
                Ok(key) => {
                    let expires = key
                        .end_entity_cert()
                        .ok()
                        .and_then(|leaf| certificate::not_after(leaf).ok());
                    tracing::info!(
                        cert_file = %self.cert_file.display(),
                        not_after = ?expires,
                        "TLS certificate reloaded"
                    );
                    current.key = Arc::new(key);
                }
                Err(e) => tracing::error!(
                    error = %e,
                    "the changed TLS certificate files do not load; still serving the previous certificate"
                ),
            }
        }
        Arc::clone(&current.key)
    }
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}
