//! Problems that need a person. An alert is recorded the moment it is raised (so it
//! shows red on the dashboard even if nobody could be told), told to the Owners and
//! Admins once, counted while it keeps happening, and resolved when the condition
//! clears. At most one alert per key is open at a time, so a failure repeated every
//! night is one alert with a count, not a flood.

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

use super::settings::NotifySettings;
use super::slack::Slack;
use super::{Email, Mailer, messages};
use crate::db::schema::alerts;
use crate::identity::{Role, user};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = alerts)]
pub struct Alert {
    pub id: i64,
    pub key: String,
    pub severity: String,
    pub summary: String,
    pub detail: String,
    #[serde(with = "time::serde::rfc3339")]
    pub raised_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    pub occurrences: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub notified_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
}

/// Opens alert `key`, or counts one more occurrence of the open one (its summary and
/// detail then say what happened last).
pub fn raise(
    conn: &mut PgConnection,
    key: &str,
    severity: Severity,
    summary: &str,
    detail: &str,
) -> QueryResult<Alert> {
    diesel::sql_query(
        "INSERT INTO alerts (key, severity, summary, detail) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) WHERE resolved_at IS NULL DO UPDATE SET \
           severity = EXCLUDED.severity, summary = EXCLUDED.summary, detail = EXCLUDED.detail, \
           last_seen_at = now(), occurrences = alerts.occurrences + 1 \
         RETURNING *",
    )
    .bind::<diesel::sql_types::Text, _>(key)
    .bind::<diesel::sql_types::Text, _>(severity.as_str())
    .bind::<diesel::sql_types::Text, _>(summary)
    .bind::<diesel::sql_types::Text, _>(detail)
    .get_result::<AlertRow>(conn)
    .map(AlertRow::into_alert)
}

/// Closes alert `key` if it is open; true if it was.
pub fn resolve(conn: &mut PgConnection, key: &str) -> QueryResult<bool> {
    diesel::update(alerts::table)
        .filter(alerts::key.eq(key))
        .filter(alerts::resolved_at.is_null())
        .set(alerts::resolved_at.eq(diesel::dsl::now))
        .execute(conn)
        .map(|n| n > 0)
}

/// Open alerts, most severe and newest first.
pub fn open(conn: &mut PgConnection) -> QueryResult<Vec<Alert>> {
    alerts::table
        .filter(alerts::resolved_at.is_null())
        .order((alerts::severity.asc(), alerts::last_seen_at.desc()))
        .select(Alert::as_select())
        .load(conn)
}

/// Open alerts whose key starts with `prefix` (`backup.`).
pub fn open_with_prefix(conn: &mut PgConnection, prefix: &str) -> QueryResult<Vec<Alert>> {
    alerts::table
        .filter(alerts::resolved_at.is_null())
        .filter(alerts::key.like(format!(
            "{}%",
            prefix.replace('%', "\\%").replace('_', "\\_")
        )))
        .order(alerts::last_seen_at.desc())
        .select(Alert::as_select())
        .load(conn)
}

/// Tells the Owners and Admins about every open alert nobody has been told about,
/// then marks each as told. An alert whose emails all fail stays untold and is tried
/// again at the next delivery; with email off it is marked told (the dashboard shows
/// it) and logged.
pub async fn deliver(db: &crate::db::Db, mailer: &Mailer, server_name: &str) {
    deliver_routed(db, mailer, server_name, &NotifySettings::default()).await
}

/// [`deliver`], also to `routing`'s extra addresses and its Slack webhook (a post
/// Slack took counts as told).
pub async fn deliver_routed(
    db: &crate::db::Db,
    mailer: &Mailer,
    server_name: &str,
    routing: &NotifySettings,
) {
    let extra: Vec<String> = routing
        .alert_emails
        .iter()
        .map(|a| a.trim().to_owned())
        .collect();
    let slack = match routing.slack_webhooks() {
        hooks if hooks.is_empty() => None,
        hooks => Slack::new(hooks)
            .inspect_err(|error| tracing::warn!(%error, "alerts not posted to Slack"))
            .ok(),
    };
    let pending = db
        .run(move |conn| {
            let alerts = alerts::table
                .filter(alerts::resolved_at.is_null())
                .filter(alerts::notified_at.is_null())
                .select(Alert::as_select())
                .load(conn)?;
            let mut people = user::owners(conn)?
                .into_iter()
                .chain(user::with_role(conn, Role::Admin)?)
                .map(|u| u.email)
                .collect::<Vec<_>>();
            for extra in &extra {
                if !people.iter().any(|p| p.eq_ignore_ascii_case(extra)) {
                    people.push(extra.clone());
                }
            }
            Ok::<_, crate::db::DbError>((alerts, people))
        })
        .await;
    let (pending, people) = match pending {
        Ok(found) => found,
        Err(error) => return tracing::error!(%error, "alerts could not be read for delivery"),
    };
    for alert in pending {
        tracing::error!(alert = %alert.key, summary = %alert.summary, detail = %alert.detail, "alert raised");
        let mut told = !mailer.is_enabled() && slack.is_none();
        if let Some(slack) = &slack {
            let text = format!(
                "[{server_name}] {}: {}\n{}",
                alert.severity, alert.summary, alert.detail
            );
            told |= slack.post(&text).await;
        }
        for to in &people {
            let email: Email = messages::alert(to, server_name, &alert);
            match mailer.send(&email).await {
                Ok(()) => told = true,
                Err(error) => tracing::warn!(%error, alert = %alert.key, "alert not emailed"),
            }
        }
        if !told {
            continue;
        }
        let id = alert.id;
        let marked = db
            .run(move |conn| {
                diesel::update(alerts::table.find(id))
                    .set(alerts::notified_at.eq(diesel::dsl::now))
                    .execute(conn)
                    .map_err(crate::db::DbError::from)
            })
            .await;
        if let Err(error) = marked {
            tracing::error!(%error, "alert delivery not recorded");
        }
    }
}

/// `RETURNING *` of the raw insert, mapped like the table.
#[derive(QueryableByName)]
#[diesel(table_name = alerts)]
struct AlertRow {
    id: i64,
    key: String,
    severity: String,
    summary: String,
    detail: String,
    raised_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    occurrences: i32,
    notified_at: Option<OffsetDateTime>,
    resolved_at: Option<OffsetDateTime>,
}

impl AlertRow {
    fn into_alert(self) -> Alert {
        Alert {
            id: self.id,
            key: self.key,
            severity: self.severity,
            summary: self.summary,
            detail: self.detail,
            raised_at: self.raised_at,
            last_seen_at: self.last_seen_at,
            occurrences: self.occurrences,
            notified_at: self.notified_at,
            resolved_at: self.resolved_at,
        }
    }
}
