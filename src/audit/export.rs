//! Exports of the audit log, and their verification without a database.
//!
//! JSON lines (`outpost-audit-export-v1`): a header line with the signed checkpoint the
//! export is checked against, then one line per entry with its position in the log,
//! its canonical bytes (as a string, so they are reproduced exactly) and, for a partial
//! export, its inclusion proof. A complete export needs no proofs: the verifier rebuilds
//! the whole tree, which also proves that nothing was removed, reordered or inserted.
//! CSV carries the same entries for spreadsheets and SIEM tools, without proofs.

use std::io::{BufRead, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::checkpoint::{Checkpoint, Verifier};
use super::entry::StoredEntry;
use super::merkle::{self, Hash};
use crate::db::schema::{audit_checkpoints, audit_compactions, audit_events, audit_leaves};

pub const FORMAT: &str = "outpost-audit-export-v1";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no signed checkpoint yet; run `outpost audit checkpoint` first")]
    NoCheckpoint,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("line {line}: {what}")]
    Malformed { line: usize, what: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    /// The signed note every line is checked against.
    checkpoint: String,
    complete: bool,
    #[serde(with = "time::serde::rfc3339")]
    exported_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    leaf_index: u64,
    /// The entry's canonical bytes: leaf hash = SHA-256(0x00 ‖ these bytes).
    canonical: String,
    /// Base64 hashes from the leaf up to the checkpoint's root (partial exports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    inclusion_proof: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

/// Which entries to export; the default is all of them.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Positions in the log (leaf indices), e.g. what a compaction archives.
    pub positions: Option<std::ops::Range<i64>>,
}

impl Selection {
    fn is_everything(&self) -> bool {
        self.since.is_none() && self.until.is_none() && self.positions.is_none()
    }
}

/// Writes the selected entries covered by the latest checkpoint; returns how many.
pub fn write(
    conn: &mut PgConnection,
    out: &mut dyn Write,
    format: Format,
    selection: &Selection,
) -> Result<usize, ExportError> {
    let (tree_size, note): (i64, String) = audit_checkpoints::table
        .order(audit_checkpoints::id.desc())
        .select((audit_checkpoints::tree_size, audit_checkpoints::note))
        .first(conn)
        .optional()?
        .ok_or(ExportError::NoCheckpoint)?;
    let leaves: Vec<(i64, Vec<u8>)> = audit_leaves::table
        .filter(audit_leaves::leaf_index.lt(tree_size))
        .order(audit_leaves::leaf_index.asc())
        .select((audit_leaves::leaf_index, audit_leaves::leaf_hash))
        .load(conn)?;
    let mut rows = audit_leaves::table
        .inner_join(audit_events::table)
        .filter(audit_leaves::leaf_index.lt(tree_size))
        .order(audit_leaves::leaf_index.asc())
        .select((audit_leaves::leaf_index, StoredEntry::as_select()))
        .into_boxed();
    if let Some(since) = selection.since {
        rows = rows.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(until) = selection.until {
        rows = rows.filter(audit_events::occurred_at.lt(until));
    }
    if let Some(positions) = &selection.positions {
        rows = rows
            .filter(audit_leaves::leaf_index.ge(positions.start))
            .filter(audit_leaves::leaf_index.lt(positions.end));
    }
    let rows: Vec<(i64, StoredEntry)> = rows.load(conn)?;
    // After a compaction the oldest entries live in its archive, not here: such an
    // export proves each line instead of rebuilding the whole tree.
    let compacted: Option<i64> = audit_compactions::table
        .select(diesel::dsl::max(audit_compactions::up_to_leaf))
        .first(conn)?;
    let complete = selection.is_everything() && compacted.unwrap_or(0) == 0;
    match format {
        Format::Jsonl => {
            let header = Header {
                format: FORMAT.into(),
                checkpoint: note,
                complete,
                exported_at: OffsetDateTime::now_utc(),
            };
            writeln!(
                out,
                "{}",
                serde_json::to_string(&header).map_err(std::io::Error::other)?
            )?;
            let levels = (!complete)
                .then(|| Levels::build(leaves.iter().map(|(_, h)| to_hash(h)).collect()));
            for (index, entry) in &rows {
                let canonical =
                    String::from_utf8(entry.canonical()).map_err(std::io::Error::other)?;
                let inclusion_proof = levels
                    .as_ref()
                    .map(|l| {
                        l.proof(*index as usize)
                            .iter()
                            .map(|h| STANDARD.encode(h))
                            .collect()
                    })
                    .unwrap_or_default();
                let line = Line {
                    leaf_index: *index as u64,
                    canonical,
                    inclusion_proof,
                };
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&line).map_err(std::io::Error::other)?
                )?;
            }
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record([
                "leaf_index",
                "id",
                "occurred_at",
                "actor",
                "action",
                "target",
                "outcome",
                "source_ip",
                "request_id",
                "policy_version",
                "details",
            ])?;
            for (index, e) in &rows {
                writer.write_record([
                    index.to_string(),
                    e.id.to_string(),
                    e.occurred_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.target.clone().unwrap_or_default(),
                    e.outcome.clone(),
                    e.source_ip.clone().unwrap_or_default(),
                    e.request_id.clone().unwrap_or_default(),
                    e.policy_version.clone().unwrap_or_default(),
                    e.details.to_string(),
                ])?;
            }
            writer.flush()?;
        }
    }
    Ok(rows.len())
}

