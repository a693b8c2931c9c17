//! Host hardening. Each control (firewall, sshd, fail2ban, …) is a module behind
//! [`Control`]: it says which files it owns and how they should read, how the real
//! tool validates them, how the running system picks them up, and what else about the
//! live host it checks. [`engine`] does the rest for every control alike: diff,
//! atomic writes that keep the original as `.outpost-bak`, validation, activation,
//! and rollback when either fails.
//!
//! Everything acts below a root directory ([`Host::root`]): `/` on a real server, a
//! scratch tree in tests and image builds, where nothing is ever activated.

pub mod accounts;
pub mod baseline;
pub mod docker;
pub mod engine;
pub mod fail2ban;
pub mod files;
pub mod listeners;
pub mod postgres;
pub mod report;
pub mod requests;
pub mod runner;
pub mod sshd;
pub mod status;
pub mod sysctl;
pub mod ufw;
pub mod ufw_rules;
pub mod upgrades;
pub mod users;

use std::path::{Path, PathBuf};

pub use baseline::Baseline;
pub use files::{Format, ManagedFile};
pub use report::{ControlReport, Drift, Status};
pub use runner::{CommandOutput, Runner, SystemRunner};

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{0}")]
    Io(String),
    /// The real tool refused the new configuration.
    #[error("{tool} rejected the configuration: {detail}")]
    Invalid { tool: String, detail: String },
    /// Applying would lock the operator out, or break something the baseline needs.
    #[error("refused: {0}")]
    Refused(String),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
}

impl HostError {
    pub fn io(what: impl std::fmt::Display, e: std::io::Error) -> Self {
        HostError::Io(format!("{what}: {e}"))
    }
}

/// The machine a control acts on: a root directory and a way to run commands.
pub struct Host {
    root: PathBuf,
    runner: Box<dyn Runner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("root", &self.root).finish()
    }
}

impl Host {
    pub fn new(root: impl Into<PathBuf>, runner: Box<dyn Runner>) -> Self {
        Self {
            root: root.into(),
            runner,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when acting on the machine itself: only then is anything activated.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `relative` (as on the real machine, e.g. `etc/ssh/sshd_config`) under the root.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        let relative = relative.as_ref();
        self.root
            .join(relative.strip_prefix("/").unwrap_or(relative))
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, HostError> {
        self.runner.run(program, args)
    }

    /// Runs a command that must succeed; its output on failure becomes the error.
    pub fn run_ok(&self, program: &str, args: &[&str]) -> Result<CommandOutput, HostError> {
        let out = self.run(program, args)?;
        if out.success {
            Ok(out)
        } else {
            Err(HostError::Command {
                command: runner::display(program, args),
                detail: out.detail(),
            })
        }
    }
}

/// One host control.
pub trait Control: Send + Sync {
    /// Short name, as `--only` takes it (`sshd`, `ufw`, …).
    fn name(&self) -> &'static str;

    /// The files this control owns, as the baseline wants them.
    fn desired(&self, host: &Host, baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError>;

    /// Checks the files now in place with the real tool (`sshd -t`, `fail2ban-client
    /// -t`, …). Runs after they are written; a failure rolls them back.
    fn validate(&self, _host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        Ok(())
    }

    /// Makes the running system use the files (reload a service, load sysctls). Only
    /// called on a live host; a failure rolls the files back and activates again.
    fn activate(&self, _host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        Ok(())
    }

    /// What the baseline needs beyond file contents, observed on the live system
    /// (effective sshd settings, listeners, containers). Reported as drift.
    fn observe(&self, _host: &Host, _baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        Ok(Vec::new())
    }

    /// The commands `--apply` runs after writing (validation, activation), in words,
    /// for `--plan`.
    fn steps(&self, _host: &Host) -> Vec<String> {
        Vec::new()
    }

    /// Refuses an apply that would do harm (lock the operator out, say).
    fn preflight(&self, _host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        Ok(())
    }

    /// Changes that are not file contents (accounts, ownership, directory modes), in
    /// words: the ones `--apply` would make now, for `--plan` when `dry_run`, else the
    /// ones it made. Runs after the files are written, validated and activated; not
    /// rolled back (what it changes is repaired, never made looser).
    fn converge(
        &self,
        _host: &Host,
        _baseline: &Baseline,
        _dry_run: bool,
    ) -> Result<Vec<String>, HostError> {
        Ok(Vec::new())
    }
}

/// Every control, in the order they are applied.
pub fn controls() -> Vec<Box<dyn Control>> {
    vec![
        Box::new(sysctl::Sysctl),
        Box::new(users::Users),
        Box::new(ufw::Ufw),
        Box::new(fail2ban::Fail2ban),
        Box::new(sshd::Sshd),
        Box::new(upgrades::Upgrades),
        Box::new(postgres::Postgres),
        Box::new(docker::Docker),
    ]
}
