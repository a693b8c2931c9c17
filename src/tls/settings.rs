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
        let any =
            self.https_listen.is_some() || self.cert_file.is_some() || self.key_file.is_some();
        if any {
            let missing = need("https_listen", self.https_listen.is_some())
                .or_else(|| need("cert_file", self.cert_file.is_some()))
                .or_else(|| need("key_file", self.key_file.is_some()));
            if missing.is_some() {
                return missing;
            }
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
    }
}
