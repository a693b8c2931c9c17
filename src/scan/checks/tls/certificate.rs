//! The served certificate: its chain valid for the host (as a browser verifies it,
//! against the system's roots and `scan.tls_ca_file`), and far enough from expiry.
//!
//! Days left before notAfter, and the severity: fewer than 21 is medium (a renewal
//! that should have happened at 30 days has not), fewer than 14 is high, fewer than 7
//! (or expired) is critical. An invalid chain is critical: browsers refuse it.

use rustls::version::{TLS12, TLS13};
use time::Duration;

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{Endpoint, TIMEOUT, endpoint};
use crate::tls::certificate::days_left;
use crate::tls::client::{handshake, trust_anchors, verify_chain};
use crate::tls::not_after;

#[derive(Debug)]
pub struct Certificate;

impl Check for Certificate {
    fn id(&self) -> &'static str {
        "offensive.tls_certificate"
    }

    fn title(&self) -> &'static str {
        "The TLS certificate is valid and not about to expire"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let Endpoint::Https { host, addr, .. } = endpoint(cx.config)? else {
            // No certificate to look at; `offensive.tls_protocols` reports cleartext.
            return Ok(Vec::new());
        };
        let served = handshake(addr, &host, &[&TLS13, &TLS12], TIMEOUT).map_err(CheckError)?;
        let roots = trust_anchors(cx.config.scan.tls_ca_file.as_deref()).map_err(CheckError)?;
        let mut found = Vec::new();
        if let Err(e) = verify_chain(&served.chain, &host, roots, cx.now) {
            found.push(Found::new(
                format!("certificate:{host}:chain"),
                Severity::Critical,
                "The TLS certificate is not valid for this host",
                format!("{host} ({addr}): {e}"),
            ));
        }
        let expires = not_after(&served.chain[0]).map_err(|e| CheckError(e.to_string()))?;
        let left = expires - cx.now;
        if let Some(severity) = expiry_severity(left) {
            let title = if left.is_negative() {
                "The TLS certificate has expired".to_owned()
            } else {
                format!(
                    "The TLS certificate expires in {} days",
                    days_left(expires, cx.now)
                )
            };
            found.push(Found::new(
                format!("certificate:{host}:expiry"),
                severity,
                title,
                format!("{host} ({addr}) serves a certificate valid until {expires}"),
            ));
        }
        Ok(found)
    }
}

/// How urgent `left` until notAfter is; nothing from 21 days on.
fn expiry_severity(left: Duration) -> Option<Severity> {
    if left < Duration::days(7) {
        Some(Severity::Critical)
    } else if left < Duration::days(14) {
        Some(Severity::High)
    } else if left < Duration::days(21) {
        Some(Severity::Medium)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_rises_as_expiry_nears() {
        let days = Duration::days;
        assert_eq!(expiry_severity(days(90)), None);
        assert_eq!(expiry_severity(days(21)), None);
        assert_eq!(
            expiry_severity(days(21) - Duration::SECOND),
            Some(Severity::Medium)
        );
        assert_eq!(expiry_severity(days(13)), Some(Severity::High));
        assert_eq!(expiry_severity(days(6)), Some(Severity::Critical));
        assert_eq!(expiry_severity(days(-3)), Some(Severity::Critical));
    }
}
