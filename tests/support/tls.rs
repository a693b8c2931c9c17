//! Certificates for the TLS tests: a CA of the test's own and leaves it signs, for
//! `localhost` and 127.0.0.1, written where a server reads them (a PEM chain and a
//! PEM key, as certbot writes them).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

/// The name the leaves are for (and the tests connect to).
pub const HOST: &str = "localhost";

pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub der: CertificateDer<'static>,
    /// Leaf then CA, as `fullchain.pem` has it.
    pub chain_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new() -> Self {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "Outpost test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(365);
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for [`HOST`] and 127.0.0.1 that expires `valid_for` from now.
    pub fn leaf(&self, valid_for: Duration) -> Leaf {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, HOST);
        params.subject_alt_names = vec![
            SanType::DnsName(HOST.try_into().unwrap()),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + valid_for;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            der: cert.der().clone(),
            chain_pem: format!("{}{}", cert.pem(), self.pem()),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The files a TLS server is pointed at, in a directory removed with it.
pub struct TlsFiles {
    dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA's certificate, for clients to trust.
    pub ca: PathBuf,
}

impl TlsFiles {
    pub fn new(ca: &Ca, leaf: &Leaf) -> Self {
        let dir = tempfile::tempdir().expect("tls dir");
        let files = Self {
            cert: dir.path().join("fullchain.pem"),
            key: dir.path().join("privkey.pem"),
            ca: dir.path().join("ca.pem"),
            dir,
        };
        std::fs::write(&files.ca, ca.pem()).expect("write CA");
        files.install(leaf);
        files
    }

    /// Replaces the pair the way a renewal does: each file written aside, then
    /// renamed over the old one.
    pub fn install(&self, leaf: &Leaf) {
        replace(&self.key, &leaf.key_pem);
        replace(&self.cert, &leaf.chain_pem);
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn replace(path: &Path, text: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, text).expect("write aside");
    std::fs::rename(&aside, path).expect("rename into place");
}
