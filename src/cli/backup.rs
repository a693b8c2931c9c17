//! `outpost backup run | list | verify | restore | prune`

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::CliError;
use crate::audit::Actor;
use crate::backup::catalog;
use crate::backup::create::Observer;
use crate::backup::error::BackupError;
use crate::backup::recipient::Identity;
use crate::backup::recover::{Replace, RestoreRequest};
use crate::backup::runs::{Backups, Trigger};
use crate::backup::targets;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a backup now: database, files and keyring, encrypted, uploaded, read back
    /// and checked, manifest last.
    Run {
        /// A target from [backup.targets], or `local` [default: backup.target].
        #[arg(long)]
        target: Option<String>,
    },
    /// List the complete backups on each target (or one).
    List {
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The restore drill: download, check, decrypt and restore backup ID into a scratch
    /// database, compare every table with the backup's source, drop it.
    Verify {
        /// The backup's id, or enough of its start to be unique.
        id: String,
        #[arg(long)]
        target: Option<String>,
        /// The identity file of the recipient a backup is sealed to.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Restore backup ID into a new database DBNAME (checked against the backup).
    /// With --force, DBNAME may be the live database: a safety backup is taken first
    /// and the live database is kept under another name.
    Restore {
        id: String,
        #[arg(long, value_name = "DBNAME")]
        into: String,
        #[arg(long)]
        target: Option<String>,
        /// Unpack the client's files into this directory too.
        #[arg(long, value_name = "DIR")]
        files_into: Option<PathBuf>,
        #[arg(long)]
        force: bool,
        /// The identity file of the recipient a backup is sealed to.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Make a recipient key pair for `backup.recipient`, on the machine that will keep
    /// it (not the server): writes the identity file (mode 0400) and prints the
    /// recipient to configure. Needs no configuration or database.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Apply retention (keep_daily/weekly/monthly) to a target.
    Prune {
        #[arg(long)]
        target: Option<String>,
        /// Show what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(path: Option<&Path>, command: BackupCommand) -> Result<(), CliError> {
    if let BackupCommand::Keygen { out } = &command {
        return keygen(out);
    }
    let identity = match &command {
        BackupCommand::Verify {
            identity: Some(file),
            ..
        }
        | BackupCommand::Restore {
            identity: Some(file),
            ..
        } => Some(Identity::load(file).map_err(|e| CliError::Failed(e.to_string()))?),
        _ => None,
    };
    let (config, db, vault) = super::open(path)?;
    let vault = std::sync::Arc::new(vault);
    let backups = Backups {
        config: &config,
        db: &db,
        vault: &vault,
    };
    let target_or_default =
        |t: &Option<String>| t.clone().unwrap_or_else(|| config.backup.target.clone());
    let result = match &command {
        BackupCommand::Run { target } => run_one(&backups, &target_or_default(target)),
        BackupCommand::List { target, json } => list(&backups, target.as_deref(), *json),
        BackupCommand::Verify { id, target, .. } => {
            verify(&backups, &target_or_default(target), id, identity.as_ref())
        }
        BackupCommand::Restore {
            id,
            into,
            target,
            files_into,
            force,
            ..
        } => restore(
            &backups,
            RestoreRequest {
                target: &target_or_default(target),
                id,
                into,
                files_into: files_into.as_deref(),
                replace: if *force {
                    Replace::Allowed
                } else {
                    Replace::Refused
                },
                identity: identity.as_ref(),
            },
        ),
        BackupCommand::Keygen { .. } => unreachable!("handled before opening the server"),
        BackupCommand::Prune { target, dry_run } => {
            prune(&backups, &target_or_default(target), *dry_run)
        }
    };
    // Whatever happened, anyone who must hear about a new alert hears now.
    super::deliver_alerts(&config, &db, &vault);
    result.map_err(|e| CliError::Failed(e.to_string()))
}

fn run_one(backups: &Backups<'_>, target: &str) -> Result<(), BackupError> {
    let mut progress = Progress::new();
    let report = backups.run(target, Trigger::Manual, false, Actor::Cli, &mut progress);
    progress.done();
    let report = report?;
    println!(
        "backup {} complete on {}: {} parts, {} stored, {:.1}s",
        report.id,
        report.target,
        report.manifest.parts.len(),
        size(report.stored_bytes),
        report.duration.as_secs_f64()
    );
    if !report.cleaned.is_empty() {
        println!("removed {} abandoned upload(s)", report.cleaned.len());
    }
    Ok(())
}

fn list(backups: &Backups<'_>, only: Option<&str>, json: bool) -> Result<(), BackupError> {
    let names = match only {
        Some(name) => vec![name.to_owned()],
        None => targets::names(&backups.config.backup),
    };
    let key = backups.key();
    let mut rows = Vec::new();
    for name in &names {
        let target = backups.target(name)?;
        for listed in catalog::list(&*target, &key)? {
            rows.push((name.clone(), listed));
        }
    }
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(target, l)| match &l.manifest {
                Ok(m) => json!({
                    "target": target,
                    "id": l.id,
                    "created_at": m.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "stored_bytes": m.parts.iter().map(|p| p.stored_size).sum::<u64>(),
                    "parts": m.parts,
                    "tables": m.tables.len(),
                    "key_id": m.key_id,
                    "pg_dump_version": m.pg_dump_version,
                    "server_version": m.server_version,
                }),
                Err(problem) => json!({ "target": target, "id": l.id, "error": problem }),
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&items).unwrap_or_default()
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("no complete backups on {}", names.join(", "));
        return Ok(());
    }
    println!(
        "{:<10} {:<36}  {:<20}  {:>10}  tables",
        "target", "id", "created (UTC)", "stored"
    );
    for (target, l) in &rows {
        match &l.manifest {
            Ok(m) => println!(
                "{:<10} {:<36}  {:<20}  {:>10}  {}",
                target,
                l.id,
                m.created_at
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute]:[second]"
                    ))
                    .unwrap_or_default(),
                size(m.parts.iter().map(|p| p.stored_size).sum()),
                m.tables.len()
            ),
            Err(problem) => println!("{target:<10} {:<36}  UNREADABLE: {problem}", l.id),
        }
    }
    Ok(())
}

