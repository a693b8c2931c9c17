//! The audit log as a verifiable structure.
//!
//! - [`integrate`] takes new entries into the Merkle tree (table `audit_leaves`), in
//!   the order their transactions are known to have ended: only entries written by
//!   transactions older than every transaction still running, so no slower, earlier
//!   transaction can later add an entry that should have come first. Entries whose MAC
//!   does not verify were not written by this server and are never taken in.
//! - [`checkpoint`] signs the tree head (a C2SP checkpoint), stores it and appends it
//!   to a file outside the database; it refuses to sign a tree that is inconsistent
//!   with what it signed before.
//! - [`verify`] rebuilds everything from the entries and reports the first problem.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea};

use super::checkpoint::{Checkpoint, Signer, Verifier};
use super::context::AuditContext;
use super::entry::StoredEntry;
use super::merkle::{self, Hash};
use crate::db::schema::{audit_checkpoints, audit_events, audit_leaves};

/// Serialises integrators (several servers or CLI runs against one database).
const INTEGRATION_LOCK: i64 = 0x6f75_7470_6f73_7401;
const BATCH: i64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
    #[error("checkpoint file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("refusing to sign: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Pool(#[from] crate::db::DbError),
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Takes every entry that can safely be ordered into the tree; returns how many. With
/// a `stream` file, each entry taken in is also appended to it as a JSON line for SIEM
/// forwarders; the write happens inside the transaction, so a failed write means the
/// entries are retried (delivery is at least once, never silently skipped).
pub fn integrate(
    conn: &mut PgConnection,
    context: &AuditContext,
    stream: Option<&Path>,
) -> Result<usize, LogError> {
    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(INTEGRATION_LOCK)
            .execute(conn)?;
        // Entries of transactions that ended before every running one began, not yet in
        // the tree, at or after the last integrated transaction.
        let pending: Vec<Pending> = diesel::sql_query(
            "SELECT e.id FROM audit_events e \
             WHERE e.tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
               AND e.tx_id >= COALESCE((SELECT x.tx_id FROM audit_leaves l \
                                        JOIN audit_events x ON x.id = l.event_id \
                                        ORDER BY l.leaf_index DESC LIMIT 1), '0'::xid8) \
               AND NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.event_id = e.id) \
             ORDER BY e.tx_id, e.id LIMIT $1",
        )
        .bind::<BigInt, _>(BATCH)
        .load(conn)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
        let mut entries: Vec<StoredEntry> = audit_events::table
            .filter(audit_events::id.eq_any(&ids))
            .select(StoredEntry::as_select())
            .load(conn)?;
        entries.sort_by_key(|e| ids.iter().position(|id| *id == e.id));
        let mut next: i64 = audit_leaves::table
            .select(diesel::dsl::max(audit_leaves::leaf_index))
            .first::<Option<i64>>(conn)?
            .map_or(0, |last| last + 1);
        let mut taken = 0;
        let mut refused: Vec<i64> = Vec::new();
        let mut streamed = String::new();
        for entry in entries {
            let canonical = entry.canonical();
            let authentic = entry
                .mac
                .as_deref()
                .is_some_and(|mac| context.mac_matches(&canonical, mac));
            if !authentic {
                refused.push(entry.id);
                continue;
            }
            diesel::insert_into(audit_leaves::table)
                .values((
                    audit_leaves::leaf_index.eq(next),
                    audit_leaves::event_id.eq(entry.id),
                    audit_leaves::leaf_hash.eq(&merkle::leaf_hash(&canonical)[..]),
                ))
                .execute(conn)?;
            if stream.is_some() {
                let mut line = serde_json::to_value(&entry).unwrap_or_default();
                line["leaf_index"] = serde_json::Value::from(next);
                streamed.push_str(&line.to_string());
                streamed.push('\n');
            }
            next += 1;
            taken += 1;
        }
        if !refused.is_empty() {
            // One line per run, not per entry: the same entries are seen every run.
            tracing::error!(
                count = refused.len(),
                first = ?&refused[..refused.len().min(10)],
                "audit entries without a valid MAC left out of the log (not written by this server)"
            );
        }
        if let Some(path) = stream.filter(|_| !streamed.is_empty()) {
            append_to_file(path, streamed.trim_end_matches('\n'))?;
        }
        Ok(taken)
    })
}

