//! The `[tls]` section: where HTTPS listens, the certificate files, and the plain
//! HTTP listener that only redirects.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Unset `https_listen` means no TLS: the plain `listen` serves the dashboard (for
/// development on loopback). Set, it replaces `listen` altogether.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// Address of the HTTPS dashboard, e.g. `0.0.0.0:443`.
    pub https_listen: Option<SocketAddr>,
    /// PEM certificate chain, leaf first (certbot's `fullchain.pem`); re-read when it
    /// changes, so a renewal needs no restart.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf certificate.
    pub key_file: Option<PathBuf>,
    /// Address of the plain HTTP listener that answers every request with a 301 to
    /// HTTPS, e.g. `0.0.0.0:80`.
    pub http_redirect_listen: Option<SocketAddr>,
    /// Obtain and renew the certificate from an ACME CA, written to `cert_file` and
    /// `key_file`.
    pub acme: Option<super::acme::AcmeSettings>,
}

impl TlsSettings {
    /// Whether the dashboard is served over HTTPS.
    pub fn enabled(&self) -> bool {
        self.https_listen.is_some()
    }

    /// One line naming the bad key, or nothing.
    pub fn problem(&self) -> Option<(String, String)> {
        let need = |key: &str, set: bool| {
            (!set).then(|| {
                (
                    format!("tls.{key}"),
                    "must be set: tls.https_listen, tls.cert_file and tls.key_file go together"
                        .to_owned(),
                )
            })
        };
        let any = self.https_listen.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.acme.is_some();
        if any {
            let missing = need("https_listen", self.https_listen.is_some())
                .or_else(|| need("cert_file", self.cert_file.is_some()))
                .or_else(|| need("key_file", self.key_file.is_some()));
            if missing.is_some() {
                return missing;
            }
        }
        if let Some(acme) = &self.acme
            && let Some(problem) = acme.problem(self.http_redirect_listen.is_some())
        {
            return Some(problem);
        }
        match (self.http_redirect_listen, self.https_listen) {
            (Some(_), None) => Some((
                "tls.http_redirect_listen".into(),
                "needs tls.https_listen: there is nothing to redirect to".into(),
            )),
            // Port 0 (the OS picks one, as tests do) never collides.
            (Some(redirect), Some(https)) if redirect == https && https.port() != 0 => Some((
                "tls.http_redirect_listen".into(),
                "must differ from tls.https_listen".into(),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> TlsSettings {
        TlsSettings {
            https_listen: Some("0.0.0.0:443".parse().unwrap()),
            cert_file: Some("/etc/outpost/fullchain.pem".into()),
            key_file: Some("/etc/outpost/privkey.pem".into()),
            http_redirect_listen: Some("0.0.0.0:80".parse().unwrap()),
            acme: None,
        }
    }

    #[test]
    fn unset_and_complete_sections_are_valid() {
        assert_eq!(TlsSettings::default().problem(), None);
        assert_eq!(complete().problem(), None);
    }

    #[test]
    fn names_the_missing_or_conflicting_key() {
        let no_key = TlsSettings {
            key_file: None,
            ..complete()
        };
        assert_eq!(no_key.problem().unwrap().0, "tls.key_file");
        let redirect_only = TlsSettings {
            http_redirect_listen: Some("0.0.0.0:80".parse().unwrap()),
            ..TlsSettings::default()
        };
        assert_eq!(
            redirect_only.problem().unwrap().0,
            "tls.http_redirect_listen"
        );
        let same = TlsSettings {
            http_redirect_listen: complete().https_listen,
            ..complete()
        };
        assert!(same.problem().unwrap().1.contains("differ"));
        let acme_alone = TlsSettings {
            acme: Some(super::super::acme::AcmeSettings {
                domains: vec!["dash.client.example".into()],
                ..Default::default()
            }),
            ..TlsSettings::default()
        };
        assert_eq!(acme_alone.problem().unwrap().0, "tls.https_listen");
        let acme_without_redirect = TlsSettings {
            http_redirect_listen: None,
            ..acme_alone.clone()
        };
        let acme_without_redirect = TlsSettings {
            https_listen: complete().https_listen,
            cert_file: complete().cert_file,
            key_file: complete().key_file,
            ..acme_without_redirect
        };
        assert_eq!(
            acme_without_redirect.problem().unwrap().0,
            "tls.http_redirect_listen"
        );
    }
}
