//! The security loop: checks that look at this server as an attacker and as an
//! auditor would, and the findings they leave, tracked over time.
//!
//! Each check is a small module behind [`Check`]: it looks, and reports what it found
//! as [`Found`] items. [`run`] runs the checks, [`findings::record`] turns their
//! results into the finding lifecycle (new, still open, resolved, reopened), and
//! [`metrics`] reads the trend back.

pub mod checks;
pub mod files;
pub mod findings;
pub mod metrics;
pub mod posture;
pub mod redact;
pub mod requests;
pub mod scheduled;
pub mod settings;
pub mod watch;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::db::Db;
use crate::vault::Vault;

/// How bad a finding is, in the order people triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// High and critical findings are told to people, and fail `outpost scan`.
    pub fn is_urgent(self) -> bool {
        self >= Severity::High
    }
}

/// One problem a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// What it is about, stable across scans (`api_key:<id>`, `file:/var/log/x.log:12`):
    /// with the check's id it is the finding's identity.
    pub subject: String,
    pub severity: Severity,
    pub title: String,
    /// Where and what, redacted: never a secret (see [`redact`]).
    pub evidence: String,
    /// The check's own remedy already fixed it (and audited what it did): recorded
    /// as opened and at once resolved as auto-fixed, so it still counts in the trend.
    pub fixed: bool,
}

impl Found {
    pub fn new(
        subject: impl Into<String>,
        severity: Severity,
        title: impl Into<String>,
        evidence: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            severity,
            title: title.into(),
            evidence: evidence.into(),
            fixed: false,
        }
    }

    /// Marks it as remedied by the check itself.
    pub fn remedied(self) -> Self {
        Self {
            fixed: true,
            ..self
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckError(pub String);

impl From<diesel::result::Error> for CheckError {
    fn from(e: diesel::result::Error) -> Self {
        Self(format!("database query failed: {e}"))
    }
}

impl From<crate::db::DbError> for CheckError {
    fn from(e: crate::db::DbError) -> Self {
        Self(e.to_string())
    }
}

/// What every check may look at.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    pub db: &'a Db,
    pub vault: &'a Vault,
    pub now: time::OffsetDateTime,
}

/// One check. Blocking: it runs on a blocking thread (or the CLI's), like the rest of
/// Outpost's long work.
pub trait Check: Send + Sync {
    /// Stable, lowercase, dotted: `hygiene.dormant_keys`.
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// Everything it finds now. A finding it does not report again is resolved, so a
    /// check must report every problem it sees on every run.
    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError>;
}

/// How one check went.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRun {
    pub id: &'static str,
    pub title: &'static str,
    /// `ok` (ran, found nothing), `findings`, or `error` (could not run: its open
    /// findings are left as they are, neither resolved nor confirmed).
    pub status: &'static str,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    pub error: Option<String>,
    pub found: Vec<Found>,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Runs `checks` one after another (they are cheap next to the scan's value, and
/// running them in turn keeps the server's load predictable).
pub fn run(cx: &Context<'_>, checks: &[Box<dyn Check>]) -> Vec<CheckRun> {
    checks
        .iter()
        .map(|check| {
            let started = Instant::now();
            let result = check.run(cx);
            let duration = started.elapsed();
            match result {
                Ok(found) => CheckRun {
                    id: check.id(),
                    title: check.title(),
                    status: if found.is_empty() { "ok" } else { "findings" },
                    duration,
                    error: None,
                    found,
                },
                Err(e) => {
                    tracing::warn!(check = check.id(), error = %e, "a security check could not run");
                    CheckRun {
                        id: check.id(),
                        title: check.title(),
                        status: "error",
                        duration,
                        error: Some(e.0),
                        found: Vec::new(),
                    }
                }
            }
        })
        .collect()
}