/// The stored leaf hashes, in order.
fn leaf_hashes(conn: &mut PgConnection) -> QueryResult<Vec<Hash>> {
    let rows: Vec<Vec<u8>> = audit_leaves::table
        .order(audit_leaves::leaf_index.asc())
        .select(audit_leaves::leaf_hash)
        .load(conn)?;
    Ok(rows.iter().map(|h| to_hash(h)).collect())
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut hash = [0u8; 32];
    if bytes.len() == 32 {
        hash.copy_from_slice(bytes);
    }
    hash
}

#[derive(Debug, Clone, Queryable)]
pub struct StoredCheckpoint {
    pub id: i64,
    pub tree_size: i64,
    pub root_hash: Vec<u8>,
    pub note: String,
    pub created_at: time::OffsetDateTime,
}

fn checkpoints(conn: &mut PgConnection) -> QueryResult<Vec<StoredCheckpoint>> {
    audit_checkpoints::table
        .order(audit_checkpoints::id.asc())
        .load(conn)
}

/// Integrates, then signs the current tree head, stores it, and appends the signed note
/// to `file` (fsynced) so a copy survives outside the database.
pub fn checkpoint(
    conn: &mut PgConnection,
    context: &AuditContext,
    signer: &Signer,
    origin: &str,
    file: &Path,
    stream: Option<&Path>,
) -> Result<Checkpoint, LogError> {
    integrate(conn, context, stream)?;
    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(INTEGRATION_LOCK)
            .execute(conn)?;
        let leaves = leaf_hashes(conn)?;
        // Never sign a tree that contradicts an earlier signature.
        if let Some(last) = checkpoints(conn)?.last() {
            let size = usize::try_from(last.tree_size).unwrap_or(usize::MAX);
            if size > leaves.len() || merkle::root(&leaves[..size]) != to_hash(&last.root_hash) {
                return Err(LogError::Inconsistent(format!(
                    "the stored entries no longer match the checkpoint of size {}",
                    last.tree_size
                )));
            }
        }
        let head = Checkpoint {
            origin: origin.to_owned(),
            size: leaves.len() as u64,
            root: merkle::root(&leaves),
        };
        let note = signer.sign_note(&head)?;
        diesel::insert_into(audit_checkpoints::table)
            .values((
                audit_checkpoints::tree_size.eq(head.size as i64),
                audit_checkpoints::root_hash.eq(&head.root[..]),
                audit_checkpoints::note.eq(&note),
            ))
            .execute(conn)?;
        append_to_file(file, &note)?;
        Ok(head)
    })
}

fn append_to_file(path: &Path, note: &str) -> Result<(), LogError> {
    let fail = |e: std::io::Error| LogError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    // Notes are separated by a blank line so the file reads as a sequence of notes.
    file.write_all(format!("{note}\n").as_bytes())
        .map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// One finding of a verification pass.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Leaf index (position in the log) where the problem is, if it has one.
    pub position: Option<i64>,
    pub event_id: Option<i64>,
    pub what: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub entries: u64,
    pub checkpoints: u64,
    /// Entries not yet taken into the tree (normal for a few seconds after writing).
    pub pending: u64,
    /// Entries removed by a signed compaction (kept in its archive).
    pub archived: u64,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn flag(&mut self, position: Option<i64>, event_id: Option<i64>, what: impl Into<String>) {
        self.problems.push(Problem {
            position,
            event_id,
            what: what.into(),
        });
    }
}

#[derive(QueryableByName)]
struct LeafRow {
    #[diesel(sql_type = BigInt)]
    leaf_index: i64,
    #[diesel(sql_type = BigInt)]
    event_id: i64,
    #[diesel(sql_type = Bytea)]
    leaf_hash: Vec<u8>,
}

