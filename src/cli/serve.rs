//! `outpost serve`

use std::net::TcpListener;
use std::path::Path;

use super::CliError;
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
    let state = AppState::new(config, db, vault).map_err(|e| CliError::Failed(e.to_string()))?;
    actix_web::rt::System::new().block_on(async move {
        let (server, addr) = web::bind(state, listener, None)
            .map_err(|e| CliError::Failed(format!("cannot start the web server: {e}")))?;
        tracing::info!(%addr, "listening on http://{addr}");
        server
            .await
            .map_err(|e| CliError::Failed(format!("web server stopped: {e}")))
    })
}
