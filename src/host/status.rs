//! The host's hardening state as last recorded by `outpost harden` (the nightly
//! `--check`, or an `--apply`), for the dashboard and the API.

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use super::report::Drift;
use crate::db::schema::host_checks;

#[derive(Debug, Clone, Serialize)]
pub struct HostCheck {
    pub control: String,
    /// `ok`, `drift` or `error`.
    pub status: String,
    pub drift: Vec<Drift>,
    pub error: Option<String>,
    /// `/` on the server itself; anything else was a run against a scratch tree.
    pub root: String,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub applied_at: Option<OffsetDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = host_checks)]
struct Row {
    control: String,
    status: String,
    drift: serde_json::Value,
    error: Option<String>,
    root: String,
    checked_at: OffsetDateTime,
    applied_at: Option<OffsetDateTime>,
}

/// Every control's latest result, by name.
pub fn latest(conn: &mut PgConnection) -> QueryResult<Vec<HostCheck>> {
    let rows: Vec<Row> = host_checks::table
        .order(host_checks::control)
        .select(Row::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| HostCheck {
            control: row.control,
            status: row.status,
            // Written by this code from `Drift`s: anything else would be a bug, shown
            // as a drift that says so rather than hidden.
            drift: serde_json::from_value(row.drift).unwrap_or_else(|e| {
                vec![Drift::live(
                    "drift",
                    None,
                    None,
                    &format!("unreadable record: {e}"),
                )]
            }),
            error: row.error,
            root: row.root,
            checked_at: row.checked_at,
            applied_at: row.applied_at,
        })
        .collect())
}
