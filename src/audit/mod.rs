//! The audit trail. Every state change a person or the system makes is recorded through
//! [`record`], in the same transaction as the change where there is one. Each entry is
//! authenticated by the server (an HMAC under a key outside the database) and later
//! becomes a leaf of a Merkle tree whose roots are signed (see `log`).

pub mod context;
pub mod entry;
pub mod export;
pub mod log;
pub mod query;
pub mod retention;
pub mod writer;

pub mod checkpoint;

pub mod merkle;

use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::db::schema::audit_events;
use crate::identity::ClientInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Actor {
    User(Uuid),
    /// Someone not (yet) signed in, e.g. a failed sign-in.
    Anonymous,
    /// An operator at the server's command line.
    Cli,
    System,
}

impl Actor {
    fn label(&self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::Anonymous => "anonymous".into(),
            Actor::Cli => "cli".into(),
            Actor::System => "system".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    actor: Actor,
    action: &'static str,
    outcome: Outcome,
    target: Option<String>,
    client: ClientInfo,
    details: Value,
}

impl Event {
    pub fn new(actor: Actor, action: &'static str, outcome: Outcome) -> Self {
        Self {
            actor,
            action,
            outcome,
            target: None,
            client: ClientInfo::default(),
            details: Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn client(mut self, client: &ClientInfo) -> Self {
        self.client = client.clone();
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends `event` and returns the new entry's id. Fails if the process has no audit
/// context installed: an entry the server cannot authenticate would later read as forged.
pub fn record(conn: &mut PgConnection, event: &Event) -> QueryResult<i64> {
    let ids = record_all(conn, std::slice::from_ref(event))?;
    Ok(ids[0])
}

/// Records that signed-in person `actor` (from `client`) did `action` to `target`, in
/// the caller's transaction: the entry every change a member makes leaves behind.
pub fn record_change(
    conn: &mut PgConnection,
    (actor, client): (Uuid, &ClientInfo),
    action: &'static str,
    target: String,
    details: Value,
) -> QueryResult<()> {
    record(
        conn,
        &Event::new(Actor::User(actor), action, Outcome::Success)
            .target(target)
            .client(client)
            .details(details),
    )
    .map(drop)
}

/// Rows per INSERT statement: 11 parameters each, well under PostgreSQL's 65 535.
const ROWS_PER_INSERT: usize = 1_000;

#[derive(QueryableByName)]
struct NewId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Appends `events` in order and returns their ids, one per event, ascending. Costs two
/// statements however many entries there are (up to a thousand), which is
/// what makes group commit (see `writer`) pay: a batch costs little more than one
/// entry. Writes in the caller's transaction if there is one, and all or none of the
/// entries only inside one.
pub fn record_all(conn: &mut PgConnection, events: &[Event]) -> QueryResult<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let context = context::current().ok_or_else(|| {
        diesel::result::Error::QueryBuilderError("the audit context is not installed".into())
    })?;
    // The ids are part of the authenticated bytes, so they are taken before the insert.
    let mut ids: Vec<i64> = diesel::sql_query(
        "SELECT nextval('audit_events_id_seq') AS id FROM generate_series(1, $1)",
    )
    .bind::<diesel::sql_types::BigInt, _>(events.len() as i64)
    .load::<NewId>(conn)?
    .into_iter()
    .map(|row| row.id)
    .collect();
    ids.sort_unstable();
    let actors: Vec<String> = events.iter().map(|e| e.actor.label()).collect();
    let policy_version = context.policy_version();
    let rows: Vec<_> = events
        .iter()
        .zip(&ids)
        .zip(&actors)
        .map(|((event, &id), actor)| {
            let occurred_at = entry::now_micros();
            let fields = entry::EntryFields {
                id,
                occurred_at,
                actor,
                action: event.action,
                target: event.target.as_deref(),
                outcome: event.outcome.as_str(),
                source_ip: event.client.ip.as_deref(),
                request_id: event.client.request_id.as_deref(),
                details: &event.details,
                policy_version: Some(policy_version),
            };
            let mac = context.mac(&entry::canonical(&fields));
            (
                audit_events::id.eq(id),
                audit_events::occurred_at.eq(occurred_at),
                audit_events::actor.eq(actor),
                audit_events::action.eq(event.action),
                audit_events::outcome.eq(event.outcome.as_str()),
                audit_events::target.eq(event.target.as_deref()),
                audit_events::source_ip.eq(event.client.ip.as_deref()),
                audit_events::request_id.eq(event.client.request_id.as_deref()),
                audit_events::details.eq(&event.details),
                audit_events::policy_version.eq(policy_version),
                audit_events::mac.eq(mac.to_vec()),
            )
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        diesel::insert_into(audit_events::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(ids)
}
