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

/// Appends `event`. Fails if the process has no audit context installed: an entry the
/// server cannot authenticate would later read as forged.
pub fn record(conn: &mut PgConnection, event: &Event) -> QueryResult<()> {
    let context = context::current().ok_or_else(|| {
        diesel::result::Error::QueryBuilderError("the audit context is not installed".into())
    })?;
    // The id is part of the authenticated bytes, so it is taken before the insert.
    let id: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "nextval('audit_events_id_seq')",
    ))
    .get_result(conn)?;
    let occurred_at = entry::now_micros();
    let actor = event.actor.label();
    let fields = entry::EntryFields {
        id,
        occurred_at,
        actor: &actor,
        action: event.action,
        target: event.target.as_deref(),
        outcome: event.outcome.as_str(),
        source_ip: event.client.ip.as_deref(),
        request_id: event.client.request_id.as_deref(),
        details: &event.details,
        policy_version: Some(context.policy_version()),
    };
    let mac = context.mac(&entry::canonical(&fields));
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(id),
            audit_events::occurred_at.eq(occurred_at),
            audit_events::actor.eq(&actor),
            audit_events::action.eq(event.action),
            audit_events::outcome.eq(event.outcome.as_str()),
            audit_events::target.eq(event.target.as_deref()),
            audit_events::source_ip.eq(event.client.ip.as_deref()),
            audit_events::request_id.eq(event.client.request_id.as_deref()),
            audit_events::details.eq(&event.details),
            audit_events::policy_version.eq(context.policy_version()),
            audit_events::mac.eq(&mac[..]),
        ))
        .execute(conn)
        .map(drop)
}
