//! `outpost keys …`

use std::path::Path;

use super::CliError;
use crate::config::Config;
use crate::vault;

/// Creates the vault key file named by `vault_key_file`, unless it exists.
pub fn init(path: Option<&Path>) -> Result<(), CliError> {
    let config = Config::load(path)?;
    let key_file = &config.vault_key_file;
    if key_file.exists() {
        // Opening it checks its permissions and format too.
        vault::Vault::from_key_file(key_file).map_err(|e| CliError::Failed(e.to_string()))?;
        println!(
            "vault key {} already exists; nothing to do",
            key_file.display()
        );
        return Ok(());
    }
    vault::write_key_file(key_file).map_err(|e| CliError::Failed(e.to_string()))?;
    println!(
        "wrote a new vault key to {} (mode 0400)",
        key_file.display()
    );
    Ok(())
}
