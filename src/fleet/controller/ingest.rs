//! Taking in one signed report: the satellite named by `fleet-satellite` must exist,
//! its secret must have signed the raw body with a timestamp inside the window, and
//! the `webhook-id` must not have been seen; then the report is stored and the
//! satellite counts as heard from.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::satellites;
use crate::db::schema::{fleet_heartbeats, fleet_report_ids, fleet_satellites};
use crate::fleet::protocol::Report;
use crate::vault::{Vault, VaultError};

/// The parts of a report request that matter, as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedReport<'a> {
    pub satellite: &'a str,
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
    pub body: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Unknown satellite, or a missing, wrong, stale or future signature. Which one
    /// is for the log: the sender learns only that it was refused.
    #[error("report refused: {0}")]
    Unauthenticated(String),
    #[error("report malformed: {0}")]
    Malformed(String),
    #[error("report {0} was already received")]
    Replayed(Uuid),
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

/// Checks and stores `signed` at `now`.
pub fn ingest(
    conn: &mut PgConnection,
    vault: &Vault,
    signed: SignedReport<'_>,
    now: OffsetDateTime,
) -> Result<Uuid, IngestError> {
    let refused = |why: &str| IngestError::Unauthenticated(why.to_owned());
    let satellite = Uuid::parse_str(signed.satellite).map_err(|_| refused("unknown satellite"))?;
    let timestamp = signed
        .timestamp
        .trim()
        .parse::<i64>()
        .map_err(|_| refused("no timestamp"))?;
    let secret =
        satellites::secret(conn, vault, satellite)?.ok_or_else(|| refused("unknown satellite"))?;
    secret
        .verify(
            signed.id,
            timestamp,
            signed.signature,
            signed.body,
            now.unix_timestamp(),
        )
        .map_err(|e| IngestError::Unauthenticated(e.to_string()))?;
    let report: Report = serde_json::from_slice(signed.body)
        .map_err(|e| IngestError::Malformed(format!("not a report: {e}")))?;
    if report.id.to_string() != signed.id.trim() {
        return Err(IngestError::Malformed(
            "webhook-id differs from the report's id".into(),
        ));
    }
    store(conn, satellite, &report, now)?;
    Ok(report.id)
}

/// Records the id (refusing a replay), the report and the satellite's new last word,
/// in one transaction.
fn store(
    conn: &mut PgConnection,
    satellite: Uuid,
    report: &Report,
    now: OffsetDateTime,
) -> Result<(), IngestError> {
    let memory_percent = if report.host.memory_total_bytes == 0 {
        0.0
    } else {
        100.0 * report.host.memory_used_bytes as f64 / report.host.memory_total_bytes as f64
    };
    let worst_disk = report
        .host
        .disks
        .iter()
        .map(|d| d.used_percent())
        .fold(0.0, f64::max);
    let json = serde_json::to_value(report)
        .map_err(|e| IngestError::Malformed(format!("cannot store the report: {e}")))?;
    conn.transaction(|conn| {
        let fresh = diesel::insert_into(fleet_report_ids::table)
            .values((
                fleet_report_ids::report_id.eq(report.id),
                fleet_report_ids::satellite_id.eq(satellite),
                fleet_report_ids::received_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if fresh == 0 {
            return Err(IngestError::Replayed(report.id));
        }
        diesel::insert_into(fleet_heartbeats::table)
            .values((
                fleet_heartbeats::satellite_id.eq(satellite),
                fleet_heartbeats::report_id.eq(report.id),
                fleet_heartbeats::taken_at.eq(report.taken_at),
                fleet_heartbeats::received_at.eq(now),
                fleet_heartbeats::cpu_percent.eq(report.host.cpu_percent),
                fleet_heartbeats::memory_percent.eq(memory_percent as f32),
                fleet_heartbeats::worst_disk_percent.eq(worst_disk as f32),
                fleet_heartbeats::report.eq(json),
            ))
            .execute(conn)?;
        diesel::update(fleet_satellites::table.find(satellite))
            .set((
                fleet_satellites::last_report_at.eq(now),
                fleet_satellites::version.eq(&report.version),
            ))
            .execute(conn)?;
        Ok(())
    })
}
