//! Counts every response and times it for `/metrics`, labelled by the route pattern
//! that matched (see `crate::metrics`).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::web::AppState;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let method = req.method().clone();
    // Asked of the app's resource map before routing (the router needs the request
    // to itself, and errors come back without it).
    let route = req.match_pattern();
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        metrics.observe_request(
            method.as_str(),
            route.as_deref(),
            status.as_u16(),
            started.elapsed(),
        );
    }
    result
}
