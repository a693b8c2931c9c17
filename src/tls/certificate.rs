//! Certificates and keys from PEM files, and what the security loop and the fleet
//! report need to know about them: when they stop being valid.

use std::path::{Path, PathBuf};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("the key in {path} is unusable: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate cannot be parsed: {0}")]
    Parse(String),
}

/// The chain in `path`, leaf first, as certbot's `fullchain.pem` has it.
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    let read = |reason: String| CertificateError::Read {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(e.to_string()))?;
    if chain.is_empty() {
        return Err(CertificateError::NoCertificate(path.to_owned()));
    }
    Ok(chain)
}

/// The certificate chain of `cert` with the private key of `key`, checked to belong
/// together, ready to serve.
pub fn load_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertificateError> {
    let chain = read_chain(cert)?;
    // The key's own error names the file only: it may quote key material otherwise.
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| CertificateError::Key {
        path: key.to_owned(),
        reason: pem_problem(&e),
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => CertificateError::Mismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
        },
        other => CertificateError::Key {
            path: key.to_owned(),
            reason: other.to_string(),
        },
    })
}

fn pem_problem(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::NoItemsFound => "no PEM private key in it".into(),
        Error::Io(e) => e.to_string(),
        _ => "not a valid PEM private key".into(),
    }
}

/// When `cert` (DER) stops being valid.
pub fn not_after(cert: &CertificateDer<'_>) -> Result<OffsetDateTime, CertificateError> {
    use x509_cert::der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|e| CertificateError::Parse(e.to_string()))?;
    let seconds = parsed
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    i64::try_from(seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| CertificateError::Parse("notAfter is out of range".into()))
}

/// When the certificate the server serves from `cert_file` (its leaf) expires: what
/// the fleet report tells the operator.
pub fn file_not_after(cert_file: &Path) -> Result<OffsetDateTime, CertificateError> {
    not_after(&read_chain(cert_file)?[0])
}

/// Whole days from `now` until `not_after` (negative once it has passed): the one
/// count the dashboard, the fleet report and the security loop's expiry finding show.
pub fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_days()
}

/// [`days_left`] for the leaf in `cert_file`.
pub fn file_days_left(cert_file: &Path, now: OffsetDateTime) -> Result<i64, CertificateError> {
    file_not_after(cert_file).map(|expires| days_left(expires, now))
}
