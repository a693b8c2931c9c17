//! TLS for the dashboard: the `[tls]` settings, the rustls server configuration
//! (TLS 1.2 and 1.3 only, AEAD suites with ECDHE, three curves), certificates read
//! from files and reloaded when they change, and the tools the security loop uses to
//! look at a TLS endpoint from outside (a rustls client and a raw ClientHello probe).

use std::path::Path;
use std::sync::Arc;

pub mod acme;
pub mod certificate;
pub mod client;
pub mod client_hello;
pub mod reload;
pub mod server;
pub mod settings;

pub use certificate::{CertificateError, not_after};
pub use reload::ReloadingResolver;
pub use server::{provider, server_config};
pub use settings::TlsSettings;

/// The server configuration that serves the pair in `cert_file` and `key_file`,
/// picking up changes to them at the next handshake.
pub fn server_config_for_files(
    cert_file: &Path,
    key_file: &Path,
) -> Result<rustls::ServerConfig, String> {
    let resolver = ReloadingResolver::load(cert_file, key_file, Arc::new(provider()))
        .map_err(|e| e.to_string())?;
    server_config(Arc::new(resolver)).map_err(|e| e.to_string())
}
