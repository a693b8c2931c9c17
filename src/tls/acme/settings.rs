//! The `[tls.acme]` section: which CA to ask, for which names, and when to renew.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::human_duration;

/// Let's Encrypt's production directory, the CA most servers use.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcmeSettings {
    /// The CA's ACME directory URL (https).
    pub directory_url: String,
    /// Where the CA sends expiry and policy notices; optional in RFC 8555.
    pub contact_email: Option<String>,
    /// The names the certificate is for; each must resolve to this server, whose
    /// `tls.http_redirect_listen` (port 80) answers the CA's HTTP-01 challenges.
    pub domains: Vec<String>,
    /// Renew once the served certificate has less than this left (Let's Encrypt's
    /// certificates last 90 days; renewing at 30 leaves weeks for retries).
    #[serde(with = "human_duration")]
    pub renew_before: Duration,
    /// PEM certificates trusted for the directory's own HTTPS besides the system's
    /// (a private or test CA).
    pub ca_bundle: Option<PathBuf>,
}

impl Default for AcmeSettings {
    fn default() -> Self {
        Self {
            directory_url: LETS_ENCRYPT.into(),
            contact_email: None,
            domains: Vec::new(),
            renew_before: Duration::from_secs(30 * 24 * 3600),
            ca_bundle: None,
        }
    }
}

impl AcmeSettings {
    /// One line naming the bad key, or nothing. `redirect_set` tells whether
    /// `tls.http_redirect_listen` is, as HTTP-01 challenges are answered there.
    pub fn problem(&self, redirect_set: bool) -> Option<(String, String)> {
        let bad = |key: &str, why: String| Some((format!("tls.acme.{key}"), why));
        match url::Url::parse(&self.directory_url) {
            Ok(url) if url.scheme() == "https" && url.host().is_some() => {}
            _ => return bad("directory_url", "must be an https:// URL".into()),
        }
        if self.domains.is_empty() {
            return bad("domains", "must name at least one domain".into());
        }
        for domain in &self.domains {
            if !is_dns_name(domain) {
                return bad(
                    "domains",
                    format!(
                        "`{domain}` is not a DNS name (HTTP-01 cannot validate wildcards or addresses)"
                    ),
                );
            }
        }
        if let Some(email) = &self.contact_email {
            let (local, host) = email.split_once('@').unwrap_or_default();
            if local.is_empty() || !host.contains('.') || email.contains([' ', ',', ':']) {
                return bad(
                    "contact_email",
                    format!("`{email}` is not an email address"),
                );
            }
        }
        if self.renew_before < Duration::from_secs(3600) {
            return bad("renew_before", "must be at least 1h".into());
        }
        if !redirect_set {
            return Some((
                "tls.http_redirect_listen".into(),
                "must be set with tls.acme: the CA's HTTP-01 challenges are answered there (port 80)"
                    .into(),
            ));
        }
        None
    }
}

/// A hostname of letters, digits and hyphens, at least two labels, not an IP address.
fn is_dns_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && name.len() <= 253
        && name.parse::<std::net::IpAddr>().is_err()
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> AcmeSettings {
        AcmeSettings {
            domains: vec!["dash.client.example".into()],
            contact_email: Some("ops@client.example".into()),
            ..AcmeSettings::default()
        }
    }

    #[test]
    fn a_complete_section_is_valid() {
        assert_eq!(valid().problem(true), None);
    }

    #[test]
    fn names_the_bad_key() {
        let key = |s: AcmeSettings, redirect: bool| s.problem(redirect).unwrap().0;
        assert_eq!(key(valid(), false), "tls.http_redirect_listen");
        for domain in [
            "*.client.example",
            "127.0.0.1",
            "localhost",
            "a..b",
            "-a.example",
        ] {
            let s = AcmeSettings {
                domains: vec![domain.into()],
                ..valid()
            };
            assert_eq!(key(s, true), "tls.acme.domains", "{domain}");
        }
        let s = AcmeSettings {
            domains: vec![],
            ..valid()
        };
        assert_eq!(key(s, true), "tls.acme.domains");
        let s = AcmeSettings {
            directory_url: "http://acme.example/directory".into(),
            ..valid()
        };
        assert_eq!(key(s, true), "tls.acme.directory_url");
        let s = AcmeSettings {
            contact_email: Some("not-an-address".into()),
            ..valid()
        };
        assert_eq!(key(s, true), "tls.acme.contact_email");
        let s = AcmeSettings {
            renew_before: Duration::from_secs(60),
            ..valid()
        };
        assert_eq!(key(s, true), "tls.acme.renew_before");
    }
}
