//! Offensive TLS checks: the HTTPS endpoint `public_url` names, looked at from
//! outside the way a browser or an attacker reaches it.
//!
//! Without TLS (`public_url` on http://), a loopback host is development and these
//! checks stay quiet; any other host means the dashboard is served in clear, which
//! `offensive.tls_protocols` reports (high).

mod certificate;
mod protocols;
mod redirect;

pub use certificate::Certificate;
pub use protocols::Protocols;
pub use redirect::Redirect;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::super::CheckError;
use crate::config::Config;

/// Each connection, read and write of a probe: a scan never hangs on its own server.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What `public_url` says about TLS.
#[derive(Debug)]
enum Endpoint {
    Https {
        host: String,
        port: u16,
        addr: SocketAddr,
    },
    /// Plain HTTP on loopback: development, nothing to look at.
    Development,
    /// Plain HTTP for everyone: the URL.
    Cleartext(String),
}

fn endpoint(config: &Config) -> Result<Endpoint, CheckError> {
    let bad = || CheckError(format!("public_url `{}` names no host", config.public_url));
    let url = config.public_url().ok_or_else(bad)?;
    let host = url.host_str().ok_or_else(bad)?.to_owned();
    if url.scheme() != "https" {
        return Ok(if is_loopback(&host) {
            Endpoint::Development
        } else {
            Endpoint::Cleartext(url.to_string())
        });
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addr = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| CheckError(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| CheckError(format!("{host} resolves to no address")))?;
    Ok(Endpoint::Https { host, port, addr })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(url: &str) -> Endpoint {
        let config = Config {
            public_url: url.into(),
            ..Config::default()
        };
        endpoint(&config).unwrap()
    }

    #[test]
    fn plain_http_is_development_on_loopback_only() {
        assert!(matches!(at("http://127.0.0.1:8080"), Endpoint::Development));
        assert!(matches!(at("http://localhost/"), Endpoint::Development));
        assert!(matches!(at("http://[::1]:8080"), Endpoint::Development));
        assert!(matches!(at("http://192.0.2.7"), Endpoint::Cleartext(_)));
        match at("https://127.0.0.1:8443/base") {
            Endpoint::Https { host, port, addr } => {
                assert_eq!((host.as_str(), port), ("127.0.0.1", 8443));
                assert_eq!(addr, "127.0.0.1:8443".parse().unwrap());
            }
            other => panic!("{other:?}"),
        }
    }
}
