//! `outpost serve`

use std::net::TcpListener;
use std::path::Path;

use super::CliError;
use crate::audit::checkpoint;
use crate::identity::session::SessionPolicy;
use crate::identity::throttle::ThrottlePolicy;
use crate::scan::requests::ScanRequests;
use crate::scheduler::{self, Periodic};
use crate::telemetry;
use crate::web::{self, AppState};

pub fn run(path: Option<&Path>) -> Result<(), CliError> {
    telemetry::init();
    let (config, db, vault) = super::open(path)?;
    let listener = TcpListener::bind(config.listen)
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", config.listen)))?;
    if !config.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %config.listen,
            "serving plain HTTP on a non-loopback address: anyone on the network can read sessions"
        );
    }
    let signer = checkpoint::load_signer(&config.audit_signing_key_file)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let (scan_requests, scan_receiver) = ScanRequests::channel();
    let state = AppState::new(config, db, vault)
        .map_err(|e| CliError::Failed(e.to_string()))?
        .with_scan_requests(scan_requests.clone());
    let config = &state.config;
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
    };
    let periodic = std::sync::Arc::new(periodic);
    actix_web::rt::System::new().block_on(async move {
        let _scheduler = scheduler::start(periodic.clone(), (scan_requests, scan_receiver))
            .await
            .map_err(|e| CliError::Failed(format!("cannot start the scheduler: {e}")))?;
        let (server, addr) = web::bind(state, listener, None)
            .map_err(|e| CliError::Failed(format!("cannot start the web server: {e}")))?;
        tracing::info!(%addr, "listening on http://{addr}");
        let served = server.await;
        // The last minute's API counts would be lost with the process.
        periodic.flush_api_counts().await;
        served.map_err(|e| CliError::Failed(format!("web server stopped: {e}")))
    })
}
