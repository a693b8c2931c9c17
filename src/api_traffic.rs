//! API responses counted by status class: in memory per minute on the request path
//! (a counter bump, never a database write), flushed to `api_responses` in aggregate
//! once a minute and when the server stops. The running totals are monotonic
//! counters, which is exactly what a metrics endpoint exposes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use diesel::prelude::*;
use diesel::upsert::excluded;
use time::OffsetDateTime;

use crate::db::schema::api_responses;

/// How long the per-minute counts are kept: the error-burst check reads eight days.
pub const RETENTION: time::Duration = time::Duration::days(30);

/// What kind of answer a response was. 401 and 403 stand apart from the other 4xx:
/// a burst of them means someone trying keys, or a key reaching past its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusClass {
    Success,
    Unauthorized,
    Forbidden,
    ClientError,
    ServerError,
    /// 1xx and 3xx, which the API does not answer with.
    Other,
}

impl StatusClass {
    pub const ALL: [StatusClass; 6] = [
        StatusClass::Success,
        StatusClass::Unauthorized,
        StatusClass::Forbidden,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::Other,
    ];

    pub fn of(status: u16) -> Self {
        match status {
            200..=299 => StatusClass::Success,
            401 => StatusClass::Unauthorized,
            403 => StatusClass::Forbidden,
            400..=499 => StatusClass::ClientError,
            500..=599 => StatusClass::ServerError,
            _ => StatusClass::Other,
        }
    }

    /// As stored, and as a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::Unauthorized => "401",
            StatusClass::Forbidden => "403",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The counters of one server process, shared by every worker.
#[derive(Debug, Default)]
pub struct ApiTraffic {
    totals: [AtomicU64; StatusClass::ALL.len()],
    /// Counts not yet flushed, by minute (Unix seconds / 60) and class.
    pending: Mutex<BTreeMap<(i64, StatusClass), i64>>,
}

impl ApiTraffic {
    /// Counts one response with `status`, answered at `at`.
    pub fn count(&self, status: u16, at: OffsetDateTime) {
        let class = StatusClass::of(status);
        self.totals[class.index()].fetch_add(1, Ordering::Relaxed);
        *self
            .pending()
            .entry((at.unix_timestamp().div_euclid(60), class))
            .or_default() += 1;
    }

    /// Every response counted since the process started, per class.
    pub fn totals(&self) -> [(StatusClass, u64); StatusClass::ALL.len()] {
        StatusClass::ALL.map(|class| (class, self.totals[class.index()].load(Ordering::Relaxed)))
    }

    /// Adds the pending counts to `api_responses` (a minute flushed twice adds up) and
    /// returns how many minute-and-class rows it wrote. On failure the counts stay
    /// pending for the next flush.
    pub fn flush(&self, conn: &mut PgConnection) -> QueryResult<usize> {
        let batch = std::mem::take(&mut *self.pending());
        if batch.is_empty() {
            return Ok(0);
        }
        let rows: Vec<_> = batch
            .iter()
            .map(|(&(minute, class), &responses)| {
                (
                    api_responses::minute.eq(minute_start(minute)),
                    api_responses::class.eq(class.as_str()),
                    api_responses::responses.eq(responses),
                )
            })
            .collect();
        let written = diesel::insert_into(api_responses::table)
            .values(&rows)
            .on_conflict((api_responses::minute, api_responses::class))
            .do_update()
            .set(
                api_responses::responses
                    .eq(api_responses::responses + excluded(api_responses::responses)),
            )
            .execute(conn);
        if written.is_err() {
            let mut pending = self.pending();
            for (key, n) in batch {
                *pending.entry(key).or_default() += n;
            }
        }
        written
    }

    fn pending(&self) -> MutexGuard<'_, BTreeMap<(i64, StatusClass), i64>> {
        // A panic elsewhere while holding the lock leaves plain counts, still usable.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn minute_start(minute: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(minute * 60).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The counts of the minutes in `since..=until`, oldest first.
pub fn per_minute(
    conn: &mut PgConnection,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> QueryResult<Vec<(OffsetDateTime, StatusClass, i64)>> {
    let rows: Vec<(OffsetDateTime, String, i64)> = api_responses::table
        .filter(api_responses::minute.ge(since))
        .filter(api_responses::minute.le(until))
        .order(api_responses::minute.asc())
        .select((
            api_responses::minute,
            api_responses::class,
            api_responses::responses,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(minute, class, n)| Some((minute, StatusClass::parse(&class)?, n)))
        .collect())
}

/// Drops the counts of minutes before `before`; returns how many rows went.
pub fn purge(conn: &mut PgConnection, before: OffsetDateTime) -> QueryResult<usize> {
    diesel::delete(api_responses::table.filter(api_responses::minute.lt(before))).execute(conn)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn statuses_fall_into_their_classes() {
        let classes: Vec<&str> = [200, 204, 301, 400, 401, 403, 404, 429, 500, 503]
            .map(|s| StatusClass::of(s).as_str())
            .to_vec();
        assert_eq!(
            classes,
            [
                "2xx", "2xx", "other", "4xx", "401", "403", "4xx", "4xx", "5xx", "5xx"
            ]
        );
        for class in StatusClass::ALL {
            assert_eq!(StatusClass::parse(class.as_str()), Some(class));
        }
    }

    #[test]
    fn responses_are_counted_per_minute_and_in_running_totals() {
        let traffic = ApiTraffic::default();
        let at = datetime!(2026-12-06 10:15:59 UTC);
        traffic.count(200, at);
        traffic.count(200, at + time::Duration::seconds(1));
        traffic.count(503, at);
        let pending: Vec<_> = traffic
            .pending()
            .iter()
            .map(|(&(m, c), &n)| (minute_start(m), c.as_str(), n))
            .collect();
        assert_eq!(
            pending,
            [
                (datetime!(2026-12-06 10:15 UTC), "2xx", 1),
                (datetime!(2026-12-06 10:15 UTC), "5xx", 1),
                (datetime!(2026-12-06 10:16 UTC), "2xx", 1),
            ]
        );
        let totals = traffic.totals();
        assert_eq!(totals[0], (StatusClass::Success, 2));
        assert_eq!(totals[4], (StatusClass::ServerError, 1));
    }
}
