//! A blocking TLS client for looking at an endpoint from outside: which version and
//! suite it agrees to and which chain it presents. The chain is verified apart from
//! the handshake ([`verify_chain`]), so a bad certificate and a bad protocol setting
//! are told apart rather than both showing up as a failed connection.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConnection, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CipherSuite, ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore,
    SignatureScheme, SupportedProtocolVersion,
};
use time::OffsetDateTime;

use super::certificate;

/// What a completed handshake agreed on.
#[derive(Debug)]
pub struct Handshake {
    pub version: ProtocolVersion,
    pub suite: CipherSuite,
    /// The server's chain, leaf first, unverified.
    pub chain: Vec<CertificateDer<'static>>,
}

/// Connects to `addr`, names `host` (SNI) and completes a handshake offering only
/// `versions` with ring's suites and groups. The chain is taken as presented (the
/// handshake's signatures are still checked against it).
pub fn handshake(
    addr: SocketAddr,
    host: &str,
    versions: &[&'static SupportedProtocolVersion],
    timeout: Duration,
) -> Result<Handshake, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(TakeAsPresented {
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let name = server_name(host)?;
    let mut connection =
        ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tcp = connect(addr, timeout).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    while connection.is_handshaking() {
        connection
            .complete_io(&mut tcp)
            .map_err(|e| format!("handshake with {addr} failed: {e}"))?;
    }
    let (Some(version), Some(suite), Some(chain)) = (
        connection.protocol_version(),
        connection.negotiated_cipher_suite(),
        connection.peer_certificates(),
    ) else {
        return Err(format!("handshake with {addr} ended without a session"));
    };
    let chain = chain.iter().map(|c| c.clone().into_owned()).collect();
    connection.send_close_notify();
    let _ = connection.complete_io(&mut tcp);
    Ok(Handshake {
        version,
        suite: suite.suite(),
        chain,
    })
}

/// A TCP connection with `timeout` on connecting, reading and writing.
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    Ok(tcp)
}

fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
        .map_err(|e| format!("`{host}` is not a server name: {e}"))
}

/// The system's trust anchors (`/etc/ssl/certs`), plus the certificates in
/// `extra_ca` (a private CA).
pub fn trust_anchors(extra_ca: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = extra_ca {
        for ca in certificate::read_chain(path).map_err(|e| e.to_string())? {
            roots
                .add(ca)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(roots)
}

/// Whether `chain` (leaf first) is valid for `host` at `now`, up to one of `roots`:
/// the verification every browser does.
pub fn verify_chain(
    chain: &[CertificateDer<'static>],
    host: &str,
    roots: RootCertStore,
    now: OffsetDateTime,
) -> Result<(), String> {
    let (leaf, intermediates) = chain.split_first().ok_or("no certificate was presented")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| e.to_string())?;
    let seconds = u64::try_from(now.unix_timestamp()).unwrap_or_default();
    verifier
        .verify_server_cert(
            leaf,
            intermediates,
            &server_name(host)?,
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(seconds)),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Accepts whatever chain is presented, but still checks the handshake's signatures
/// against it: the chain's validity is judged separately, by [`verify_chain`].
#[derive(Debug)]
struct TakeAsPresented {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for TakeAsPresented {
    fn verify_server_cert(
        &self,
        _leaf: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