fn verify(
    backups: &Backups<'_>,
    target: &str,
    id: &str,
    identity: Option<&Identity>,
) -> Result<(), BackupError> {
    let mut progress = Progress::new();
    let report = backups.drill(target, id, identity, Actor::Cli, &mut progress);
    progress.done();
    let report = report?;
    println!(
        "backup {} restores: {} tables, {} rows, every count and sample equal to the source",
        report.backup_id, report.tables, report.rows
    );
    Ok(())
}

fn restore(backups: &Backups<'_>, request: RestoreRequest<'_>) -> Result<(), BackupError> {
    let mut progress = Progress::new();
    let report = backups.restore(request, Actor::Cli, &mut progress);
    progress.done();
    let report = report?;
    println!(
        "restored backup {} into {}: {} tables, {} rows, equal to the backup's source",
        report.restored.backup_id,
        report.restored.database,
        report.restored.tables,
        report.restored.rows
    );
    if let Some(safety) = report.safety_backup {
        println!("a safety backup of the replaced database was taken first: {safety}");
    }
    if !report.keys_restored.is_empty() {
        println!(
            "vault keys retired since the backup were put back into the keyring: {:?}",
            report.keys_restored
        );
    }
    if let Some(kept) = report.kept_as {
        println!("the replaced database is kept as {kept} (drop it when you are sure)");
    }
    Ok(())
}

fn prune(backups: &Backups<'_>, target: &str, dry_run: bool) -> Result<(), BackupError> {
    let plan = backups.prune(target, dry_run, Actor::Cli)?;
    let verb = if dry_run { "would remove" } else { "removed" };
    for id in &plan.remove {
        println!("{verb} {id}");
    }
    for id in &plan.unreadable {
        println!("left {id}: its manifest does not authenticate");
    }
    println!(
        "{target}: keeping {}, {verb} {} (keep_daily {}, keep_weekly {}, keep_monthly {})",
        plan.keep.len(),
        plan.remove.len(),
        backups.config.backup.keep_daily,
        backups.config.backup.keep_weekly,
        backups.config.backup.keep_monthly
    );
    Ok(())
}

fn keygen(out: &Path) -> Result<(), CliError> {
    let identity = Identity::generate();
    let mut file = crate::keyfile::create(out)
        .map_err(|e| CliError::Failed(format!("{}: {e}", out.display())))?;
    std::io::Write::write_all(&mut file, identity.to_file_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::Failed(format!("{}: {e}", out.display())))?;
    crate::keyfile::restrict(out)
        .map_err(|e| CliError::Failed(format!("{}: {e}", out.display())))?;
    println!(
        "wrote the backup identity to {} (mode 0400): keep it off the server",
        out.display()
    );
    println!("set on the server, in [backup]:");
    println!("recipient = \"{}\"", identity.recipient());
    Ok(())
}

/// A progress bar on a terminal, plain stage lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    bytes: u64,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg} {bytes} ({bytes_per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self { bar, bytes: 0 }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn stage(&mut self, what: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(what.to_owned()),
            None => eprintln!("{what}"),
        }
    }

    fn bytes(&mut self, n: u64) {
        self.bytes += n;
        if let Some(bar) = &self.bar {
            bar.set_position(self.bytes);
        }
    }
}

fn size(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}
