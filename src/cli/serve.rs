//! `outpost serve`

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use super::CliError;
use crate::audit::checkpoint;
use crate::config::Config;
use crate::identity::session::SessionPolicy;
use crate::identity::throttle::ThrottlePolicy;
use crate::scan::requests::ScanRequests;
use crate::scheduler::{self, Periodic};
use crate::telemetry;
use crate::tls::{self, TlsSettings};
use crate::web::{self, AppState, Listener, redirect};

/// `--https-listen`, `--tls-cert`, `--tls-key`, `--http-redirect-listen`: each
/// replaces its `[tls]` key.
#[derive(Debug, Default)]
pub struct TlsFlags {
    pub https_listen: Option<SocketAddr>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub http_redirect_listen: Option<SocketAddr>,
}

impl TlsFlags {
    fn apply(self, tls: &mut TlsSettings) {
        tls.https_listen = self.https_listen.or(tls.https_listen);
        tls.cert_file = self.cert_file.or(tls.cert_file.take());
        tls.key_file = self.key_file.or(tls.key_file.take());
        tls.http_redirect_listen = self.http_redirect_listen.or(tls.http_redirect_listen);
    }
}

pub fn run(path: Option<&Path>, flags: TlsFlags) -> Result<(), CliError> {
    telemetry::init();
    let (config, db, vault) = super::open_adjusted(path, |config| flags.apply(&mut config.tls))?;
    let (dashboard, redirect_listener) = listeners(&config)?;
    let signer = checkpoint::load_signer(&config.audit_signing_key_file)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let (scan_requests, scan_receiver) = ScanRequests::channel();
    let state = AppState::new(config, db, vault)
        .map_err(|e| CliError::Failed(e.to_string()))?
        .with_scan_requests(scan_requests.clone());
    let config = &state.config;
    let redirect_target = redirect::Target {
        https_port: match &dashboard {
            Listener::Tls(socket, _) => socket.local_addr().map_or(443, |a| a.port()),
            Listener::Plain(_) => 443,
        },
        fallback_host: public_host(config),
    };
    let scheme = match dashboard {
        Listener::Tls(..) => "https",
        Listener::Plain(_) => "http",
    };
    let periodic = Periodic {
        db: state.db.clone(),
        signer,
        origin: config.audit_origin(),
        checkpoint_file: config.audit_checkpoint_file.clone(),
        stream_file: config.audit_stream_file.clone(),
        sessions: SessionPolicy {
            idle_timeout: config.session.idle_timeout,
            absolute_timeout: config.session.absolute_timeout,
        },
        throttle: ThrottlePolicy::from(&config.login),
        vault: state.vault.clone(),
        vault_rotation_interval: config.vault_rotation_interval,
        mailer: state.mailer.clone(),
        server_name: config.server_name.clone(),
        config: state.config.clone(),
        api_traffic: state.api_traffic.clone(),
        metrics: state.metrics.clone(),
    };
    let periodic = std::sync::Arc::new(periodic);
    actix_web::rt::System::new().block_on(async move {
        let _scheduler = scheduler::start(periodic.clone(), (scan_requests, scan_receiver))
            .await
            .map_err(|e| CliError::Failed(format!("cannot start the scheduler: {e}")))?;
        let (server, addr) = web::serve(state, dashboard, None)
            .map_err(|e| CliError::Failed(format!("cannot start the web server: {e}")))?;
        tracing::info!(%addr, "listening on {scheme}://{addr}");
        let stopped = |e: std::io::Error| CliError::Failed(format!("web server stopped: {e}"));
        let served = match redirect_listener {
            None => server.await.map_err(stopped),
            Some(listener) => {
                let (redirects, redirect_addr) = redirect::bind(listener, redirect_target)
                    .map_err(|e| CliError::Failed(format!("cannot start the redirects: {e}")))?;
                tracing::info!(%redirect_addr, "redirecting http://{redirect_addr} to HTTPS");
                futures_util::future::try_join(server, redirects)
                    .await
                    .map(|_| ())
                    .map_err(stopped)
            }
        };
        // The last minute's API counts would be lost with the process.
        periodic.flush_api_counts().await;
        served
    })
}

/// The dashboard's listener (HTTPS when `[tls]` says so) and the redirecting one.
fn listeners(config: &Config) -> Result<(Listener, Option<TcpListener>), CliError> {
    let listener = listener(config.listen, &config.tls)?;
    let redirect = match &listener {
        Listener::Tls(..) => config.tls.http_redirect_listen.map(bind).transpose()?,
        Listener::Plain(_) => None,
    };
    Ok((listener, redirect))
}

fn bind(addr: SocketAddr) -> Result<TcpListener, CliError> {
    TcpListener::bind(addr).map_err(|e| CliError::Failed(format!("cannot listen on {addr}: {e}")))
}

/// HTTPS on `[tls] https_listen` with its certificate files when `[tls]` is set (the
/// dashboard's and the fleet controller's alike), plain HTTP on `plain` otherwise,
/// loudly when that is not loopback.
pub fn listener(plain: SocketAddr, tls: &crate::tls::TlsSettings) -> Result<Listener, CliError> {
    let (Some(https), Some(cert), Some(key)) = (tls.https_listen, &tls.cert_file, &tls.key_file)
    else {
        if !plain.ip().is_loopback() {
            tracing::warn!(
                listen = %plain,
                "serving plain HTTP on a non-loopback address: anyone on the network can read sessions; set [tls]"
            );
        }
        return Ok(Listener::Plain(bind(plain)?));
    };
    let server_config = tls::server_config_for_files(cert, key)
        .map_err(|e| CliError::Failed(format!("cannot serve TLS: {e}")))?;
    if let Ok(expires) = tls::certificate::file_not_after(cert) {
        tracing::info!(cert_file = %cert.display(), not_after = %expires, "TLS certificate loaded");
    }
    Ok(Listener::Tls(bind(https)?, Box::new(server_config)))
}

/// `public_url`'s host, for redirects of requests that name none.
fn public_host(config: &Config) -> String {
    config
        .public_url()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".into())
}
