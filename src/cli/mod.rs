//! One module per subcommand. Each returns a [`CliError`], which `main` prints as one
//! line and turns into the exit code.

pub mod admin;
pub mod audit;
pub mod backup;
pub mod cancel;
pub mod config_check;
pub mod export;
pub mod fleet;
pub mod fleet_controller;
pub mod harden;
pub mod harden_requests;
mod host_record;
pub mod keys;
pub mod migrate;
pub mod notify;
pub mod scan;
pub mod serve;
pub mod tls;
pub mod webhook;

use std::path::Path;

use crate::audit::context::{self as audit_context, AuditContext};
use crate::config::{Config, ConfigError};
use crate::db::{Db, DbError};
use crate::vault::Vault;
use crate::vault::keyring::KeySource;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad configuration or arguments: exit 2.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The command was understood but failed (or found tampering): exit 1.
    #[error("{0}")]
    Failed(String),
    /// A check could not be completed at all: exit 2.
    #[error("{0}")]
    Incomplete(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Incomplete(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl From<DbError> for CliError {
    fn from(e: DbError) -> Self {
        CliError::Failed(e.to_string())
    }
}

/// Loads the config, the vault keyring and the database with migrations applied,
/// checks that the keyring is this database's, and installs the audit context: the
/// common start of every command that changes data.
pub fn open(config_path: Option<&Path>) -> Result<(Config, Db, Vault), CliError> {
    open_adjusted(config_path, |_| {})
}

/// [`open`], with `adjust` (command-line flags) applied to the config before it is
/// validated.
pub fn open_adjusted(
    config_path: Option<&Path>,
    adjust: impl FnOnce(&mut Config),
) -> Result<(Config, Db, Vault), CliError> {
    let config = Config::load_adjusted(config_path, adjust)?;
    let vault = Vault::load(KeySource::locate(&config.vault_key_file))
        .map_err(|e| CliError::Failed(e.to_string()))?;
    audit_context::install(AuditContext::new(
        vault.keyring().audit_root(),
        &config.to_masked_toml(),
    ));
    let db = Db::connect(&config)?;
    db.migrate()?;
    vault
        .check_against(&mut *db.get()?)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    Ok((config, db, vault))
}

/// Tells the Owners and Admins about alerts a command raised, as the server would; a
/// command without email configured leaves them for the dashboard.
pub fn deliver_alerts(config: &Config, db: &Db, vault: &std::sync::Arc<Vault>) {
    let Ok(mailer) = crate::notify::Mailer::from_config(&config.smtp) else {
        return;
    };
    let lookup = crate::notify::email::vault_lookup(db.clone(), std::sync::Arc::clone(vault));
    let mailer = mailer.with_credential_lookup(lookup);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    if let Ok(runtime) = runtime {
        runtime.block_on(crate::notify::alerts::deliver(
            db,
            &mailer,
            &config.server_name,
        ));
    }
}
