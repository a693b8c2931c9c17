//! `outpost keys …`

use std::path::Path;

use super::CliError;
use crate::audit::checkpoint;
use crate::config::Config;
use crate::vault;

/// Creates the vault key (`vault_key_file`) and the audit signing key
/// (`audit_signing_key_file`), each unless it exists.
pub fn init(path: Option<&Path>) -> Result<(), CliError> {
    let config = Config::load(path)?;
    init_vault_key(&config)?;
    init_signing_key(&config)
}

fn init_signing_key(config: &Config) -> Result<(), CliError> {
    let key_file = &config.audit_signing_key_file;
    if key_file.exists() {
        let signer =
            checkpoint::load_signer(key_file).map_err(|e| CliError::Failed(e.to_string()))?;
        println!(
            "audit signing key {} already exists; its public key:",
            key_file.display()
        );
        println!("{}", signer.verifier().verifier_key());
        return Ok(());
    }
    let verifier = checkpoint::write_signer(key_file, &config.audit_origin())
        .map_err(|e| CliError::Failed(e.to_string()))?;
    println!(
        "wrote a new audit signing key to {} (mode 0400); its public key, for auditors:",
        key_file.display()
    );
    println!("{}", verifier.verifier_key());
    Ok(())
}

fn init_vault_key(config: &Config) -> Result<(), CliError> {
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
