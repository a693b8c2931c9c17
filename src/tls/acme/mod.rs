//! Certificates obtained and renewed from an ACME CA (Let's Encrypt) when
//! `[tls.acme]` is set: HTTP-01 challenges answered by the port-80 listener, the
//! issued pair written to `tls.cert_file`/`tls.key_file` (which the listener
//! reloads), and a renewal loop inside `outpost serve`.

pub mod challenges;
pub mod order;
pub mod renewal;
pub mod settings;
pub mod status;
pub mod store;

pub use challenges::Challenges;
pub use settings::AcmeSettings;
pub use status::CertificateStatus;
