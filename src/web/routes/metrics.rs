//! `GET /metrics`: the Prometheus scrape. A process on this server scrapes without
//! credentials; anyone else sends an API key with `metrics.view` (see
//! `metrics::access`). Credentials that are sent are always checked, from anywhere.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::identity::Capability;
use crate::metrics::{self, access, scrape};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::guard;

/// Headers a reverse proxy adds when it relays someone else's request.
const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

pub async fn scrape(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let presented = req.headers().contains_key(header::AUTHORIZATION);
    let relayed = FORWARDING_HEADERS
        .iter()
        .any(|name| req.headers().contains_key(*name));
    let peer = req.peer_addr().map(|a| a.ip());
    if presented || !access::loopback_exempt(peer, relayed) {
        let caller = guard::resolve_api_key(&req, &state).await?;
        guard::require(&req, &state, &caller, Capability::MetricsView).await?;
    }
    let snapshot = state
        .db
        .run(|conn| scrape::snapshot(conn, time::OffsetDateTime::now_utc()).map_err(AppError::from))
        .await?;
    let body = state
        .metrics
        .render(&snapshot)
        .map_err(|e| AppError::Internal(format!("metrics encoding: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .body(body))
}
