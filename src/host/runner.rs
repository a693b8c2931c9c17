//! Running the host's tools. Controls never spawn processes themselves: they go
//! through a [`Runner`], so a test can point them at the real validators while
//! injecting a failure where it needs one.

use std::process::Command;

use super::HostError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// What to show when the command failed: its stderr, or stdout if that is empty,
    /// trimmed to a few lines.
    pub fn detail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect();
        match (lines.is_empty(), self.code) {
            (true, Some(code)) => format!("exit status {code}"),
            (true, None) => "killed by a signal".into(),
            (false, _) => lines.join(" / "),
        }
    }
}

pub trait Runner: Send + Sync {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, HostError>;
}

/// Runs the real programs.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, HostError> {
        let out = Command::new(program)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| HostError::Command {
                command: display(program, args),
                detail: match e.kind() {
                    std::io::ErrorKind::NotFound => format!("{program} is not installed"),
                    _ => e.to_string(),
                },
            })?;
        Ok(out.into())
    }
}

impl From<std::process::Output> for CommandOutput {
    fn from(out: std::process::Output) -> Self {
        Self {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A command line as a person would type it.
pub fn display(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}
