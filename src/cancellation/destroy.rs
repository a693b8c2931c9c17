//! Destroying the client's data when the export window closes: every client table
//! emptied, the export files and local backups removed. The audit log is kept, and
//! the destruction is recorded in it, with what is about to go, in the same
//! transaction as the deletion and before it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::Cancellation;
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::cancellations;
use crate::export::store;

pub const DESTROYED: &str = "organisation.data_destroyed";

/// Tables holding the client's data, emptied in this order (children before parents).
pub const DESTROYED_TABLES: &[&str] = &[
    "sessions",
    "setup_links",
    "mfa_challenges",
    "recovery_codes",
    "totp_credentials",
    "api_key_networks",
    "api_keys",
    "role_grants",
    "invitations",
    "stored_credentials",
    "webhook_deliveries",
    "webhook_endpoints",
    "login_throttle",
    "host_checks",
    "harden_requests",
    "alerts",
    "backup_drills",
    "backup_runs",
    "exports",
    "finding_episodes",
    "findings",
    "scans",
    "access_snapshots",
    "api_responses",
    // The client's own relay password and routing; the server falls back to its file.
    "settings",
    "users",
];

/// Tables kept, and why. Every table is in one list or the other (a test checks it
/// against the database), so a new table has to be classified before it ships.
pub const KEPT_TABLES: &[(&str, &str)] = &[
    (
        "audit_events",
        "the audit log keeps the record of the destruction",
    ),
    ("audit_leaves", "the audit log's Merkle tree"),
    ("audit_checkpoints", "the audit log's signed checkpoints"),
    (
        "audit_verifications",
        "the audit log's verification results",
    ),
    ("audit_compactions", "the audit log's signed compactions"),
    (
        "vault_keks",
        "fingerprints of the server's keys: no client data",
    ),
    (
        "org_policy",
        "which roles need two-factor sign-in: a setting, whose author is cleared with the users",
    ),
    (
        "cancellations",
        "the record that the service ended, and when",
    ),
    (
        "fleet_enrolment_tokens",
        "the fleet controller's own table: empty on a client's server",
    ),
    (
        "fleet_satellites",
        "the fleet controller's own table: empty on a client's server",
    ),
    (
        "fleet_heartbeats",
        "the fleet controller's own table: empty on a client's server",
    ),
    (
        "fleet_heartbeat_rollups",
        "the fleet controller's own table: empty on a client's server",
    ),
    (
        "fleet_report_ids",
        "the fleet controller's own table: empty on a client's server",
    ),
    (
        "fleet_alerts",
        "the fleet controller's own table: empty on a client's server",
    ),
    (
        "fleet_enrolment",
        "the operators' fleet enrolment: keeps the server's health watched, no client data",
    ),
    ("__diesel_schema_migrations", "the schema version"),
];

/// What was destroyed.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Rows per table.
    pub rows: BTreeMap<&'static str, i64>,
    pub export_files: u64,
    pub backup_files: u64,
    /// Backup objects on each configured target (an S3 bucket, another disk).
    pub remote_backup_objects: BTreeMap<String, u64>,
    /// Files that could not be removed (each with the reason), to remove by hand.
    pub left_behind: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DestroyError {
    #[error("database query failed: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("cannot read {path}: {source}")]
    Files {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The directories whose files are the client's: exports and local backups.
fn directories(data_dir: &Path) -> [PathBuf; 2] {
    [store::directory(data_dir), data_dir.join("backups")]
}

/// Empties the database and the data directory. `remote` counts the backup objects
/// elsewhere, which the caller removes once this has committed (and audited) the
/// destruction.
pub fn destroy(
    conn: &mut PgConnection,
    data_dir: &Path,
    cancellation: &Cancellation,
    remote: &BTreeMap<String, u64>,
) -> Result<Report, DestroyError> {
    let [exports_dir, backups_dir] = directories(data_dir);
    let report = conn.transaction(|conn| {
        // Locked first: a second checker waits here, then finds it done.
        let done: Option<OffsetDateTime> = cancellations::table
            .find(cancellation.id)
            .select(cancellations::destroyed_at)
            .for_update()
            .first(conn)?;
        if done.is_some() {
            return Ok(None);
        }
        // Nothing may be added between the count and the deletion, so the audited
        // counts are exactly what goes.
        diesel::sql_query(format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            DESTROYED_TABLES.join(", ")
        ))
        .execute(conn)?;
        let mut rows = BTreeMap::new();
        for table in DESTROYED_TABLES {
            let count: Count =
                diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result(conn)?;
            rows.insert(*table, count.n);
        }
        let report = Report {
            rows,
            export_files: count_files(&exports_dir)?,
            backup_files: count_files(&backups_dir)?,
            remote_backup_objects: remote.clone(),
            left_behind: Vec::new(),
        };
        audit::record(
            conn,
            &Event::new(Actor::System, DESTROYED, Outcome::Success)
                .target(format!("cancellation:{}", cancellation.id))
                .details(json!({
                    "rows": report.rows,
                    "export_files": report.export_files,
                    "backup_files": report.backup_files,
                    "remote_backup_objects": report.remote_backup_objects,
                    "window_closed_at": super::day(cancellation.window_closes_at),
                })),
        )?;
        for table in DESTROYED_TABLES {
            diesel::sql_query(format!("DELETE FROM {table}")).execute(conn)?;
        }
        diesel::update(cancellations::table.find(cancellation.id))
            .set(cancellations::destroyed_at.eq(diesel::dsl::now))
            .execute(conn)?;
        Ok::<_, DestroyError>(Some(report))
    })?;
    let Some(mut report) = report else {
        return Ok(Report {
            rows: BTreeMap::new(),
            export_files: 0,
            backup_files: 0,
            remote_backup_objects: BTreeMap::new(),
            left_behind: Vec::new(),
        });
    };
    // Files cannot join the transaction: they go once the deletion is committed (and
    // audited), so a failed transaction never leaves the client without their export.
    for dir in [&exports_dir, &backups_dir] {
        empty_directory(dir, &mut report.left_behind);
    }
    Ok(report)
}

/// Regular files under `dir`, at any depth; none when it does not exist.
fn count_files(dir: &Path) -> Result<u64, DestroyError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(DestroyError::Files {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut count = 0;
    for entry in entries {
        let entry = entry.map_err(|source| DestroyError::Files {
            path: dir.to_owned(),
            source,
        })?;
        let kind = entry.file_type().map_err(|source| DestroyError::Files {
            path: entry.path(),
            source,
        })?;
        if kind.is_dir() {
            count += count_files(&entry.path())?;
        } else {
            count += 1;
        }
    }
    Ok(count)
}

/// Removes everything inside `dir` but the directory itself (it may be a mount point
/// or a path the service unit was given), noting what would not go.
fn empty_directory(dir: &Path, left_behind: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        if let Err(e) = removed {
            left_behind.push(format!("{}: {e}", path.display()));
        }
    }
}
