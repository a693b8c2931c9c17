//! Makes every error response a problem document: handler errors, actix's own errors
//! (404, 405, bad bodies), oversized bodies, and panics (as 500). Whatever the original
//! body said is dropped, so nothing internal leaks.

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use futures_util::FutureExt;

use super::{RequestId, request_id, security_headers};
use crate::web::error::{AppError, Problem};

/// Headers of the original error response that the problem document keeps: they
/// tell the client how to recover (which methods, which credentials, when to retry).
const KEPT_HEADERS: [header::HeaderName; 4] = [
    header::ALLOW,
    header::WWW_AUTHENTICATE,
    header::RETRY_AFTER,
    header::SET_COOKIE,
];

/// The largest request body accepted anywhere.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    if declared_length(&req).is_some_and(|len| len > MAX_BODY_BYTES) {
        let problem = AppError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }
        .problem();
        return Ok(req.into_response(problem.render(&request_id)));
    }
    // The router needs sole ownership of the request, so no copy of it is kept across
    // this call; a panic is answered through an error that renders itself completely.
    let outcome = AssertUnwindSafe(next.call(req)).catch_unwind().await;
    let response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            let problem = problem_for(error.as_response_error().status_code(), Some(&error));
            return Err(Rendered {
                problem,
                request_id,
            }
            .into());
        }
        Err(panic) => {
            tracing::error!(panic = panic_message(&panic), "handler panicked");
            let problem = AppError::Internal("panic".into()).problem();
            return Err(Rendered {
                problem,
                request_id,
            }
            .into());
        }
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response.map_into_boxed_body());
    }
    let problem = problem_for(status, response.response().error());
    let kept: Vec<_> = KEPT_HEADERS
        .iter()
        .flat_map(|name| {
            response
                .headers()
                .get_all(name)
                .map(|value| (name.clone(), value.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let (req, _) = response.into_parts();
    let mut rendered = problem.render(&request_id);
    for (name, value) in kept {
        let value = if name == header::ALLOW {
            dedup_methods(&value).unwrap_or(value)
        } else {
            value
        };
        rendered.headers_mut().append(name, value);
    }
    Ok(ServiceResponse::new(req, rendered))
}

/// The problem for an error response: our own errors say what went wrong; anything
/// else is described only by its status.
fn problem_for(status: StatusCode, error: Option<&Error>) -> Problem {
    let app = error.and_then(|e| e.as_error::<AppError>());
    match (app, error) {
        (Some(app), _) => {
            if let AppError::Internal(cause) = app {
                tracing::error!(cause = %cause, "internal error");
            }
            app.problem()
        }
        (None, Some(other)) if status.is_server_error() => {
            tracing::error!(cause = %other, "internal error");
            Problem::for_status(status)
        }
        _ => Problem::for_status(status),
    }
}

/// A finished problem response that travels up the chain as an error, for the cases
/// where no request is left to attach a response to.
#[derive(Debug)]
struct Rendered {
    problem: Problem,
    request_id: String,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.problem.status, self.problem.title)
    }
}

impl ResponseError for Rendered {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = self.problem.clone().render(&self.request_id);
        security_headers::apply(&mut response);
        if let Ok(id) = HeaderValue::from_str(&self.request_id) {
            response.headers_mut().insert(request_id::HEADER, id);
        }
        response
    }
}

/// actix lists a method once per route; several POST routes (JSON and form) would
/// otherwise read `Allow: GET, POST, POST`.
fn dedup_methods(allow: &HeaderValue) -> Option<HeaderValue> {
    let mut methods: Vec<&str> = Vec::new();
    for method in allow.to_str().ok()?.split(',').map(str::trim) {
        if !method.is_empty() && !methods.contains(&method) {
            methods.push(method);
        }
    }
    HeaderValue::from_str(&methods.join(", ")).ok()
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
