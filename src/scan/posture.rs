//! The posture score: one number, 0 to 100, for how exposed this server is right now,
//! shown first on the dashboard.
//!
//! ```text
//! score = max(0, 100 − Σ weight(severity) × open findings − 5 × drifted controls)
//! weights: critical 25, high 10, medium 4, low 1, info 0
//! ```
//!
//! One critical finding costs a quarter of the score: it is the kind an attacker uses
//! today. Four mediums cost about as much as two highs. Informational findings cost
//! nothing: they are there to read, not to fix.
//!
//! Drift enters once, through the host's hardening record (each control whose latest
//! `outpost harden --check` on `/` found drift, or could not run, costs 5), and not
//! through the security loop's `defensive.hardening_drift` findings: those repeat the
//! same drift once per setting and only after the next scan, so counting both would
//! weigh one drifted control several times.

use std::collections::BTreeMap;

use super::Severity;
use super::findings::Finding;
use crate::host::status::HostCheck;

/// What each open finding of a severity costs.
pub const fn weight(severity: Severity) -> u32 {
    match severity {
        Severity::Critical => 25,
        Severity::High => 10,
        Severity::Medium => 4,
        Severity::Low => 1,
        Severity::Info => 0,
    }
}

/// What each drifted (or unchecked because failing) hardening control costs.
pub const DRIFT_WEIGHT: u32 = 5;

/// The check whose findings restate the host record's drift (see the module notes).
const DRIFT_CHECK: &str = "defensive.hardening_drift";

/// The score and what it was computed from, for the page to explain itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Posture {
    pub score: u32,
    /// Open findings counted, by severity (every severity present).
    pub findings: BTreeMap<&'static str, u32>,
    pub drifted_controls: u32,
}

impl Posture {
    /// `ok` from 90, `warn` from 60, `bad` below: the stylesheet's tones.
    pub fn tone(&self) -> &'static str {
        match self.score {
            90.. => "ok",
            60..=89 => "warn",
            _ => "bad",
        }
    }
}

/// The formula itself, on counts.
pub fn score(findings: &BTreeMap<Severity, u32>, drifted_controls: u32) -> u32 {
    let cost = findings
        .iter()
        .map(|(severity, n)| weight(*severity).saturating_mul(*n))
        .fold(0u32, u32::saturating_add)
        .saturating_add(DRIFT_WEIGHT.saturating_mul(drifted_controls));
    100u32.saturating_sub(cost)
}

/// The posture from the open findings and the host's latest hardening record.
pub fn assess(open: &[Finding], host: &[HostCheck]) -> Posture {
    let mut counts: BTreeMap<Severity, u32> = Severity::ALL.into_iter().map(|s| (s, 0)).collect();
    for finding in open.iter().filter(|f| f.check_id != DRIFT_CHECK) {
        // A severity this build does not know (a newer one wrote it) counts as high:
        // unknown is not harmless.
        let severity = Severity::parse(&finding.severity).unwrap_or(Severity::High);
        *counts.entry(severity).or_default() += 1;
    }
    let drifted_controls = host
        .iter()
        .filter(|check| check.root == "/" && check.status != "ok")
        .count() as u32;
    Posture {
        score: score(&counts, drifted_controls),
        findings: counts.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
        drifted_controls,
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn counts(pairs: &[(Severity, u32)]) -> BTreeMap<Severity, u32> {
        pairs.iter().copied().collect()
    }

    fn finding(check: &str, severity: &str) -> Finding {
        let now = OffsetDateTime::UNIX_EPOCH;
        Finding {
            fingerprint: format!("{check}:{severity}"),
            check_id: check.into(),
            subject: "s".into(),
            severity: severity.into(),
            title: "t".into(),
            evidence: "e".into(),
            first_seen: now,
            last_seen: now,
            resolved_at: None,
            auto_fixed: false,
            reopened: 0,
        }
    }

    fn control(root: &str, status: &str) -> HostCheck {
        HostCheck {
            control: "ufw".into(),
            status: status.into(),
            drift: Vec::new(),
            error: None,
            root: root.into(),
            checked_at: OffsetDateTime::UNIX_EPOCH,
            applied_at: None,
        }
    }

    #[test]
    fn nothing_open_and_no_drift_is_a_full_score() {
        assert_eq!(score(&BTreeMap::new(), 0), 100);
        assert_eq!(score(&counts(&[(Severity::Info, 40)]), 0), 100);
    }

    #[test]
    fn each_severity_and_each_drifted_control_costs_its_weight() {
        let open = counts(&[
            (Severity::Critical, 1),
            (Severity::High, 2),
            (Severity::Medium, 3),
            (Severity::Low, 4),
        ]);
        // 100 − 25 − 20 − 12 − 4 − 2 × 5
        assert_eq!(score(&open, 2), 29);
        assert_eq!(score(&counts(&[(Severity::High, 1)]), 0), 90);
    }

    #[test]
    fn the_score_floors_at_zero_without_overflowing() {
        assert_eq!(score(&counts(&[(Severity::Critical, 5)]), 0), 0);
        assert_eq!(
            score(&counts(&[(Severity::Critical, u32::MAX)]), u32::MAX),
            0
        );
    }

    #[test]
    fn drift_counts_once_from_the_host_record_on_this_host() {
        let open = [
            finding("defensive.backups", "high"),
            finding("defensive.hardening_drift", "medium"),
            finding("defensive.hardening_drift", "medium"),
            finding("offensive.http", "future-severity"),
        ];
        let host = [
            control("/", "drift"),
            control("/", "error"),
            control("/", "ok"),
            control("/tmp/scratch", "drift"),
        ];
        let posture = assess(&open, &host);
        assert_eq!(posture.drifted_controls, 2);
        assert_eq!(
            posture.findings["high"], 2,
            "unknown severities count as high"
        );
        assert_eq!(posture.findings["medium"], 0, "drift findings are left out");
        assert_eq!(posture.score, 100 - 2 * 10 - 2 * 5);
        assert_eq!(posture.tone(), "warn");
    }

    #[test]
    fn tones_follow_the_score() {
        let at = |score| Posture {
            score,
            findings: BTreeMap::new(),
            drifted_controls: 0,
        };
        assert_eq!(at(100).tone(), "ok");
        assert_eq!(at(90).tone(), "ok");
        assert_eq!(at(89).tone(), "warn");
        assert_eq!(at(60).tone(), "warn");
        assert_eq!(at(59).tone(), "bad");
    }
}
