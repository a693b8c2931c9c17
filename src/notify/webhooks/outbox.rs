//! The outbox: one delivery row per subscribed endpoint, written by the code that makes
//! the change, inside its transaction. An event is then sent exactly when its change
//! committed, and a crash between the two loses nothing.

use diesel::prelude::*;
use diesel::{PgArrayExpressionMethods, PgConnection};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::schema::{webhook_deliveries as deliveries, webhook_endpoints as endpoints};

/// One message to one endpoint, and how sending it has gone so far.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[diesel(table_name = deliveries)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub message_id: String,
    pub payload: Value,
    /// `pending`, `delivered` or `failed` (every retry used up).
    pub status: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

/// The body every endpoint receives: `{"type", "timestamp", "data"}` (Standard Webhooks).
fn payload(event_type: &str, data: Value, now: OffsetDateTime) -> Value {
    json!({
        "type": event_type,
        "timestamp": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": data,
    })
}

/// Queues `event_type` for every enabled endpoint subscribed to it; returns how many.
pub fn enqueue(conn: &mut PgConnection, event_type: &str, data: Value) -> QueryResult<usize> {
    let subscribed: Vec<Uuid> = endpoints::table
        .filter(endpoints::enabled.eq(true))
        .filter(endpoints::events.contains(vec![event_type]))
        .select(endpoints::id)
        .load(conn)?;
    insert(conn, &subscribed, event_type, data)
}

/// Queues a message for one endpoint whatever it subscribes to (the test event).
pub fn enqueue_to(
    conn: &mut PgConnection,
    endpoint: Uuid,
    event_type: &str,
    data: Value,
) -> QueryResult<usize> {
    insert(conn, &[endpoint], event_type, data)
}

fn insert(
    conn: &mut PgConnection,
    to: &[Uuid],
    event_type: &str,
    data: Value,
) -> QueryResult<usize> {
    if to.is_empty() {
        return Ok(0);
    }
    let now = OffsetDateTime::now_utc();
    let body = payload(event_type, data, now);
    let rows: Vec<_> = to
        .iter()
        .map(|endpoint| {
            (
                deliveries::id.eq(Uuid::new_v4()),
                deliveries::endpoint_id.eq(*endpoint),
                deliveries::event_type.eq(event_type),
                deliveries::message_id.eq(format!("msg_{}", Uuid::new_v4().simple())),
                deliveries::payload.eq(body.clone()),
                deliveries::next_attempt_at.eq(Some(now)),
            )
        })
        .collect();
    diesel::insert_into(deliveries::table)
        .values(&rows)
        .execute(conn)
}

/// The newest deliveries, of one endpoint or of all.
pub fn recent(
    conn: &mut PgConnection,
    endpoint: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let mut query = deliveries::table
        .select(Delivery::as_select())
        .order(deliveries::created_at.desc())
        .limit(limit)
        .into_boxed();
    if let Some(endpoint) = endpoint {
        query = query.filter(deliveries::endpoint_id.eq(endpoint));
    }
    query.load(conn)
}
