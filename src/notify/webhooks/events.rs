//! The events Outpost sends, and what each one's `data` holds. Each is queued by the
//! code that makes the change, in its transaction (see [`super::outbox`]).

use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::outbox;
use crate::db::schema::findings;
use crate::identity::Role;

pub const BACKUP_COMPLETED: &str = "backup.completed";
pub const BACKUP_FAILED: &str = "backup.failed";
pub const FINDING_OPENED: &str = "finding.opened";
pub const FINDING_RESOLVED: &str = "finding.resolved";
pub const SCAN_COMPLETED: &str = "scan.completed";
pub const MEMBER_ADDED: &str = "member.added";
/// Sent only by "Send test event", to the one endpoint asked.
pub const TEST: &str = "webhook.test";

pub fn backup_completed(
    conn: &mut PgConnection,
    backup: Uuid,
    target: &str,
    trigger: &str,
    stored_bytes: u64,
) -> QueryResult<usize> {
    outbox::enqueue(
        conn,
        BACKUP_COMPLETED,
        json!({ "backup_id": backup, "target": target, "trigger": trigger, "stored_bytes": stored_bytes }),
    )
}

pub fn backup_failed(
    conn: &mut PgConnection,
    backup: Uuid,
    target: &str,
    trigger: &str,
    error: &str,
) -> QueryResult<usize> {
    outbox::enqueue(
        conn,
        BACKUP_FAILED,
        json!({ "backup_id": backup, "target": target, "trigger": trigger, "error": error }),
    )
}

/// What one recorded scan changed: a `finding.opened` for each finding opened or
/// reopened, a `finding.resolved` for each resolved, then `scan.completed`.
pub fn scan_recorded(
    conn: &mut PgConnection,
    trigger: &str,
    opened: &[String],
    resolved: &[String],
    open_by_severity: &impl serde::Serialize,
) -> QueryResult<()> {
    for (event, fingerprints) in [(FINDING_OPENED, opened), (FINDING_RESOLVED, resolved)] {
        for data in findings_data(conn, fingerprints)? {
            outbox::enqueue(conn, event, data)?;
        }
    }
    outbox::enqueue(
        conn,
        SCAN_COMPLETED,
        json!({
            "trigger": trigger,
            "opened": opened.len(),
            "resolved": resolved.len(),
            "open_by_severity": open_by_severity,
        }),
    )
    .map(drop)
}

fn findings_data(conn: &mut PgConnection, fingerprints: &[String]) -> QueryResult<Vec<Value>> {
    if fingerprints.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String, String, String, String)> = findings::table
        .filter(findings::fingerprint.eq_any(fingerprints))
        .select((
            findings::fingerprint,
            findings::check_id,
            findings::subject,
            findings::severity,
            findings::title,
        ))
        .order(findings::fingerprint.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(fingerprint, check, subject, severity, title)| {
            json!({ "fingerprint": fingerprint, "check": check, "subject": subject, "severity": severity, "title": title })
        })
        .collect())
}

pub fn member_added(
    conn: &mut PgConnection,
    member: Uuid,
    email: &str,
    role: Role,
) -> QueryResult<usize> {
    outbox::enqueue(
        conn,
        MEMBER_ADDED,
        json!({ "user_id": member, "email": email, "role": role }),
    )
}
