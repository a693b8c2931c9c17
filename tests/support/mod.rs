//! Test support shared by the integration tests and the benchmarks.
#![allow(dead_code)]

pub mod app;
pub mod backup;
pub mod browser;
pub mod canary;
pub mod chromium;
pub mod daemon;
pub mod dns;
pub mod fleet;
pub mod host_root;
pub mod logs;
pub mod netns;
pub mod page_audit;
pub mod pg;
pub mod receiver;
pub mod s3;
pub mod scan;
pub mod smtp;
pub mod stored;
pub mod tls;
pub mod tools;
pub mod totp_device;
