//! What the operators' dashboard draws: each satellite's hourly CPU, memory and
//! fullest disk, and the fleet's security over time, from stored reports.
//!
//! Hours already rolled up come from `fleet_heartbeat_rollups`; the rest (the hour in
//! progress, or hours the roll-up has not reached) are averaged from raw heartbeats,
//! bucketed the same way (by hour received), so the two never disagree on an hour.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Float4, Jsonb, Nullable, Timestamptz, Uuid as SqlUuid};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::fleet::protocol::SecurityHealth;

/// One satellite's averages over one hour.
#[derive(Debug, Clone, QueryableByName)]
pub struct HourlyLoad {
    #[diesel(sql_type = SqlUuid)]
    pub satellite_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    pub hour: OffsetDateTime,
    #[diesel(sql_type = Float4)]
    pub cpu: f32,
    #[diesel(sql_type = Float4)]
    pub memory: f32,
    #[diesel(sql_type = Float4)]
    pub disk: f32,
}

/// The start of the hour holding `t`, in UTC.
pub fn hour_of(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_time(time::Time::from_hms(t.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT))
}

/// The `hours` hour starts ending with `now`'s, oldest first.
pub fn window(now: OffsetDateTime, hours: u32) -> Vec<OffsetDateTime> {
    let last = hour_of(now);
    (0..i64::from(hours))
        .rev()
        .map(|back| last - Duration::hours(back))
        .collect()
}

/// Hourly averages of `satellites` (all of them when none) since `since`, per
/// satellite oldest first.
pub fn hourly_load(
    conn: &mut PgConnection,
    satellite: Option<Uuid>,
    since: OffsetDateTime,
) -> QueryResult<Vec<HourlyLoad>> {
    diesel::sql_query(
        "SELECT satellite_id, hour, cpu, memory, disk FROM ( \
           SELECT satellite_id, hour, cpu_avg AS cpu, memory_avg AS memory, disk_avg AS disk \
             FROM fleet_heartbeat_rollups WHERE hour >= $1 \
           UNION ALL \
           SELECT h.satellite_id, date_trunc('hour', h.received_at, 'UTC'), \
                  avg(h.cpu_percent)::real, avg(h.memory_percent)::real, \
                  avg(h.worst_disk_percent)::real \
             FROM fleet_heartbeats h \
            WHERE h.received_at >= $1 AND NOT EXISTS ( \
                  SELECT 1 FROM fleet_heartbeat_rollups r \
                   WHERE r.satellite_id = h.satellite_id \
                     AND r.hour = date_trunc('hour', h.received_at, 'UTC')) \
            GROUP BY 1, 2 \
         ) load WHERE $2::uuid IS NULL OR satellite_id = $2 \
         ORDER BY satellite_id, hour",
    )
    .bind::<Timestamptz, _>(since)
    .bind::<Nullable<SqlUuid>, _>(satellite)
    .load(conn)
}

/// The fleet's security in one hour: the newest report of each satellite that
/// reported in it, added up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityPoint {
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    /// How many satellites reported in the hour.
    pub satellites: usize,
    /// Open findings by severity, summed over those satellites.
    pub open_findings: BTreeMap<String, i64>,
    /// The mean of the satellites' own mean times to resolution (those that have one).
    pub mean_mttr_secs: Option<f64>,
    /// The mean of the satellites' auto-fix rates (those that have one), 0–1.
    pub auto_fix_rate: Option<f64>,
}

#[derive(QueryableByName)]
struct HourlySecurity {
    #[diesel(sql_type = Timestamptz)]
    hour: OffsetDateTime,
    #[diesel(sql_type = Nullable<Jsonb>)]
    security: Option<serde_json::Value>,
}

/// The fleet's security per hour since `since`, oldest first; hours nobody reported
/// in are left out.
pub fn security_trend(
    conn: &mut PgConnection,
    since: OffsetDateTime,
) -> QueryResult<Vec<SecurityPoint>> {
    let rows: Vec<HourlySecurity> = diesel::sql_query(
        "SELECT DISTINCT ON (satellite_id, date_trunc('hour', received_at, 'UTC')) \
                date_trunc('hour', received_at, 'UTC') AS hour, report->'security' AS security \
           FROM fleet_heartbeats WHERE received_at >= $1 \
          ORDER BY satellite_id, date_trunc('hour', received_at, 'UTC'), received_at DESC",
    )
    .bind::<Timestamptz, _>(since)
    .load(conn)?;
    let mut by_hour: BTreeMap<OffsetDateTime, Vec<SecurityHealth>> = BTreeMap::new();
    for row in rows {
        // A report of another version whose security part no longer parses is skipped.
        let parsed = row.security.and_then(|s| serde_json::from_value(s).ok());
        if let Some(security) = parsed {
            by_hour.entry(row.hour).or_default().push(security);
        }
    }
    Ok(by_hour
        .into_iter()
        .map(|(hour, reports)| summarise(hour, &reports))
        .collect())
}

/// Adds up one hour's worth of satellites' security figures.
pub fn summarise(hour: OffsetDateTime, reports: &[SecurityHealth]) -> SecurityPoint {
    let mut open_findings = BTreeMap::new();
    for report in reports {
        for (severity, n) in &report.open_findings {
            *open_findings.entry(severity.clone()).or_insert(0) += n;
        }
    }
    SecurityPoint {
        hour,
        satellites: reports.len(),
        open_findings,
        mean_mttr_secs: mean(reports.iter().filter_map(|r| r.mttr_secs.map(|s| s as f64))),
        auto_fix_rate: mean(reports.iter().filter_map(|r| r.auto_fix_rate)),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(findings: &[(&str, i64)], mttr: Option<u64>, rate: Option<f64>) -> SecurityHealth {
        SecurityHealth {
            open_findings: findings.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
            hardening_drift: 0,
            mttr_secs: mttr,
            auto_fix_rate: rate,
        }
    }

    #[test]
    fn an_hour_adds_findings_and_averages_only_known_figures() {
        let hour = hour_of(OffsetDateTime::now_utc());
        let point = summarise(
            hour,
            &[
                security(&[("high", 2), ("low", 1)], Some(3600), Some(0.5)),
                security(&[("high", 1)], None, Some(1.0)),
            ],
        );
        assert_eq!(point.satellites, 2);
        assert_eq!(point.open_findings["high"], 3);
        assert_eq!(point.open_findings["low"], 1);
        assert_eq!(point.mean_mttr_secs, Some(3600.0));
        assert_eq!(point.auto_fix_rate, Some(0.75));
    }

    #[test]
    fn the_window_ends_with_the_current_hour() {
        let now = time::macros::datetime!(2026-03-01 10:42:17 UTC);
        let hours = window(now, 24);
        assert_eq!(hours.len(), 24);
        assert_eq!(hours[23], time::macros::datetime!(2026-03-01 10:00 UTC));
        assert_eq!(hours[0], time::macros::datetime!(2026-02-28 11:00 UTC));
    }
}
