//! Middleware every route passes through, outermost first:
//! request id → security headers → request metrics → API response counts → problem
//! rendering (errors, panics, body limit).

pub mod api_traffic;
pub mod metrics;
pub mod problems;
pub mod request_id;
pub mod security_headers;

pub use request_id::RequestId;
