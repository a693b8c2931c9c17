//! The audit trail. Every state change a person or the system makes is recorded through
//! [`record`], in the same transaction as the change where there is one.

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

pub fn record(conn: &mut PgConnection, event: &Event) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::actor.eq(event.actor.label()),
            audit_events::action.eq(event.action),
            audit_events::outcome.eq(event.outcome.as_str()),
            audit_events::target.eq(event.target.as_deref()),
            audit_events::source_ip.eq(event.client.ip.as_deref()),
            audit_events::request_id.eq(event.client.request_id.as_deref()),
            audit_events::details.eq(&event.details),
        ))
        .execute(conn)
        .map(drop)
}
