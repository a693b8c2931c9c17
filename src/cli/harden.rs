//! `outpost harden --check | --plan | --apply`: the host baseline, as root, once.

use std::path::Path;

use super::CliError;
use crate::config::Config;
use crate::host::{self, ControlReport, Host, SystemRunner, engine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Check,
    Plan,
    Apply,
}

#[derive(Debug)]
pub struct Options<'a> {
    pub mode: Mode,
    pub only: &'a [String],
    pub root: &'a Path,
    pub json: bool,
}

pub fn run(config_path: Option<&Path>, options: &Options<'_>) -> Result<(), CliError> {
    let config = Config::load(config_path)?;
    let baseline = &config.harden;
    let controls = host::controls();
    for name in options.only {
        if !controls.iter().any(|c| c.name() == name) {
            let known: Vec<&str> = controls.iter().map(|c| c.name()).collect();
            return Err(CliError::Config(crate::config::ConfigError::from(format!(
                "--only: no control called `{name}`; the controls are {}",
                known.join(", ")
            ))));
        }
    }
    let selected: Vec<_> = controls
        .iter()
        .filter(|c| options.only.is_empty() || options.only.iter().any(|n| n == c.name()))
        .collect();
    let host = Host::new(options.root, Box::new(SystemRunner));

    if options.mode == Mode::Plan {
        for control in &selected {
            let changes = engine::plan(&host, control.as_ref(), baseline)
                .map_err(|e| CliError::Failed(format!("{}: {e}", control.name())))?;
            let actions = control
                .converge(&host, baseline, true)
                .map_err(|e| CliError::Failed(format!("{}: {e}", control.name())))?;
            if changes.is_empty() && actions.is_empty() {
                println!("== {}: nothing to change", control.name());
                continue;
            }
            println!("== {}", control.name());
            for change in &changes {
                if let Some((before, after)) = change.mode {
                    let before = before.map_or("absent".into(), |m| format!("{m:04o}"));
                    println!("mode of {}: {before} -> {after:04o}", change.path);
                }
                print!("{}", change.diff);
            }
            if !changes.is_empty() {
                for step in control.steps(&host) {
                    println!("then {step}");
                }
            }
            for action in actions {
                println!("then {action}");
            }
        }
        return Ok(());
    }

    let reports: Vec<ControlReport> = selected
        .iter()
        .map(|control| match options.mode {
            Mode::Apply => engine::apply_and_report(&host, control.as_ref(), baseline),
            _ => engine::check(&host, control.as_ref(), baseline),
        })
        .collect();
    print_reports(&reports, options.json);
    if let Err(e) = super::host_record::record(&config, options, &reports) {
        eprintln!("outpost: results not recorded in the database ({e}); they are above");
    }
    let failed = reports
        .iter()
        .filter(|r| r.status != host::Status::Ok)
        .count();
    match (failed, options.mode) {
        (0, _) => Ok(()),
        (n, Mode::Apply) => Err(CliError::Failed(format!(
            "{n} control{} not brought to the baseline",
            if n == 1 { "" } else { "s" }
        ))),
        (n, _) => Err(CliError::Failed(format!(
            "{n} control{} drifted from the baseline",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

/// The reports, as text or (`json`) one JSON array.
pub fn print_reports(reports: &[ControlReport], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(reports).expect("reports serialise")
        );
    } else {
        for report in reports {
            print!("{report}");
        }
    }
}
