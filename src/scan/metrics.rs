//! What the security page and its JSON show over time: open findings by severity after
//! each scan, mean time to resolution, how much Outpost fixed itself, scan durations.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use crate::db::schema::{finding_episodes, scans};

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Over resolved episodes (a reopened finding counts once per time it was open).
    #[serde(serialize_with = "seconds")]
    pub mean_time_to_resolution: Option<Duration>,
    pub resolved: i64,
    pub auto_fixed: i64,
    /// `auto_fixed / resolved`; none before anything was resolved.
    pub auto_fix_rate: Option<f64>,
    pub trend: Vec<Point>,
}

/// The state after one scan.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub open: BTreeMap<String, i64>,
    pub duration_ms: i64,
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

/// Metrics over episodes resolved since `since`, and the scans since then.
pub fn load(conn: &mut PgConnection, since: OffsetDateTime) -> QueryResult<Metrics> {
    let episodes: Vec<(OffsetDateTime, Option<OffsetDateTime>, bool)> = finding_episodes::table
        .filter(finding_episodes::resolved_at.ge(since))
        .select((
            finding_episodes::opened_at,
            finding_episodes::resolved_at,
            finding_episodes::auto_fixed,
        ))
        .load(conn)?;
    let spans: Vec<Duration> = episodes
        .iter()
        .filter_map(|(opened, resolved, _)| {
            let span = *resolved.as_ref()? - *opened;
            Duration::try_from(span).ok()
        })
        .collect();
    let resolved = spans.len() as i64;
    let auto_fixed = episodes.iter().filter(|(_, _, fixed)| *fixed).count() as i64;
    let mean_time_to_resolution = (resolved > 0)
        .then(|| spans.iter().sum::<Duration>() / u32::try_from(resolved).unwrap_or(u32::MAX));
    let rows: Vec<(OffsetDateTime, OffsetDateTime, serde_json::Value)> = scans::table
        .filter(scans::started_at.ge(since))
        .order(scans::started_at.asc())
        .select((
            scans::started_at,
            scans::finished_at,
            scans::open_by_severity,
        ))
        .load(conn)?;
    let trend = rows
        .into_iter()
        .map(|(started, finished, open)| Point {
            at: started,
            open: serde_json::from_value(open).unwrap_or_default(),
            duration_ms: (finished - started).whole_milliseconds() as i64,
        })
        .collect();
    Ok(Metrics {
        mean_time_to_resolution,
        resolved,
        auto_fixed,
        auto_fix_rate: (resolved > 0).then(|| auto_fixed as f64 / resolved as f64),
        trend,
    })
}
