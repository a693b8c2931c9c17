//! `outpost admin …`

use std::path::Path;

use super::CliError;
use crate::identity::owner::{self, OwnerSetup};

pub fn create_owner(path: Option<&Path>, email: &str) -> Result<(), CliError> {
    let (config, db, _) = super::open(path)?;
    let ttl = config.session.setup_link_ttl;
    let outcome = owner::ensure_first_owner(&mut *db.get()?, email, ttl)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let minutes = ttl.as_secs() / 60;
    let link = |token: &crate::secret::SecretString| {
        format!("{}/setup/{}", config.base_url(), token.expose())
    };
    match outcome {
        OwnerSetup::Created { user, link_token } => {
            println!("Created Owner {}.", user.email);
            println!("Setup link (single use, valid {minutes} minutes):");
            println!("{}", link(&link_token));
        }
        OwnerSetup::Reissued { user, link_token } => {
            println!(
                "Owner {} has not set a password yet; earlier links no longer work.",
                user.email
            );
            println!("New setup link (single use, valid {minutes} minutes):");
            println!("{}", link(&link_token));
        }
        OwnerSetup::AlreadyActive { user } => {
            println!(
                "Owner {} is already set up; sign in at {}/login",
                user.email,
                config.base_url()
            );
        }
    }
    Ok(())
}
