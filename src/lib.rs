//! Outpost: a self-hosted security appliance in one binary. See DESIGN notes in the
//! README for how the modules fit together.

pub mod api_traffic;
pub mod audit;
pub mod backup;
pub mod backup_target;
pub mod cancellation;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod db;
pub mod diagnostics;
pub mod export;
pub mod fleet;
pub mod host;
pub mod identity;
pub mod keyfile;
pub mod leak_guard;
pub mod metrics;
pub mod notify;
pub mod scan;
pub mod scheduler;
pub mod secret;
pub mod secret_shapes;
pub mod settings;
pub mod telemetry;
pub mod tls;
pub mod vault;
pub mod web;
