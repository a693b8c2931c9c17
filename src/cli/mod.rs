//! One module per subcommand. Each returns a [`CliError`], which `main` prints as one
//! line and turns into the exit code.

pub mod admin;
pub mod config_check;
pub mod keys;
pub mod migrate;
pub mod serve;

use std::path::Path;

use crate::config::{Config, ConfigError};
use crate::db::{Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad configuration or arguments: exit 2.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The command was understood but failed: exit 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl From<DbError> for CliError {
    fn from(e: DbError) -> Self {
        CliError::Failed(e.to_string())
    }
}

/// Loads the config and opens the database with migrations applied: the common start
/// of every command that touches data.
pub fn open(config_path: Option<&Path>) -> Result<(Config, Db), CliError> {
    let config = Config::load(config_path)?;
    let db = Db::connect(&config)?;
    db.migrate()?;
    Ok((config, db))
}
