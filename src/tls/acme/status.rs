//! What is served now, read from the certificate file: when it expires, who issued
//! it, which names it covers; and whether that calls for a renewal. Also the
//! placeholder served before the first certificate is issued.

use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::tls::certificate::{self, CertificateError};

/// Subject of the self-signed certificate served until the CA issues one.
const PLACEHOLDER: &str = "Outpost placeholder awaiting ACME";

/// The leaf certificate in the served file.
#[derive(Debug, Clone)]
pub struct CertificateStatus {
    pub not_after: OffsetDateTime,
    pub issuer: String,
    pub subject: String,
    /// Hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub dns_names: Vec<String>,
    /// Issued by itself: the placeholder, or a certificate made by hand.
    pub self_signed: bool,
}

impl CertificateStatus {
    pub fn read(cert_file: &Path) -> Result<Self, CertificateError> {
        let chain = certificate::read_chain(cert_file)?;
        let parsed = x509_cert::Certificate::from_der(chain[0].as_ref())
            .map_err(|e| CertificateError::Parse(e.to_string()))?;
        let tbs = &parsed.tbs_certificate;
        let dns_names = match tbs.get::<SubjectAltName>() {
            Ok(Some((_, san))) => san
                .0
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DnsName(dns) => Some(dns.to_string().to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            not_after: certificate::not_after(&chain[0])?,
            issuer: tbs.issuer.to_string(),
            subject: tbs.subject.to_string(),
            serial: tbs
                .serial_number
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect(),
            dns_names,
            self_signed: tbs.issuer == tbs.subject,
        })
    }

    /// Whole days until it expires (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// Why this certificate should be replaced now, if it should: a placeholder or
    /// self-signed one, one that misses a configured name, or one with less than
    /// `renew_before` left.
    pub fn renewal_reason(
        &self,
        domains: &[String],
        renew_before: Duration,
        now: OffsetDateTime,
    ) -> Option<String> {
        if self.self_signed {
            return Some("the served certificate is self-signed".into());
        }
        if let Some(missing) = domains
            .iter()
            .find(|d| !self.dns_names.contains(&d.to_ascii_lowercase()))
        {
            return Some(format!("the served certificate does not cover {missing}"));
        }
        let left = self.not_after - now;
        (left < renew_before).then(|| {
            format!(
                "the served certificate expires in {} days",
                left.whole_days()
            )
        })
    }

    /// When a renewal will be due, for a certificate that is not due now.
    pub fn due_at(&self, renew_before: Duration) -> OffsetDateTime {
        self.not_after - renew_before
    }
}

/// Writes a self-signed certificate for `domains`, valid for a day, so the HTTPS
/// listener can start before the CA has issued the first certificate (the CA's
/// challenges need the server up); the renewal then replaces it at once.
pub fn write_placeholder(
    cert_file: &Path,
    key_file: &Path,
    domains: &[String],
) -> Result<(), String> {
    let mut params = rcgen::CertificateParams::new(domains.to_vec()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, PLACEHOLDER);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(1);
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    super::store::install_pair(cert_file, key_file, &cert.pem(), &key.serialize_pem())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_is_due_at_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let domains = vec!["dash.client.example".to_owned()];
        write_placeholder(&cert, &key, &domains).unwrap();
        let status = CertificateStatus::read(&cert).unwrap();
        assert!(status.self_signed);
        assert_eq!(status.dns_names, domains);
        assert!(status.subject.contains(PLACEHOLDER), "{}", status.subject);
        let reason = status
            .renewal_reason(
                &domains,
                Duration::from_secs(3600),
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        assert!(reason.contains("self-signed"), "{reason}");
        crate::tls::certificate::load_pair(&cert, &key, &crate::tls::provider()).unwrap();
    }

    #[test]
    fn due_when_close_to_expiry_or_missing_a_name() {
        let status = CertificateStatus {
            not_after: OffsetDateTime::now_utc() + time::Duration::days(40),
            issuer: "CN=CA".into(),
            subject: "CN=dash.client.example".into(),
            serial: "01".into(),
            dns_names: vec!["dash.client.example".into()],
            self_signed: false,
        };
        let now = OffsetDateTime::now_utc();
        let domains = vec!["dash.client.example".to_owned()];
        let days = |d: u64| Duration::from_secs(d * 24 * 3600);
        assert_eq!(status.renewal_reason(&domains, days(30), now), None);
        assert!(status.renewal_reason(&domains, days(45), now).is_some());
        let more = vec!["dash.client.example".into(), "api.client.example".into()];
        let reason = status.renewal_reason(&more, days(30), now).unwrap();
        assert!(reason.contains("api.client.example"), "{reason}");
        assert_eq!(status.days_left(now), 39);
    }
}
