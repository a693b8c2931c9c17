//! What a satellite and the fleet controller say to each other, over HTTPS.
//!
//! - Enrolment: `POST /fleet/v1/enroll` with [`EnrollRequest`] (the one-time token the
//!   operator created on the controller); the answer is [`EnrollResponse`]: the
//!   satellite's id and its own signing secret, shown this once.
//! - Health: `POST /fleet/v1/reports` with one [`Report`] as JSON, signed per Standard
//!   Webhooks (`notify::signature`) with the satellite's secret: `webhook-id` is the
//!   report's id (a replay is refused by it), `webhook-timestamp` the send time, and a
//!   `fleet-satellite` header names the satellite so the controller knows which
//!   secret to check with. 202 when accepted; problem+json otherwise (401 for a bad or
//!   stale signature, 409 for a replayed id).
//!
//! Every field a controller may not get from an older satellite is optional, so the
//! two can be upgraded one after the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub const ENROLL_PATH: &str = "/fleet/v1/enroll";
pub const REPORTS_PATH: &str = "/fleet/v1/reports";
/// Names the satellite whose secret signed a report.
pub const HEADER_SATELLITE: &str = "fleet-satellite";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub token: String,
    /// The satellite's name for itself (`server_name`).
    pub name: String,
    pub version: String,
    pub region: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub satellite_id: Uuid,
    /// `whsec_…`: kept in the satellite's vault, never shown again.
    pub secret: String,
    /// Seconds between reports the controller expects.
    pub interval_secs: u64,
}

impl std::fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollResponse")
            .field("satellite_id", &self.satellite_id)
            .field("secret", &"[redacted]")
            .field("interval_secs", &self.interval_secs)
            .finish()
    }
}

/// One health report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Unique per report: the `webhook-id`, so a replay is recognised.
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    pub version: String,
    pub region: Option<String>,
    pub host: HostHealth,
    pub app: AppHealth,
    pub security: SecurityHealth,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostHealth {
    /// Busy share of all cores since the previous sample, 0–100.
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub load_1m: f64,
    pub load_5m: f64,
    pub load_15m: f64,
    pub uptime_secs: u64,
    pub disks: Vec<DiskHealth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskHealth {
    pub mount: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

impl DiskHealth {
    /// Share used, 0–100.
    pub fn used_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        100.0 * (1.0 - self.available_bytes as f64 / self.total_bytes as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppHealth {
    pub web_ready: bool,
    pub database_reachable: bool,
    pub scheduler_alive: bool,
    /// TCP connect to port 22 succeeded and an `SSH-` banner came back.
    pub ssh_reachable: bool,
    pub ssh_banner: Option<String>,
    /// Hours since the newest complete backup; none if there never was one.
    pub last_backup_age_hours: Option<f64>,
    /// The newest restore drill passed; none if none ran.
    pub last_drill_ok: Option<bool>,
    /// Days until the served certificate expires; none without TLS.
    pub certificate_days_left: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityHealth {
    /// Open findings by severity (`info` … `critical`).
    pub open_findings: BTreeMap<String, i64>,
    pub hardening_drift: i64,
    /// Mean time to resolution over the last 30 days, in seconds.
    pub mttr_secs: Option<u64>,
    /// Share of resolved findings Outpost fixed itself, 0–1.
    pub auto_fix_rate: Option<f64>,
}
