//! `outpost keys …`: the vault keyring and the audit signing key.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use time::OffsetDateTime;

use super::CliError;
use crate::audit::{Actor, checkpoint};
use crate::config::Config;
use crate::vault::keyring::Keyring;
use crate::vault::rotation::{self, Progress, Report};
use crate::vault::{Vault, ledger};

/// Creates the vault keyring (`vault_key_file`) and the audit signing key
/// (`audit_signing_key_file`), each unless it exists.
pub fn init(path: Option<&Path>) -> Result<(), CliError> {
    let config = Config::load(path)?;
    init_keyring(&config)?;
    init_signing_key(&config)
}

fn init_signing_key(config: &Config) -> Result<(), CliError> {
    let key_file = &config.audit_signing_key_file;
    if key_file.exists() {
        let signer = checkpoint::load_signer(key_file).map_err(failed)?;
        println!(
            "audit signing key {} already exists; its public key:",
            key_file.display()
        );
        println!("{}", signer.verifier().verifier_key());
        return Ok(());
    }
    let verifier = checkpoint::write_signer(key_file, &config.audit_origin()).map_err(failed)?;
    println!(
        "wrote a new audit signing key to {} (mode 0400); its public key, for auditors:",
        key_file.display()
    );
    println!("{}", verifier.verifier_key());
    Ok(())
}

fn init_keyring(config: &Config) -> Result<(), CliError> {
    let key_file = &config.vault_key_file;
    if key_file.exists() {
        // Loading it checks its permissions and format too.
        Vault::load(crate::vault::keyring::KeySource::File(key_file.clone())).map_err(failed)?;
        println!(
            "vault keyring {} already exists; nothing to do",
            key_file.display()
        );
        return Ok(());
    }
    Keyring::generate().create_file(key_file).map_err(failed)?;
    println!(
        "wrote a new vault keyring to {} (mode 0400)",
        key_file.display()
    );
    Ok(())
}

/// `outpost keys rotate`: a new KEK, every value rewrapped under it, old KEKs retired.
pub fn rotate(path: Option<&Path>) -> Result<(), CliError> {
    let (_, db, vault) = super::open(path)?;
    let mut conn = db.get()?;
    let id = rotation::add_kek(&vault, &mut conn, Actor::Cli).map_err(failed)?;
    eprintln!("added KEK {id} to the keyring; rewrapping every stored value under it");
    let report = rewrap_with_progress(&vault, &mut conn)?;
    summarise(&report)
}

/// `outpost keys rewrap`: finishes an interrupted rotation (safe to run any time).
pub fn rewrap(path: Option<&Path>) -> Result<(), CliError> {
    let (_, db, vault) = super::open(path)?;
    let report = rewrap_with_progress(&vault, &mut *db.get()?)?;
    summarise(&report)
}

fn rewrap_with_progress(
    vault: &Vault,
    conn: &mut diesel::PgConnection,
) -> Result<Report, CliError> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} rewrapping [{bar:40}] {pos}/{len} values ({per_sec}, {eta} left)",
        )
        .expect("the progress template is valid")
        .progress_chars("=> "),
    );
    let report = rotation::rewrap_all(
        vault,
        conn,
        Actor::Cli,
        rotation::DEFAULT_BATCH,
        &mut |p: Progress| {
            bar.set_length(p.total);
            bar.set_position(p.done);
        },
    )
    .map_err(failed)?;
    bar.finish_and_clear();
    Ok(report)
}

fn summarise(report: &Report) -> Result<(), CliError> {
    println!(
        "rewrapped {} values under KEK {} in {:.1?} ({} pass{})",
        report.rewrapped,
        report.kek,
        report.elapsed,
        report.passes,
        if report.passes == 1 { "" } else { "es" }
    );
    if !report.retired.is_empty() {
        let ids: Vec<String> = report.retired.iter().map(u32::to_string).collect();
        println!("retired KEK {} (removed from the keyring)", ids.join(", "));
    }
    if report.unreadable.is_empty() {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "{} stored values do not open and were left under their old KEK (first: {}); \
         their KEK stays in the keyring",
        report.unreadable.len(),
        report.unreadable[0]
    )))
}

/// `outpost keys status`: each KEK's age, use and state.
pub fn status(path: Option<&Path>) -> Result<(), CliError> {
    let (config, db, vault) = super::open(path)?;
    let mut conn = db.get()?;
    let ring = vault.keyring();
    let now = OffsetDateTime::now_utc();
    println!(
        "{:>4}  {:<16}  {:>8}  {:>14}  {:>10}  state",
        "kek", "fingerprint", "age", "wraps", "values"
    );
    for record in ledger::records(&mut conn).map_err(failed)? {
        let id = u32::try_from(record.id).unwrap_or_default();
        let state = match (record.retired_at, ring.get(id)) {
            (Some(_), _) => "retired",
            (None, None) => "MISSING from the keyring",
            (None, Some(_)) if id == ring.primary().id => "primary",
            (None, Some(_)) => "decrypt only",
        };
        let values = if record.retired_at.is_some() {
            0
        } else {
            ledger::references(&mut conn, id).map_err(failed)?
        };
        println!(
            "{:>4}  {:<16}  {:>7}d  {:>14}  {:>10}  {state}",
            record.id,
            record.fingerprint,
            (now - record.created_at).whole_days(),
            record.wraps,
            values
        );
    }
    let primary = ring.primary();
    let due = primary.created_at + config.vault_rotation_interval;
    println!(
        "rotation of KEK {} due {} (every {} days)",
        primary.id,
        due.date(),
        config.vault_rotation_interval.as_secs() / 86_400
    );
    Ok(())
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}
