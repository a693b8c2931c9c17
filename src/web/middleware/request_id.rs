//! Gives each request an id: the client's `X-Request-Id` when well-formed, else a new
//! UUID. The id is returned on every response and carried by every log line of the
//! request through a tracing span.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 64;

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id of a request that has passed this middleware.
    pub fn of(req: &HttpRequest) -> String {
        req.extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default()
    }
}

pub fn is_well_formed(candidate: &str) -> bool {
    !candidate.is_empty()
        && candidate.len() <= MAX_LEN
        && candidate
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_well_formed(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let method = req.method().clone();
    let started = Instant::now();

    let result = next.call(req).instrument(span.clone()).await;
    let log = |status: u16, route: &str| {
        span.in_scope(|| {
            tracing::info!(
                method = %method,
                route,
                status,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "request"
            );
        });
    };
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            // The error renders its own response, request id header included.
            log(error.as_response_error().status_code().as_u16(), "(failed)");
            return Err(error);
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    // The route pattern, not the path: paths can carry one-time tokens (setup links).
    let route = response.request().match_pattern();
    log(
        response.status().as_u16(),
        route.as_deref().unwrap_or("(unmatched)"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::is_well_formed;

    #[test]
    fn accepts_only_short_safe_ids() {
        assert!(is_well_formed("abc-DEF_123"));
        assert!(is_well_formed(&"a".repeat(64)));
        assert!(!is_well_formed(&"a".repeat(65)));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("a b"));
        assert!(!is_well_formed("<script>"));
    }
}
