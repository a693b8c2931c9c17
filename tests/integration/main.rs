//! Black-box tests: the real app on 127.0.0.1:0, each test against its own database
//! in a real PostgreSQL (see tests/support/pg.rs).

#[path = "../support/mod.rs"]
mod support;

mod account;
mod api;
mod api_keys;
mod audit_crash;
mod audit_log;
mod audit_writer;
mod backup_failures;
mod backup_recipient;
mod backup_runs;
mod backup_stream;
mod backup_target;
mod backup_web;
mod cancellation;
mod cli;
mod credentials;
mod email;
mod export;
mod export_dashboard;
mod harden;
mod host_fail2ban;
mod host_sshd;
mod host_ufw;
mod host_users;
mod http_surface;
mod hygiene;
mod leaks;
mod mfa;
mod readiness;
mod roles;
mod scan_behaviour;
mod scan_http;
mod scan_lifecycle;
mod scan_patches;
mod scan_tls;
mod scripts;
mod security_page;
mod sessions;
mod setup_links;
mod sign_in;
mod team;
mod throttle;
mod tls;
mod totp;
mod units;
mod vault;
