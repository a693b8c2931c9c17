//! The security loop's own failed sign-ins: it proves the back-off works by failing to
//! sign in as an account nobody has, often enough to be slowed down.
//!
//! Each probe is announced in the audit log (`scan.sign_in_probe`, by the system)
//! before its first attempt. Only the system writes that entry, so a name that merely
//! looks like a probe's earns nothing. An announced probe's failures count against the
//! back-off like anyone's (that is what it measures), but they are not logged as
//! authentication failures, which fail2ban would answer by banning the server's own
//! address, and the sign-in behaviour check does not count them as an attack.

use std::collections::HashSet;

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;

use super::throttle::{self, Subject};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::audit_events;

const PREFIX: &str = "scan-probe-";
const ANNOUNCED: &str = "scan.sign_in_probe";
/// A probe is recognised this long after its announcement: well past its last attempt,
/// and past the hour over which failed sign-ins are judged.
const RECOGNISED_FOR: time::Duration = time::Duration::hours(2);

/// A fresh account name for one probe, under a reserved top-level domain.
pub fn new_email() -> String {
    format!("{PREFIX}{}@scan.invalid", uuid::Uuid::new_v4().simple())
}

/// The audit target of a sign-in as `email`, as failed sign-ins record it.
pub fn target(email: &str) -> String {
    format!("email:{email}")
}

/// Records that the system is about to fail to sign in as `email`, `attempts` times at most.
pub fn announce(conn: &mut PgConnection, email: &str, attempts: u32) -> QueryResult<()> {
    audit::record(
        conn,
        &Event::new(Actor::System, ANNOUNCED, Outcome::Success)
            .target(target(email))
            .details(json!({ "attempts": attempts })),
    )
    .map(drop)
}

/// Whether a sign-in as `email` is an announced probe's.
pub fn is_announced(
    conn: &mut PgConnection,
    email: &str,
    now: OffsetDateTime,
) -> QueryResult<bool> {
    if !email.starts_with(PREFIX) {
        return Ok(false);
    }
    diesel::select(diesel::dsl::exists(
        announced(now).filter(audit_events::target.eq(target(email))),
    ))
    .get_result(conn)
}

/// The audit targets of every probe still recognised at `now`.
pub fn recent_targets(
    conn: &mut PgConnection,
    now: OffsetDateTime,
) -> QueryResult<HashSet<String>> {
    let targets: Vec<Option<String>> = announced(now).select(audit_events::target).load(conn)?;
    Ok(targets.into_iter().flatten().collect())
}

fn announced(now: OffsetDateTime) -> audit_events::BoxedQuery<'static, diesel::pg::Pg> {
    audit_events::table
        .filter(audit_events::action.eq(ANNOUNCED))
        .filter(audit_events::occurred_at.gt(now - RECOGNISED_FOR))
        .into_boxed()
}

/// Forgets the back-off the probe's `failures` earned: its account's, and its address's
/// unless someone else has failed from there too (theirs must keep counting).
pub fn clean_up(conn: &mut PgConnection, email: &str, failures: u32) -> QueryResult<()> {
    let addresses: Vec<Option<String>> = audit_events::table
        .filter(audit_events::action.eq("session.sign_in"))
        .filter(audit_events::target.eq(target(email)))
        .select(audit_events::source_ip)
        .distinct()
        .load(conn)?;
    throttle::forget_if_only(conn, Subject::Account(email), failures)?;
    for address in addresses.iter().flatten() {
        throttle::forget_if_only(conn, Subject::Address(address), failures)?;
    }
    Ok(())
}
