//! An audit entry as stored, and its canonical bytes: the JSON object of its fields
//! with keys in lexicographic order, no insignificant whitespace, times as RFC 3339
//! UTC with microseconds, and `details` with its keys sorted too. Anyone can rebuild
//! these bytes from an export and check them against the Merkle tree:
//! leaf hash = SHA-256(0x00 ‖ canonical bytes).

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::db::schema::audit_events;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_events)]
pub struct StoredEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Value,
    pub policy_version: Option<String>,
    #[serde(skip)]
    pub mac: Option<Vec<u8>>,
}

/// The fields that are hashed, in one place so writing and checking agree.
#[derive(Debug, Clone)]
pub struct EntryFields<'a> {
    pub id: i64,
    pub occurred_at: OffsetDateTime,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub outcome: &'a str,
    pub source_ip: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub details: &'a Value,
    pub policy_version: Option<&'a str>,
}

impl StoredEntry {
    pub fn fields(&self) -> EntryFields<'_> {
        EntryFields {
            id: self.id,
            occurred_at: self.occurred_at,
            actor: &self.actor,
            action: &self.action,
            target: self.target.as_deref(),
            outcome: &self.outcome,
            source_ip: self.source_ip.as_deref(),
            request_id: self.request_id.as_deref(),
            details: &self.details,
            policy_version: self.policy_version.as_deref(),
        }
    }

    pub fn canonical(&self) -> Vec<u8> {
        canonical(&self.fields())
    }
}

/// PostgreSQL keeps microseconds; entries are stamped at that precision so the bytes
/// computed before writing equal the bytes computed after reading.
pub fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

pub fn canonical(fields: &EntryFields<'_>) -> Vec<u8> {
    let time = fields
        .occurred_at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(fields.occurred_at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(fields.occurred_at);
    // RFC 3339 with a fixed six-digit fraction, so one instant has one spelling.
    let occurred_at = format!(
        "{}.{:06}Z",
        time.replace_nanosecond(0)
            .unwrap_or(time)
            .format(&Rfc3339)
            .unwrap_or_default()
            .trim_end_matches('Z'),
        time.microsecond()
    );
    let mut object: BTreeMap<&str, Value> = BTreeMap::new();
    object.insert("action", Value::from(fields.action));
    object.insert("actor", Value::from(fields.actor));
    object.insert("details", sorted(fields.details));
    object.insert("id", Value::from(fields.id));
    object.insert("occurred_at", Value::from(occurred_at));
    object.insert("outcome", Value::from(fields.outcome));
    object.insert(
        "policy_version",
        fields.policy_version.map_or(Value::Null, Value::from),
    );
    object.insert(
        "request_id",
        fields.request_id.map_or(Value::Null, Value::from),
    );
    object.insert(
        "source_ip",
        fields.source_ip.map_or(Value::Null, Value::from),
    );
    object.insert("target", fields.target.map_or(Value::Null, Value::from));
    serde_json::to_vec(&object).expect("a JSON value always serialises")
}

/// The same value with every object's keys in lexicographic order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
            serde_json::to_value(ordered).expect("a JSON value always serialises")
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_bytes_are_stable_and_sorted() {
        let details = json!({ "z": 1, "a": { "y": true, "b": [ { "d": 1, "c": 2 } ] } });
        let occurred_at = time::macros::datetime!(2026-11-23 10:15:02.123456 UTC);
        let fields = EntryFields {
            id: 7,
            occurred_at,
            actor: "user:1",
            action: "session.sign_in",
            target: None,
            outcome: "success",
            source_ip: Some("203.0.113.9"),
            request_id: Some("req-1"),
            details: &details,
            policy_version: Some("cfg-abc"),
        };
        let text = String::from_utf8(canonical(&fields)).unwrap();
        assert_eq!(
            text,
            r#"{"action":"session.sign_in","actor":"user:1","details":{"a":{"b":[{"c":2,"d":1}],"y":true},"z":1},"id":7,"occurred_at":"2026-11-23T10:15:02.123456Z","outcome":"success","policy_version":"cfg-abc","request_id":"req-1","source_ip":"203.0.113.9","target":null}"#
        );
        let whole_second = EntryFields {
            occurred_at: time::macros::datetime!(2026-11-23 10:15:02 UTC),
            ..fields
        };
        assert!(
            String::from_utf8(canonical(&whole_second))
                .unwrap()
                .contains("10:15:02.000000Z")
        );
    }
}
