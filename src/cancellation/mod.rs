//! The end of the service for this client. A cancellation is scheduled for a date;
//! at that date an export of everything is prepared and an export window opens for
//! [`WINDOW`]; when the window closes the client's data is destroyed, with an audit
//! entry saying what went. Until the window closes it can be revoked.
//!
//! Scheduling, status and revocation are here; the time-driven steps are in
//! [`lifecycle`] (the scheduler calls it with the current time, tests with theirs),
//! the destruction in [`destroy`].

pub mod destroy;
pub mod lifecycle;
pub mod remote;

use diesel::prelude::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::cancellations;
use crate::identity::ClientInfo;

/// How long the export stays downloadable before the data is destroyed.
pub const WINDOW: Duration = Duration::days(30);

pub const SCHEDULED: &str = "organisation.cancellation_scheduled";
pub const REVOKED: &str = "organisation.cancellation_revoked";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cancellations)]
pub struct Cancellation {
    pub id: Uuid,
    pub requested_at: OffsetDateTime,
    pub effective_at: OffsetDateTime,
    pub window_closes_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub export_id: Option<Uuid>,
    pub destroyed_at: Option<OffsetDateTime>,
}

/// Where a cancellation in force stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the date: nothing has happened yet.
    Scheduled,
    /// The export is (being) prepared and can be downloaded until the window closes.
    WindowOpen,
    /// The window has closed; the data is destroyed (or about to be, at the next check).
    Closed,
}

impl Cancellation {
    pub fn phase(&self, now: OffsetDateTime) -> Phase {
        if self.destroyed_at.is_some() || now >= self.window_closes_at {
            Phase::Closed
        } else if now >= self.effective_at {
            Phase::WindowOpen
        } else {
            Phase::Scheduled
        }
    }

    fn target(&self) -> String {
        format!("cancellation:{}", self.id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CancellationError {
    #[error("the date must be in the future (it is {0}); use --now to cancel at once")]
    InThePast(String),
    #[error("a cancellation is already scheduled for {0}; revoke it first")]
    AlreadyScheduled(String),
    #[error("the client's data was already destroyed on {0}")]
    AlreadyDestroyed(String),
    #[error("no cancellation is scheduled")]
    NothingScheduled,
    #[error("the export window closed on {0}: the cancellation can no longer be revoked")]
    TooLate(String),
    #[error("database query failed: {0}")]
    Db(#[from] diesel::result::Error),
}

/// `2026-12-06 00:00 UTC`, for messages.
pub fn day(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

/// The cancellation in force (not revoked), destroyed or not.
pub fn in_force(conn: &mut PgConnection) -> QueryResult<Option<Cancellation>> {
    cancellations::table
        .filter(cancellations::revoked_at.is_null())
        .select(Cancellation::as_select())
        .first(conn)
        .optional()
}

/// Schedules the cancellation for `at` (which must lie after `now`, unless `immediate`
/// says the caller asked for it to take effect at once, when `at` is `now`).
pub fn schedule(
    conn: &mut PgConnection,
    at: OffsetDateTime,
    immediate: bool,
    now: OffsetDateTime,
    actor: Actor,
    client: &ClientInfo,
) -> Result<Cancellation, CancellationError> {
    if !immediate && at <= now {
        return Err(CancellationError::InThePast(day(at)));
    }
    let at = if immediate { now } else { at };
    conn.transaction(|conn| {
        if let Some(existing) = in_force(conn)? {
            return Err(match existing.destroyed_at {
                Some(when) => CancellationError::AlreadyDestroyed(day(when)),
                None => CancellationError::AlreadyScheduled(day(existing.effective_at)),
            });
        }
        let created: Cancellation = diesel::insert_into(cancellations::table)
            .values((
                cancellations::id.eq(Uuid::new_v4()),
                cancellations::requested_at.eq(now),
                cancellations::effective_at.eq(at),
                cancellations::window_closes_at.eq(at + WINDOW),
            ))
            .returning(Cancellation::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            &Event::new(actor, SCHEDULED, Outcome::Success)
                .target(created.target())
                .client(client)
                .details(json!({
                    "effective_at": day(created.effective_at),
                    "window_closes_at": day(created.window_closes_at),
                })),
        )?;
        Ok(created)
    })
}

/// Revokes the cancellation in force, as long as its window has not closed. An export
/// already prepared stays until it expires: it is the client's to keep.
pub fn revoke(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    actor: Actor,
    client: &ClientInfo,
) -> Result<Cancellation, CancellationError> {
    conn.transaction(|conn| {
        let current: Cancellation = cancellations::table
            .filter(cancellations::revoked_at.is_null())
            .select(Cancellation::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(CancellationError::NothingScheduled)?;
        if current.phase(now) == Phase::Closed {
            return Err(CancellationError::TooLate(day(current.window_closes_at)));
        }
        let revoked: Cancellation = diesel::update(cancellations::table.find(current.id))
            .set(cancellations::revoked_at.eq(now))
            .returning(Cancellation::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            &Event::new(actor, REVOKED, Outcome::Success)
                .target(revoked.target())
                .client(client)
                .details(json!({
                    "effective_at": day(revoked.effective_at),
                    "was_in_window": current.phase(now) == Phase::WindowOpen,
                })),
        )?;
        Ok(revoked)
    })
}
