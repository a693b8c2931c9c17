//! `outpost config check`

use std::path::Path;

use super::CliError;
use crate::config::Config;

pub fn run(path: Option<&Path>) -> Result<(), CliError> {
    let config = Config::load(path)?;
    println!("# configuration is valid; secrets are masked");
    print!("{}", config.to_masked_toml());
    Ok(())
}
