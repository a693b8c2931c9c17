//! Every check of the security loop, in the order a scan runs them.

mod audit_log;
mod backups;
mod behaviour;
mod hardening;
mod http;
mod hygiene;
mod leaks;
mod patches;
mod tls;

pub use patches::PatchStatus;

use super::Check;

/// Every check. `outpost scan --only ID` picks from these.
pub fn all() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(http::Headers),
        Box::new(http::ErrorHandling),
        Box::new(tls::Protocols),
        Box::new(tls::Certificate),
        Box::new(tls::Redirect),
        Box::new(hardening::Drift),
        Box::new(audit_log::Integrity),
        Box::new(backups::Freshness),
        Box::new(PatchStatus { root: "/".into() }),
        Box::new(hygiene::SessionPolicy),
        Box::new(hygiene::ApiKeyScope),
        Box::new(hygiene::Dormant),
        Box::new(hygiene::StaleCredentials),
        Box::new(hygiene::Mfa),
        Box::new(hygiene::Owners),
        Box::new(behaviour::SignIns),
        Box::new(leaks::Secrets),
    ]
}
