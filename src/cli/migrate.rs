//! `outpost migrate`

use std::path::Path;

use super::CliError;
use crate::config::Config;
use crate::db::Db;

pub fn run(path: Option<&Path>) -> Result<(), CliError> {
    let config = Config::load(path)?;
    let applied = Db::connect(&config)?.migrate()?;
    match applied {
        0 => println!("database is up to date"),
        n => println!("applied {n} migration(s)"),
    }
    Ok(())
}
