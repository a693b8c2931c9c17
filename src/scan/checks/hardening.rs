//! Hardening drift, as the root `outpost harden --check` timer last recorded it (a scan
//! runs unprivileged and cannot read what root reads): one finding per drifted
//! setting, and one per control the check could not run, or a host never checked.

use super::super::{Check, CheckError, Context, Found, Severity};
use crate::host::status;

/// A check older than this means the nightly timer is not running.
const STALE_AFTER: time::Duration = time::Duration::hours(36);

#[derive(Debug)]
pub struct Drift;

impl Check for Drift {
    fn id(&self) -> &'static str {
        "defensive.hardening_drift"
    }

    fn title(&self) -> &'static str {
        "Host hardening matches the baseline"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let checks = status::latest(&mut *cx.db.get()?)?;
        let on_host: Vec<_> = checks.iter().filter(|c| c.root == "/").collect();
        let mut found = Vec::new();
        if on_host.is_empty() {
            found.push(Found::new(
                "harden:never",
                Severity::Medium,
                "The host's hardening has never been checked",
                "no `outpost harden --check` result for / is recorded; enable outpost-harden.timer",
            ));
        }
        for check in on_host {
            if cx.now - check.checked_at > STALE_AFTER {
                found.push(Found::new(
                    format!("harden:{}:stale", check.control),
                    Severity::Low,
                    format!("The {} control was last checked long ago", check.control),
                    format!("last checked {}", check.checked_at),
                ));
            }
            if let Some(error) = &check.error {
                found.push(Found::new(
                    format!("harden:{}:error", check.control),
                    Severity::Medium,
                    format!("The {} control could not be checked", check.control),
                    error.clone(),
                ));
            }
            for drift in &check.drift {
                let subject = format!(
                    "harden:{}:{}:{}",
                    check.control,
                    drift.path.as_deref().unwrap_or("-"),
                    drift.key.as_deref().unwrap_or("-")
                );
                found.push(Found::new(
                    subject,
                    Severity::High,
                    format!("The host drifted from the {} baseline", check.control),
                    drift.to_string(),
                ));
            }
        }
        Ok(found)
    }
}
