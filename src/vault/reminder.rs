//! When the primary KEK should be rotated: when it is older than the configured
//! interval (90 days by default), or has wrapped half of the 2^32 data keys AES-GCM
//! allows under one key, which leaves ample room to rotate before the hard stop.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;

use super::keyring::Keyring;
use super::ledger::{self, WRAP_LIMIT};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::audit_events;

/// A reminder is repeated (audited, emailed) at most this often while rotation is due.
pub const REPEAT_EVERY: time::Duration = time::Duration::days(7);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Due {
    pub kek: u32,
    pub age_days: i64,
    pub wraps: i64,
    /// Why, in words: "it is 93 days old (rotation every 90 days)".
    pub reasons: Vec<String>,
}

/// Whether the primary KEK is due for rotation, and why.
pub fn due(
    conn: &mut PgConnection,
    ring: &Keyring,
    interval: Duration,
    now: OffsetDateTime,
) -> QueryResult<Option<Due>> {
    let primary = ring.primary();
    let wraps = ledger::records(conn)?
        .iter()
        .find(|r| i64::from(r.id) == i64::from(primary.id))
        .map_or(0, |r| r.wraps);
    let age = now - primary.created_at;
    let interval_days = i64::try_from(interval.as_secs() / 86_400).unwrap_or(i64::MAX);
    let mut reasons = Vec::new();
    if age >= time::Duration::try_from(interval).unwrap_or(time::Duration::MAX) {
        reasons.push(format!(
            "it is {} days old (rotation every {interval_days} days)",
            age.whole_days()
        ));
    }
    if wraps >= WRAP_LIMIT / 2 {
        reasons.push(format!(
            "it has wrapped {wraps} data keys, half the 2^32 AES-GCM allows under one key"
        ));
    }
    Ok((!reasons.is_empty()).then(|| Due {
        kek: primary.id,
        age_days: age.whole_days(),
        wraps,
        reasons,
    }))
}

/// Audits a due rotation unless it was already reminded of within [`REPEAT_EVERY`].
/// Returns the reminder when one was recorded now (the caller then tells the Owners).
pub fn remind(
    conn: &mut PgConnection,
    ring: &Keyring,
    interval: Duration,
    now: OffsetDateTime,
) -> QueryResult<Option<Due>> {
    let Some(due) = due(conn, ring, interval, now)? else {
        return Ok(None);
    };
    let last: Option<OffsetDateTime> = audit_events::table
        .filter(audit_events::action.eq("vault.rotation_due"))
        .filter(audit_events::target.eq(format!("kek:{}", due.kek)))
        .select(diesel::dsl::max(audit_events::occurred_at))
        .first(conn)?;
    if last.is_some_and(|t| now - t < REPEAT_EVERY) {
        return Ok(None);
    }
    audit::record(
        conn,
        &Event::new(Actor::System, "vault.rotation_due", Outcome::Success)
            .target(format!("kek:{}", due.kek))
            .details(json!({ "kek": due.kek, "age_days": due.age_days, "wraps": due.wraps, "reasons": due.reasons })),
    )?;
    Ok(Some(due))
}
