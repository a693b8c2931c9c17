//! Requests to re-apply a hardening control, from the unprivileged service (the
//! security loop's remedy for drift) to the root timer that runs
//! `outpost harden --apply-requested`.
//!
//! The queue is the whole interface between the two: the service can only name a
//! control, and root converges it to the baseline in root's own configuration, so a
//! compromised service cannot choose what gets written.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::schema::harden_requests;

/// A control that was re-applied this recently is not asked for again: a control that
/// drifts back at once needs a person, not a loop.
pub const COOL_DOWN: time::Duration = time::Duration::hours(6);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = harden_requests)]
pub struct Request {
    pub id: Uuid,
    pub control: String,
    pub requested_by: String,
    pub reason: String,
    pub requested_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub outcome: Option<String>,
    pub error: Option<String>,
}

/// What became of asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// A new request now waits for the root timer.
    Queued,
    /// One was already waiting.
    AlreadyWaiting,
    /// The control was re-applied within [`COOL_DOWN`]; nothing was queued.
    CoolingDown,
}

/// Asks root to re-apply `control`, unless a request already waits or it was applied
/// within [`COOL_DOWN`] of `now`.
pub fn ask(
    conn: &mut PgConnection,
    control: &str,
    requested_by: &str,
    reason: &str,
    now: OffsetDateTime,
) -> QueryResult<Asked> {
    let recent: Option<OffsetDateTime> = harden_requests::table
        .filter(harden_requests::control.eq(control))
        .filter(harden_requests::outcome.eq("applied"))
        .select(harden_requests::finished_at)
        .order(harden_requests::finished_at.desc().nulls_last())
        .first::<Option<OffsetDateTime>>(conn)
        .optional()?
        .flatten();
    if recent.is_some_and(|at| now - at < COOL_DOWN) {
        return Ok(Asked::CoolingDown);
    }
    let inserted = diesel::insert_into(harden_requests::table)
        .values((
            harden_requests::id.eq(Uuid::new_v4()),
            harden_requests::control.eq(control),
            harden_requests::requested_by.eq(requested_by),
            harden_requests::reason.eq(reason),
            harden_requests::requested_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(if inserted == 1 {
        Asked::Queued
    } else {
        Asked::AlreadyWaiting
    })
}

/// The requests waiting, oldest first.
pub fn waiting(conn: &mut PgConnection) -> QueryResult<Vec<Request>> {
    harden_requests::table
        .filter(harden_requests::finished_at.is_null())
        .order(harden_requests::requested_at.asc())
        .select(Request::as_select())
        .load(conn)
}

/// Records how request `id` ended: `applied`, `failed` (with the error) or
/// `unknown_control`.
pub fn finish(
    conn: &mut PgConnection,
    id: Uuid,
    outcome: &str,
    error: Option<&str>,
    now: OffsetDateTime,
) -> QueryResult<()> {
    diesel::update(harden_requests::table.find(id))
        .set((
            harden_requests::finished_at.eq(Some(now)),
            harden_requests::outcome.eq(Some(outcome)),
            harden_requests::error.eq(error),
        ))
        .execute(conn)
        .map(drop)
}
