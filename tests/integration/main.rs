//! Black-box tests: the real app on 127.0.0.1:0, each test against its own database
//! in a real PostgreSQL (see tests/support/pg.rs).

#[path = "../support/mod.rs"]
mod support;

mod api_keys;
mod cli;
mod http_surface;
mod readiness;
mod sessions;
mod setup_links;
mod sign_in;
mod throttle;
