//! Everything a backup, a drill or a restore can fail with, worded for the operator.

use crate::backup::manifest::ManifestError;
use crate::backup_target::TargetError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Target(#[from] TargetError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("{0}")]
    Pool(#[from] DbError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Recipient(#[from] crate::backup::recipient::RecipientError),
    #[error("no {0} found (install the PostgreSQL client or set backup.pg_bin)")]
    NoTool(&'static str),
    #[error("no backup target named {0:?} (targets: {1})")]
    UnknownTarget(String, String),
    #[error("target {target}: stored credential {name:?}: {reason}")]
    Credential {
        target: String,
        name: String,
        reason: String,
    },
    #[error("no complete backup {0} on this target")]
    NotFound(String),
    #[error("{0:?} matches more than one backup; give more of the id")]
    Ambiguous(String),
    #[error("another backup or restore is running on this server")]
    Busy,
    #[error("{0}")]
    Failed(String),
}
