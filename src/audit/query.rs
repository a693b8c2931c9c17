//! Reading the audit log: filtered pages of entries, the latest checkpoint, and the
//! recorded outcomes of verification passes.

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use super::entry::StoredEntry;
use super::log::{Report, StoredCheckpoint};
use crate::db::schema::{audit_checkpoints, audit_events, audit_verifications};

pub const PAGE: i64 = 50;

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Exact actor label (`user:<id>`, `cli`, `system`, `anonymous`).
    pub actor: Option<String>,
    /// An action or a prefix of one (`team.` matches every team action).
    pub action: Option<String>,
    pub request_id: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Entries older than this id (the next page).
    pub before: Option<i64>,
}

/// One page of entries, newest first.
pub fn search(conn: &mut PgConnection, filter: &Filter) -> QueryResult<Vec<StoredEntry>> {
    let mut query = audit_events::table.into_boxed();
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_events::actor.eq(actor));
    }
    if let Some(action) = &filter.action {
        let escaped = action
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query = query.filter(audit_events::action.like(format!("{escaped}%")));
    }
    if let Some(request_id) = &filter.request_id {
        query = query.filter(audit_events::request_id.eq(request_id));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::occurred_at.lt(until));
    }
    if let Some(before) = filter.before {
        query = query.filter(audit_events::id.lt(before));
    }
    query
        .order(audit_events::id.desc())
        .limit(PAGE)
        .select(StoredEntry::as_select())
        .load(conn)
}

/// What the audit page and `GET /api/v1/audit` show: a page of entries and the state
/// of the log's signatures and verification.
#[derive(Debug)]
pub struct Overview {
    pub entries: Vec<StoredEntry>,
    pub checkpoint: Option<StoredCheckpoint>,
    pub verification: Option<Verification>,
}

pub fn overview(conn: &mut PgConnection, filter: &Filter) -> QueryResult<Overview> {
    Ok(Overview {
        entries: search(conn, filter)?,
        checkpoint: latest_checkpoint(conn)?,
        verification: latest_verification(conn)?,
    })
}

pub fn latest_checkpoint(conn: &mut PgConnection) -> QueryResult<Option<StoredCheckpoint>> {
    audit_checkpoints::table
        .order(audit_checkpoints::id.desc())
        .first(conn)
        .optional()
}

#[derive(Debug, Clone, Queryable, Serialize)]
pub struct Verification {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub ran_at: OffsetDateTime,
    pub entries: i64,
    pub checkpoints: i64,
    pub pending: i64,
    pub clean: bool,
    pub problems: serde_json::Value,
}

pub fn record_verification(conn: &mut PgConnection, report: &Report) -> QueryResult<()> {
    diesel::insert_into(audit_verifications::table)
        .values((
            audit_verifications::entries.eq(report.entries as i64),
            audit_verifications::checkpoints.eq(report.checkpoints as i64),
            audit_verifications::pending.eq(report.pending as i64),
            audit_verifications::clean.eq(report.is_clean()),
            audit_verifications::problems
                .eq(serde_json::to_value(&report.problems).unwrap_or_default()),
        ))
        .execute(conn)
        .map(drop)
}

pub fn latest_verification(conn: &mut PgConnection) -> QueryResult<Option<Verification>> {
    audit_verifications::table
        .order(audit_verifications::id.desc())
        .first(conn)
        .optional()
}

/// A time as people type it: a UTC date (`2026-11-23`) or an RFC 3339 time.
pub fn parse_time(name: &str, text: &str) -> Result<Option<OffsetDateTime>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(Some(t));
    }
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map(|d| Some(d.midnight().assume_utc()))
    .map_err(|_| format!("`{name}` must be a date like 2026-11-23 or an RFC 3339 time"))
}
