//! Keeping reports: raw heartbeats are rolled up per hour (average and peak), then
//! deleted after `raw_retention`; roll-ups go after `rollup_retention`; seen report ids
//! after the signature window has long closed. Run hourly.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Timestamptz;
use time::OffsetDateTime;

use crate::db::schema::{fleet_heartbeat_rollups, fleet_report_ids};
use crate::notify::signature::TOLERANCE;

/// A replayed id can arrive at most twice the tolerance after the first (signed at
/// the window's far edge); keep ids well past that.
const REPORT_IDS_KEPT: Duration = Duration::from_secs(4 * TOLERANCE as u64);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub heartbeats: usize,
    pub rollups: usize,
    pub report_ids: usize,
}

/// Rolls up every complete hour not yet rolled up, and prunes, as of `now`.
pub fn run(
    conn: &mut PgConnection,
    raw_retention: Duration,
    rollup_retention: Duration,
    now: OffsetDateTime,
) -> QueryResult<Pruned> {
    conn.transaction(|conn| {
        // From the newest hour already rolled up (re-rolled: it may have been partial), so
        // hours missed while the controller was down are caught up.
        diesel::sql_query(
            "INSERT INTO fleet_heartbeat_rollups \
               (satellite_id, hour, samples, cpu_avg, cpu_max, memory_avg, memory_max, disk_avg, disk_max) \
             SELECT satellite_id, date_trunc('hour', received_at), count(*), \
               avg(cpu_percent), max(cpu_percent), avg(memory_percent), max(memory_percent), \
               avg(worst_disk_percent), max(worst_disk_percent) \
             FROM fleet_heartbeats WHERE received_at < date_trunc('hour', $1) \
               AND received_at >= COALESCE((SELECT max(hour) FROM fleet_heartbeat_rollups), '-infinity') \
             GROUP BY 1, 2 \
             ON CONFLICT (satellite_id, hour) DO UPDATE SET samples = EXCLUDED.samples, \
               cpu_avg = EXCLUDED.cpu_avg, cpu_max = EXCLUDED.cpu_max, \
               memory_avg = EXCLUDED.memory_avg, memory_max = EXCLUDED.memory_max, \
               disk_avg = EXCLUDED.disk_avg, disk_max = EXCLUDED.disk_max",
        )
        .bind::<Timestamptz, _>(now)
        .execute(conn)?;
        let heartbeats = diesel::sql_query("DELETE FROM fleet_heartbeats WHERE received_at < $1")
            .bind::<Timestamptz, _>(now - raw_retention)
            .execute(conn)?;
        let rollups = diesel::delete(
            fleet_heartbeat_rollups::table
                .filter(fleet_heartbeat_rollups::hour.lt(now - rollup_retention)),
        )
        .execute(conn)?;
        let report_ids = diesel::delete(
            fleet_report_ids::table.filter(fleet_report_ids::received_at.lt(now - REPORT_IDS_KEPT)),
        )
        .execute(conn)?;
        Ok(Pruned {
            heartbeats,
            rollups,
            report_ids,
        })
    })
}
