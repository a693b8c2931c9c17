//! Patch status: unattended security upgrades switched on, as apt reads its whole
//! configuration (`apt-config dump`, the hardening control's own reading), and
//! actually running (the stamp apt's periodic job leaves after each run).

use std::path::PathBuf;

use super::super::{Check, CheckError, Context, Found, Severity};
use crate::host::{Host, SystemRunner, upgrades};

/// apt's periodic job runs daily: three days without a run means it is not running.
const LATE_AFTER: time::Duration = time::Duration::days(3);
const STAMP: &str = "var/lib/apt/periodic/unattended-upgrades-stamp";

/// The check of the machine below `root` (`/` in a scan).
#[derive(Debug)]
pub struct PatchStatus {
    pub root: PathBuf,
}

impl Check for PatchStatus {
    fn id(&self) -> &'static str {
        "defensive.patch_status"
    }

    fn title(&self) -> &'static str {
        "Security upgrades install themselves"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let host = Host::new(&self.root, Box::new(SystemRunner));
        let dump = upgrades::effective(&host).map_err(|e| CheckError(e.to_string()))?;
        let setting = |key: &str| {
            dump.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let mut found = Vec::new();
        for (key, severity, what) in [
            (
                "APT::Periodic::Unattended-Upgrade",
                Severity::High,
                "Unattended security upgrades are switched off",
            ),
            (
                "APT::Periodic::Update-Package-Lists",
                Severity::Medium,
                "apt never refreshes its package lists, so it cannot see new fixes",
            ),
        ] {
            let value = setting(key);
            if value.is_none_or(|v| v == "0" || v.is_empty()) {
                found.push(Found::new(
                    format!("apt:{key}"),
                    severity,
                    what,
                    format!(
                        "{key} is {}",
                        value.map_or("not set".to_owned(), |v| format!("\"{v}\""))
                    ),
                ));
            }
        }
        let stamp = host.path(STAMP);
        let last_run = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .map(time::OffsetDateTime::from);
        match last_run {
            None => found.push(Found::new(
                "apt:last-run",
                Severity::Medium,
                "Unattended upgrades have never run",
                format!("no {}", stamp.display()),
            )),
            Some(at) if cx.now - at > LATE_AFTER => found.push(Found::new(
                "apt:last-run",
                Severity::Medium,
                "Unattended upgrades have not run for days",
                format!("last run {at} ({} days ago)", (cx.now - at).whole_days()),
            )),
            Some(_) => {}
        }
        Ok(found)
    }
}
