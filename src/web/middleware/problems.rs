//! Makes every error response a problem document: handler errors, actix's own errors
//! (404, 405, bad bodies), oversized bodies, and panics (as 500). Whatever the original
//! body said is dropped, so nothing internal leaks.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse};
use futures_util::FutureExt;

use super::RequestId;
use crate::web::error::{AppError, Problem};

/// The largest request body accepted anywhere.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let http = req.request().clone();
    if declared_length(&req).is_some_and(|len| len > MAX_BODY_BYTES) {
        let error = AppError::PayloadTooLarge { limit: MAX_BODY_BYTES };
        return Ok(ServiceResponse::new(http.clone(), render(&http, &error.problem())));
    }
    let outcome = AssertUnwindSafe(async move { next.call(req).await })
        .catch_unwind()
        .await;
    let response = match outcome {
        Ok(Ok(response)) => response.map_into_boxed_body(),
        Ok(Err(error)) => ServiceResponse::new(http.clone(), error.error_response()),
        Err(panic) => {
            tracing::error!(panic = panic_message(&panic), "handler panicked");
            let problem = AppError::Internal("panic".into()).problem();
            return Ok(ServiceResponse::new(http.clone(), render(&http, &problem)));
        }
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let problem = match response.response().error() {
        Some(error) => match error.as_error::<AppError>() {
            Some(app) => {
                if let AppError::Internal(cause) = app {
                    tracing::error!(cause = %cause, "internal error");
                }
                app.problem()
            }
            None => {
                if status.is_server_error() {
                    tracing::error!(cause = %error, "internal error");
                }
                Problem::for_status(status)
            }
        },
        None => Problem::for_status(status),
    };
    let mut rendered = render(&http, &problem);
    // A 405 keeps the Allow header that says which methods would work.
    if let Some(allow) = response.headers().get(header::ALLOW) {
        rendered.headers_mut().insert(header::ALLOW, allow.clone());
    }
    Ok(ServiceResponse::new(http, rendered))
}

fn render(req: &HttpRequest, problem: &Problem) -> HttpResponse {
    problem.clone().render(&RequestId::of(req))
}

fn declared_length(req: &ServiceRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
