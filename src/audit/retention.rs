//! Retention: entries older than the retention period are archived to a verifiable
//! export and removed, by a compaction that is signed and audited. The leaf hashes of
//! removed entries stay in the tree, so every checkpoint still verifies, and the
//! archive proves each removed entry's place in the signed log on its own.
//!
//! The compaction statement, signed with the checkpoint key:
//! ```text
//! outpost-audit-compaction
//! <origin>
//! <first position kept>
//! <base64 SHA-256 of the archive>
//! <tree size of the checkpoint the archive is proved against>
//! <base64 root of that checkpoint>
//! ```

use std::io::BufWriter;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::checkpoint::{Signer, Verifier};
use super::context::AuditContext;
use super::export::{self, Format, Selection};
use super::log::{self, LogError};
use super::{Actor, Event, Outcome};
use crate::db::schema::{audit_compactions, audit_events, audit_leaves};

const STATEMENT: &str = "outpost-audit-compaction";

#[derive(Debug, Clone)]
pub struct Compaction {
    /// Entries at positions below this are archived and gone from the database.
    pub up_to_leaf: i64,
    pub archived: usize,
    pub archive_sha256: [u8; 32],
}

/// Archives and removes every entry older than `retention`, from the oldest up to the
/// first one that must stay. Returns `None` when nothing is due.
pub fn compact(
    conn: &mut PgConnection,
    context: &AuditContext,
    signer: &Signer,
    origin: &str,
    checkpoint_file: &Path,
    retention: Duration,
    archive: &Path,
) -> Result<Option<Compaction>, LogError> {
    // Everything old enough is signed before anything is removed.
    let head = log::checkpoint(conn, context, signer, origin, checkpoint_file, None)?;
    let already = cut_so_far(conn)?;
    let cutoff = OffsetDateTime::now_utc() - retention;
    // The first position (in log order) whose entry is still within retention.
    let keep_from: Option<i64> = audit_leaves::table
        .inner_join(audit_events::table)
        .filter(audit_leaves::leaf_index.ge(already))
        .filter(audit_events::occurred_at.ge(cutoff))
        .select(diesel::dsl::min(audit_leaves::leaf_index))
        .first(conn)?;
    let cut = keep_from.unwrap_or(head.size as i64).min(head.size as i64);
    if cut <= already {
        return Ok(None);
    }

    let file = std::fs::File::create(archive).map_err(|e| file_error(archive, e))?;
    let mut out = BufWriter::new(file);
    let selection = Selection {
        positions: Some(already..cut),
        ..Selection::default()
    };
    let archived = export::write(conn, &mut out, Format::Jsonl, &selection)
        .map_err(|e| LogError::Inconsistent(format!("archive: {e}")))?;
    let file = out
        .into_inner()
        .map_err(|e| file_error(archive, e.into_error()))?;
    file.sync_all().map_err(|e| file_error(archive, e))?;
    let digest: [u8; 32] =
        Sha256::digest(std::fs::read(archive).map_err(|e| file_error(archive, e))?).into();

    let statement = format!(
        "{STATEMENT}\n{origin}\n{cut}\n{}\n{}\n{}\n",
        STANDARD.encode(digest),
        head.size,
        STANDARD.encode(head.root)
    );
    let note = signer.sign_statement(&statement)?;
    conn.transaction(|conn| {
        diesel::insert_into(audit_compactions::table)
            .values((
                audit_compactions::up_to_leaf.eq(cut),
                audit_compactions::archive_sha256.eq(&digest[..]),
                audit_compactions::note.eq(&note),
            ))
            .execute(conn)?;
        let doomed = audit_leaves::table
            .filter(audit_leaves::leaf_index.lt(cut))
            .select(audit_leaves::event_id);
        diesel::delete(audit_events::table.filter(audit_events::id.eq_any(doomed)))
            .execute(conn)?;
        super::record(
            conn,
            &Event::new(Actor::System, "audit.compacted", Outcome::Success).details(json!({
                "up_to_leaf": cut,
                "archived": archived,
                "archive_sha256": STANDARD.encode(digest),
                "retention_days": retention.as_secs() / 86_400,
            })),
        )?;
        Ok::<_, LogError>(())
    })?;
    Ok(Some(Compaction {
        up_to_leaf: cut,
        archived,
        archive_sha256: digest,
    }))
}

fn cut_so_far(conn: &mut PgConnection) -> QueryResult<i64> {
    audit_compactions::table
        .select(diesel::dsl::max(audit_compactions::up_to_leaf))
        .first::<Option<i64>>(conn)
        .map(|cut| cut.unwrap_or(0))
}

fn file_error(path: &Path, error: std::io::Error) -> LogError {
    LogError::File {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

/// The highest cut backed by a correctly signed compaction statement, and a list of
/// statements that do not verify (each one a sign of tampering).
pub fn verified_cut(
    conn: &mut PgConnection,
    verifier: &Verifier,
) -> QueryResult<(i64, Vec<String>)> {
    let rows: Vec<(i64, i64, String)> = audit_compactions::table
        .order(audit_compactions::id.asc())
        .select((
            audit_compactions::id,
            audit_compactions::up_to_leaf,
            audit_compactions::note,
        ))
        .load(conn)?;
    let mut cut = 0;
    let mut problems = Vec::new();
    for (id, up_to_leaf, note) in rows {
        let stated = verifier
            .verify_statement(&note)
            .ok()
            .and_then(|text| text.lines().nth(2).and_then(|l| l.parse::<i64>().ok()))
            .filter(|_| note.starts_with(STATEMENT));
        match stated {
            Some(stated) if stated == up_to_leaf => cut = cut.max(up_to_leaf),
            _ => problems.push(format!("compaction {id} is not signed by this server")),
        }
    }
    Ok((cut, problems))
}