fn to_hash(bytes: &[u8]) -> Hash {
    merkle::hash_from_slice(bytes).unwrap_or([0; 32])
}

/// Every level of the tree, so each inclusion proof is a walk, not a rebuild. An
/// unpaired node at the end of a level moves up unchanged, which is exactly how
/// RFC 6962's left-balanced tree is shaped.
struct Levels(Vec<Vec<Hash>>);

impl Levels {
    fn build(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().expect("checked above");
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => merkle::node_hash(left, right),
                    [single] => *single,
                    _ => unreachable!("chunks(2) yields one or two"),
                })
                .collect();
            levels.push(above);
        }
        Self(levels)
    }

    fn proof(&self, mut index: usize) -> Vec<Hash> {
        let mut proof = Vec::new();
        for level in &self.0[..self.0.len().saturating_sub(1)] {
            let sibling = index ^ 1;
            if sibling < level.len() {
                proof.push(level[sibling]);
            }
            index /= 2;
        }
        proof
    }
}

/// What an offline verification found.
#[derive(Debug, Default)]
pub struct ExportReport {
    pub checkpoint: Option<Checkpoint>,
    pub entries: u64,
    pub complete: bool,
    pub problems: Vec<String>,
}

impl ExportReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks an export against `verifier` (the server's public key) alone.
pub fn verify(input: &mut dyn BufRead, verifier: &Verifier) -> Result<ExportReport, ExportError> {
    let mut lines = input.lines().enumerate();
    let (_, first) = lines.next().ok_or(ExportError::Malformed {
        line: 1,
        what: "empty file".into(),
    })?;
    let header: Header = serde_json::from_str(&first?).map_err(|e| ExportError::Malformed {
        line: 1,
        what: format!("not an export header: {e}"),
    })?;
    if header.format != FORMAT {
        return Err(ExportError::Malformed {
            line: 1,
            what: format!("unknown format `{}`", header.format),
        });
    }
    let mut report = ExportReport {
        complete: header.complete,
        ..ExportReport::default()
    };
    let head = match verifier.verify_note(&header.checkpoint) {
        Ok(head) => head,
        Err(e) => {
            report
                .problems
                .push(format!("the checkpoint's signature does not verify: {e}"));
            return Ok(report);
        }
    };
    let mut leaves: Vec<Hash> = Vec::new();
    for (number, text) in lines {
        let line_no = number + 1;
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&text).map_err(|e| ExportError::Malformed {
            line: line_no,
            what: e.to_string(),
        })?;
        report.entries += 1;
        let leaf = merkle::leaf_hash(line.canonical.as_bytes());
        if header.complete {
            if line.leaf_index != leaves.len() as u64 {
                report.problems.push(format!(
                    "line {line_no}: position {} out of order (expected {})",
                    line.leaf_index,
                    leaves.len()
                ));
            }
            leaves.push(leaf);
            continue;
        }
        let proof: Result<Vec<Hash>, _> = line
            .inclusion_proof
            .iter()
            .map(|h| {
                STANDARD
                    .decode(h)
                    .ok()
                    .and_then(|b| merkle::hash_from_slice(&b).ok())
                    .ok_or(())
            })
            .collect();
        let included = proof
            .map(|p| {
                merkle::verify_inclusion(&leaf, line.leaf_index, head.size, &p, &head.root).is_ok()
            })
            .unwrap_or(false);
        if !included {
            report.problems.push(format!(
                "line {line_no}: entry at position {} is not in the signed log",
                line.leaf_index
            ));
        }
    }
    if header.complete {
        if leaves.len() as u64 != head.size {
            report.problems.push(format!(
                "{} entries for a checkpoint of {}",
                leaves.len(),
                head.size
            ));
        } else if merkle::root(&leaves) != head.root {
            report
                .problems
                .push("the entries do not rebuild the signed root".into());
        }
    }
    report.checkpoint = Some(head);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_proofs_match_the_rfc_algorithm() {
        for size in 1..=70usize {
            let leaves: Vec<Hash> = (0..size)
                .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
                .collect();
            let levels = Levels::build(leaves.clone());
            let root = merkle::root(&leaves);
            assert_eq!(levels.0.last().unwrap()[0], root, "root of {size}");
            for index in 0..size {
                let proof = levels.proof(index);
                assert_eq!(
                    proof,
                    merkle::inclusion_proof(&leaves, index as u64).unwrap(),
                    "{index}/{size}"
                );
                merkle::verify_inclusion(&leaves[index], index as u64, size as u64, &proof, &root)
                    .unwrap();
            }
        }
    }
}
