//! Only TLS 1.2 and 1.3 with strong suites: raw ClientHellos offering TLS 1.0, TLS
//! 1.1, CBC-only and RSA-key-exchange-only TLS 1.2 must all be refused, and real
//! TLS 1.3 and TLS 1.2 (ECDHE, AEAD) handshakes must succeed.
//!
//! Severities: an old version accepted is high (RFC 8996 deprecates both); a weak
//! TLS 1.2 suite accepted is high too (CBC's padding oracles, RSA key exchange's
//! lack of forward secrecy); TLS 1.3 missing is low, and TLS 1.2 missing is info
//! (older clients cannot connect, nobody is exposed).

use rustls::SupportedProtocolVersion;
use rustls::version::{TLS12, TLS13};

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{Endpoint, TIMEOUT, endpoint};
use crate::tls::client::handshake;
use crate::tls::client_hello::{self, Answer, Offer};

#[derive(Debug)]
pub struct Protocols;

/// The handshakes a good server completes: (id, what, versions, severity if not).
const EXPECTED: [(&str, &str, &[&SupportedProtocolVersion], Severity); 2] = [
    ("tls1.3", "TLS 1.3", &[&TLS13], Severity::Low),
    (
        "tls1.2",
        "TLS 1.2 with ECDHE and AEAD",
        &[&TLS12],
        Severity::Info,
    ),
];

impl Check for Protocols {
    fn id(&self) -> &'static str {
        "offensive.tls_protocols"
    }

    fn title(&self) -> &'static str {
        "Only TLS 1.2 and 1.3 with strong suites are offered"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let (host, addr) = match endpoint(cx.config)? {
            Endpoint::Development => return Ok(Vec::new()),
            Endpoint::Cleartext(url) => {
                return Ok(vec![Found::new(
                    "tls:not-served",
                    Severity::High,
                    "The dashboard is served without TLS",
                    format!(
                        "public_url is {url}: passwords and session cookies cross the network in clear"
                    ),
                )]);
            }
            Endpoint::Https { host, addr, .. } => (host, addr),
        };
        let mut found = Vec::new();
        for offer in Offer::WEAK {
            let answer = client_hello::probe(addr, &host, offer, TIMEOUT).map_err(|e| {
                CheckError(format!(
                    "cannot probe {addr} with {}: {e}",
                    offer.describe()
                ))
            })?;
            if let Answer::Accepted { version, suite } = answer {
                found.push(Found::new(
                    format!("tls:accepted:{}", offer.id()),
                    Severity::High,
                    format!("The server accepts {}", offer.describe()),
                    format!(
                        "{host} ({addr}) answered a ClientHello offering only {} with a \
                         ServerHello: version {version:#06x}, suite {suite:#06x}",
                        offer.describe()
                    ),
                ));
            }
        }
        for (id, what, versions, severity) in EXPECTED {
            if let Err(e) = handshake(addr, &host, versions, TIMEOUT) {
                found.push(Found::new(
                    format!("tls:missing:{id}"),
                    severity,
                    format!("{what} is not offered"),
                    format!("{host} ({addr}): {e}"),
                ));
            }
        }
        Ok(found)
    }
}
