//! Every check of the security loop, in the order a scan runs them.

mod agents;
mod audit_log;
mod backups;
mod behaviour;
mod dns;
mod file_modes;
mod hardening;
mod http;
mod hygiene;
mod leaks;
mod patches;
mod tls;
mod upgrades;

pub use hardening::Drift;
pub use http::AuthSurface;
pub use patches::PatchStatus;
pub use upgrades::SecurityUpgrades;

use super::Check;

/// Every check. `outpost scan --only ID` picks from these.
pub fn all() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(http::Headers),
        Box::new(http::ErrorHandling),
        Box::new(AuthSurface::default()),
        Box::new(http::LoginRateLimit),
        Box::new(tls::Protocols),
        Box::new(tls::Certificate),
        Box::new(tls::Redirect),
        Box::new(Drift { root: "/".into() }),
        Box::new(file_modes::Modes),
        Box::new(audit_log::Integrity),
        Box::new(backups::Freshness),
        Box::new(PatchStatus { root: "/".into() }),
        Box::new(SecurityUpgrades { root: "/".into() }),
        Box::new(hygiene::SessionPolicy),
        Box::new(hygiene::ApiKeyScope),
        Box::new(hygiene::Dormant),
        Box::new(hygiene::StaleCredentials),
        Box::new(hygiene::Mfa),
        Box::new(hygiene::Owners),
        Box::new(behaviour::SignIns),
        Box::new(behaviour::ApiErrors),
        Box::new(behaviour::ApiKeyAddresses),
        Box::new(behaviour::CapabilityCreep),
        Box::new(leaks::Secrets),
        Box::new(agents::Skills),
        Box::new(agents::Memory),
        Box::new(dns::MailAndCertificates),
    ]
}