/// Rebuilds the log from the database and checks it against every signed checkpoint.
pub fn verify(
    conn: &mut PgConnection,
    context: &AuditContext,
    verifier: &Verifier,
) -> Result<Report, LogError> {
    let mut report = Report::default();
    // Below a signed compaction's cut, entries live in its archive, not here.
    let (archived_below, compaction_problems) = super::retention::verified_cut(conn, verifier)?;
    for what in compaction_problems {
        report.flag(None, None, what);
    }
    let leaves: Vec<LeafRow> = diesel::sql_query(
        "SELECT leaf_index, event_id, leaf_hash FROM audit_leaves ORDER BY leaf_index",
    )
    .load(conn)?;
    let entries: Vec<StoredEntry> = audit_events::table
        .order(audit_events::id.asc())
        .select(StoredEntry::as_select())
        .load(conn)?;
    let by_id: std::collections::HashMap<i64, &StoredEntry> =
        entries.iter().map(|e| (e.id, e)).collect();
    report.entries = leaves.len() as u64;

    let mut recomputed: Vec<Hash> = Vec::with_capacity(leaves.len());
    for (expected, leaf) in leaves.iter().enumerate() {
        let position = Some(leaf.leaf_index);
        if leaf.leaf_index != expected as i64 {
            report.flag(
                position,
                Some(leaf.event_id),
                format!("the log has a gap or reordering at position {expected}"),
            );
        }
        match by_id.get(&leaf.event_id) {
            None => {
                if leaf.leaf_index < archived_below {
                    report.archived += 1;
                } else {
                    report.flag(position, Some(leaf.event_id), "entry deleted");
                }
                recomputed.push(to_hash(&leaf.leaf_hash));
            }
            Some(entry) => {
                let canonical = entry.canonical();
                let hash = merkle::leaf_hash(&canonical);
                if hash[..] != leaf.leaf_hash[..] {
                    report.flag(
                        position,
                        Some(entry.id),
                        "entry changed after it was logged",
                    );
                }
                if !entry
                    .mac
                    .as_deref()
                    .is_some_and(|mac| context.mac_matches(&canonical, mac))
                {
                    report.flag(
                        position,
                        Some(entry.id),
                        "entry not written by this server (MAC mismatch)",
                    );
                }
                recomputed.push(hash);
            }
        }
    }

    // Entries never taken into the tree: fresh ones are normal, forged ones are not.
    let logged: std::collections::HashSet<i64> = leaves.iter().map(|l| l.event_id).collect();
    for entry in entries.iter().filter(|e| !logged.contains(&e.id)) {
        let authentic = entry
            .mac
            .as_deref()
            .is_some_and(|mac| context.mac_matches(&entry.canonical(), mac));
        if authentic {
            report.pending += 1;
        } else {
            report.flag(
                None,
                Some(entry.id),
                "forged entry (not written by this server)",
            );
        }
    }

    let signed = checkpoints(conn)?;
    report.checkpoints = signed.len() as u64;
    let mut previous: Option<(u64, Hash)> = None;
    for stored in &signed {
        let head = match verifier.verify_note(&stored.note) {
            Ok(head) => head,
            Err(e) => {
                report.flag(
                    None,
                    None,
                    format!("checkpoint {} does not verify: {e}", stored.id),
                );
                continue;
            }
        };
        if head.size != stored.tree_size as u64 || head.root[..] != stored.root_hash[..] {
            report.flag(
                None,
                None,
                format!("checkpoint {} differs from its signed note", stored.id),
            );
        }
        let size = usize::try_from(head.size).unwrap_or(usize::MAX);
        if size > recomputed.len() {
            report.flag(
                Some(recomputed.len() as i64),
                None,
                format!(
                    "log truncated: checkpoint {} covers {} entries, {} remain",
                    stored.id,
                    head.size,
                    recomputed.len()
                ),
            );
        } else if merkle::root(&recomputed[..size]) != head.root {
            // Name the first entry that differs from what was signed, where possible.
            report.flag(
                None,
                None,
                format!(
                    "entries differ from signed checkpoint {} (size {})",
                    stored.id, head.size
                ),
            );
        }
        if let Some((old_size, old_root)) = previous {
            if head.size < old_size {
                report.flag(
                    None,
                    None,
                    format!("checkpoint {} is smaller than the one before it", stored.id),
                );
            } else if size <= recomputed.len() {
                let proof =
                    merkle::consistency_proof(&recomputed[..size], old_size).unwrap_or_default();
                if merkle::verify_consistency(old_size, head.size, &proof, &old_root, &head.root)
                    .is_err()
                {
                    report.flag(
                        None,
                        None,
                        format!(
                            "checkpoint {} is not consistent with the one before it",
                            stored.id
                        ),
                    );
                }
            }
        }
        previous = Some((head.size, head.root));
    }
    report
        .problems
        .sort_by_key(|p| p.position.unwrap_or(i64::MAX));
    Ok(report)
}
