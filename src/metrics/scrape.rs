//! The gauges read from the database when `/metrics` is scraped: they describe
//! state other processes change too (`outpost backup run` from a timer, a scan), so
//! a number kept in this process's memory would go stale.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::backup::status;
use crate::scan::findings;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Since the newest complete backup still on its target finished; none before
    /// the first.
    pub backup_age: Option<Duration>,
    /// Every severity, zero included, so a fixed finding's series drops to 0.
    pub open_findings: BTreeMap<&'static str, i64>,
}

/// Reads the scrape-time state as of `now`.
pub fn snapshot(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<Snapshot> {
    let backup_age = status::last_complete_at(conn)?
        // A clock stepped back makes a "future" backup: its age is zero, not negative.
        .map(|at| Duration::try_from(now - at).unwrap_or(Duration::ZERO));
    Ok(Snapshot {
        backup_age,
        open_findings: findings::open_by_severity(conn)?,
    })
}
