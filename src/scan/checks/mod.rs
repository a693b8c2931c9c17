//! Every check of the security loop, in the order a scan runs them.

mod audit_log;
mod backups;
mod hardening;
mod leaks;

use super::Check;

/// Every check. `outpost scan --only ID` picks from these.
pub fn all() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(hardening::Drift),
        Box::new(audit_log::Integrity),
        Box::new(backups::Freshness),
        Box::new(leaks::Secrets),
    ]
}
