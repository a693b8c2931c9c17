//! Offensive checks: Outpost's own HTTP surface probed from outside, over the network,
//! at `public_url`, the way anyone on the internet reaches it.

mod auth_surface;
mod errors;
mod headers;
mod login_rate_limit;

pub use auth_surface::AuthSurface;
pub use errors::ErrorHandling;
pub use headers::Headers;
pub use login_rate_limit::LoginRateLimit;

use std::time::Duration;

use super::super::CheckError;

/// What a probe got back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

/// One request per probe, each on a small runtime of its own (checks are blocking),
/// with a short timeout: a scan never hangs on its own server.
pub fn probe(
    config: &crate::config::Config,
    method: reqwest::Method,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Reply, CheckError> {
    crate::backup_target::s3::install_tls_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CheckError(format!("cannot start a probe: {e}")))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_merge(extra_roots(config)?)
            .build()
            .map_err(|e| CheckError(format!("cannot build a probe: {e}")))?;
        // Every probe stands for a stranger elsewhere. Sent from this server, it would
        // pass for a local caller on routes that trust those (`/metrics`), unless it
        // says it was relayed, as a reverse proxy's request does.
        let mut request = client
            .request(method, url)
            .header("forwarded", "for=192.0.2.1")
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CheckError(format!("{url} did not answer: {e}")))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Ok(Reply {
            status,
            headers,
            body,
        })
    })
}

/// `scan.tls_ca_file`'s certificates, trusted besides the system's roots.
fn extra_roots(config: &crate::config::Config) -> Result<Vec<reqwest::Certificate>, CheckError> {
    let Some(path) = &config.scan.tls_ca_file else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path)
        .map_err(|e| CheckError(format!("cannot read {}: {e}", path.display())))?;
    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        CheckError(format!(
            "{} holds no usable certificate: {e}",
            path.display()
        ))
    })
}

/// `public_url` without a trailing slash, plus `path`.
pub fn at(config: &crate::config::Config, path: &str) -> String {
    format!("{}{path}", config.base_url())
}
