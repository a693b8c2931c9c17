//! The `[scan]` section: when the security loop runs and what its checks look at.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::human_duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanSettings {
    /// Cron with seconds, UTC; blank disables the nightly scan.
    pub nightly: String,
    /// More Owners than this is a finding.
    pub max_owners: u32,
    /// API keys and accounts unused this long are dormant.
    #[serde(with = "human_duration")]
    pub dormant_after: Duration,
    /// Revoke dormant API keys as the remedy (audited), rather than only report them.
    pub revoke_dormant_keys: bool,
    /// Directories of the client's documents searched for leaked secrets.
    pub document_directories: Vec<PathBuf>,
    /// Log files searched for leaked secrets (Outpost's own, and any others).
    pub log_files: Vec<PathBuf>,
    /// Also search the systemd journal of outpost.service (`journalctl`).
    pub journal: bool,
    /// PEM certificates the TLS checks (and the HTTPS probes) trust besides the
    /// system's roots: a private CA's, for a dashboard whose certificate it issued.
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for ScanSettings {
    fn default() -> Self {
        Self {
            nightly: "0 15 3 * * *".into(),
            max_owners: 2,
            dormant_after: Duration::from_secs(90 * 86_400),
            revoke_dormant_keys: false,
            document_directories: Vec::new(),
            log_files: Vec::new(),
            journal: true,
            tls_ca_file: None,
        }
    }
}

impl ScanSettings {
    /// One line naming the bad key, or nothing.
    pub fn problem(&self) -> Option<(String, String)> {
        if !self.nightly.trim().is_empty()
            && let Err(e) = crate::backup::schedule::parse(&self.nightly)
        {
            return Some(("scan.nightly".into(), e));
        }
        if self.max_owners == 0 {
            return Some(("scan.max_owners".into(), "must be at least 1".into()));
        }
        None
    }
}
