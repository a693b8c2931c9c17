//! The escalation rules: what about a satellite needs a person. Each rule reads the
//! satellite's status and its newest report; a late report alone is never a problem
//! (one lost packet must not wake anyone), going offline is.

use serde::{Deserialize, Serialize};

use super::status::Status;
use crate::fleet::protocol::Report;

/// Disk use above this share of a mount is a problem.
pub const DISK_PERCENT: f64 = 90.0;
/// A newest backup older than this (a day, and slack for a slow run) is a problem.
pub const BACKUP_HOURS: f64 = 26.0;
/// A certificate with fewer days left than this is a problem (renewal has failed).
pub const CERTIFICATE_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Offline,
    Disk,
    Backup,
    CriticalFinding,
    Certificate,
    SshUnreachable,
}

impl Rule {
    pub const ALL: [Rule; 6] = [
        Rule::Offline,
        Rule::Disk,
        Rule::Backup,
        Rule::CriticalFinding,
        Rule::Certificate,
        Rule::SshUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Offline => "offline",
            Rule::Disk => "disk",
            Rule::Backup => "backup",
            Rule::CriticalFinding => "critical_finding",
            Rule::Certificate => "certificate",
            Rule::SshUnreachable => "ssh_unreachable",
        }
    }

    pub fn parse(text: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// One rule that holds for a satellite now, with what a person should read.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub rule: Rule,
    pub detail: String,
}

/// Every problem of a satellite in `status` whose newest report is `latest`.
pub fn problems(status: Status, latest: Option<&Report>) -> Vec<Problem> {
    let mut found = Vec::new();
    let mut add = |rule, detail: String| found.push(Problem { rule, detail });
    if status == Status::Offline {
        add(Rule::Offline, "no report for five intervals".into());
    }
    let Some(report) = latest else {
        return found;
    };
    if let Some(disk) = report
        .host
        .disks
        .iter()
        .max_by(|a, b| a.used_percent().total_cmp(&b.used_percent()))
        .filter(|d| d.used_percent() > DISK_PERCENT)
    {
        add(
            Rule::Disk,
            format!("{} is {:.0}% full", disk.mount, disk.used_percent()),
        );
    }
    let app = &report.app;
    match (app.last_backup_age_hours, app.last_drill_ok) {
        (_, Some(false)) => add(Rule::Backup, "the latest restore drill failed".into()),
        (None, _) => add(Rule::Backup, "no backup has completed".into()),
        (Some(age), _) if age > BACKUP_HOURS => {
            add(Rule::Backup, format!("the newest backup is {age:.0} h old"))
        }
        _ => {}
    }
    let critical = report
        .security
        .open_findings
        .get("critical")
        .copied()
        .unwrap_or(0);
    if critical > 0 {
        add(
            Rule::CriticalFinding,
            format!("{critical} critical finding(s) open"),
        );
    }
    if let Some(days) = app.certificate_days_left.filter(|d| *d < CERTIFICATE_DAYS) {
        add(
            Rule::Certificate,
            format!("the certificate expires in {days} day(s)"),
        );
    }
    if !app.ssh_reachable {
        add(
            Rule::SshUnreachable,
            "SSH does not answer on port 22".into(),
        );
    }
    found
}
