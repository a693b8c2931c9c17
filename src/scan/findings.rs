//! The finding lifecycle. A finding's identity is its fingerprint (check + subject):
//! reported again, it stays open (its severity, title and evidence as now seen);
//! not reported by a check that ran, it is resolved; reported after that, it is
//! reopened. Each open stretch is an episode, which is what resolution times and the
//! auto-fix rate are measured on. Urgent findings (high, critical) raise an alert per
//! episode, so a finding is told once while it stays open.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{CheckRun, Found, Severity};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::{finding_episodes, findings, scans};
use crate::notify::{alerts, webhooks};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = findings)]
pub struct Finding {
    pub fingerprint: String,
    pub check_id: String,
    pub subject: String,
    pub severity: String,
    pub title: String,
    pub evidence: String,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    pub auto_fixed: bool,
    pub reopened: i32,
}

/// What one scan changed.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Changes {
    pub opened: Vec<String>,
    pub reopened: Vec<String>,
    pub resolved: Vec<String>,
    /// Fixed by a check's own remedy in this scan (also in `opened` or `reopened`
    /// when the scan found them first; they are resolved, not open).
    pub auto_fixed: Vec<String>,
    pub still_open: usize,
}

/// A finding's identity: the same problem with the same subject, scan after scan.
pub fn fingerprint(check_id: &str, subject: &str) -> String {
    let digest = Sha256::new()
        .chain_update(check_id.as_bytes())
        .chain_update([0])
        .chain_update(subject.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The alert an urgent finding raises while it is open.
pub fn alert_key(fingerprint: &str) -> String {
    format!("finding.{fingerprint}")
}

/// Records one scan: every check's findings into the lifecycle, the scan itself with
/// the open findings by severity after it, and an audit entry; all in one transaction.
pub fn record(
    conn: &mut PgConnection,
    runs: &[CheckRun],
    trigger: &str,
    started_at: OffsetDateTime,
    now: OffsetDateTime,
) -> QueryResult<Changes> {
    conn.transaction(|conn| {
        let mut changes = Changes::default();
        for run in runs.iter().filter(|r| r.status != "error") {
            apply(conn, run, now, &mut changes)?;
        }
        let open = open_by_severity(conn)?;
        // Opened in this scan and still open: auto-fixed ones were closed at once.
        let new_open = changes
            .opened
            .iter()
            .chain(&changes.reopened)
            .filter(|fp| !changes.auto_fixed.contains(fp))
            .count();
        changes.still_open = open.values().sum::<i64>() as usize - new_open;
        let checks: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "status": r.status,
                    "duration_ms": r.duration.as_millis() as u64,
                    "findings": r.found.len(),
                    "error": r.error,
                })
            })
            .collect();
        diesel::insert_into(scans::table)
            .values((
                scans::started_at.eq(started_at),
                scans::finished_at.eq(now),
                scans::trigger.eq(trigger),
                scans::outpost_version.eq(env!("CARGO_PKG_VERSION")),
                scans::checks.eq(json!(checks)),
                scans::open_by_severity.eq(json!(open)),
            ))
            .execute(conn)?;
        let opened: Vec<String> = changes
            .opened
            .iter()
            .chain(&changes.reopened)
            .cloned()
            .collect();
        webhooks::events::scan_recorded(conn, trigger, &opened, &changes.resolved, &open)?;
        audit::record(
            conn,
            &Event::new(Actor::System, "security.scanned", Outcome::Success).details(json!({
                "trigger": trigger,
                "opened": changes.opened,
                "reopened": changes.reopened,
                "resolved": changes.resolved,
                "auto_fixed": changes.auto_fixed,
                "open": open,
            })),
        )?;
        Ok(changes)
    })
}

fn apply(
    conn: &mut PgConnection,
    run: &CheckRun,
    now: OffsetDateTime,
    changes: &mut Changes,
) -> QueryResult<()> {
    let known: HashMap<String, Finding> = findings::table
        .filter(findings::check_id.eq(run.id))
        .select(Finding::as_select())
        .load(conn)?
        .into_iter()
        .map(|f| (f.fingerprint.clone(), f))
        .collect();
    let mut seen = Vec::with_capacity(run.found.len());
    for found in &run.found {
        let fp = fingerprint(run.id, &found.subject);
        match known.get(&fp) {
            None => {
                diesel::insert_into(findings::table)
                    .values((
                        findings::fingerprint.eq(&fp),
                        findings::check_id.eq(run.id),
                        findings::subject.eq(&found.subject),
                        findings::severity.eq(found.severity.as_str()),
                        findings::title.eq(&found.title),
                        findings::evidence.eq(&found.evidence),
                        findings::first_seen.eq(now),
                        findings::last_seen.eq(now),
                    ))
                    .execute(conn)?;
                open_episode(conn, &fp, found, now)?;
                changes.opened.push(fp.clone());
            }
            Some(existing) => {
                let reopening = existing.resolved_at.is_some();
                diesel::update(findings::table.find(&fp))
                    .set((
                        findings::severity.eq(found.severity.as_str()),
                        findings::title.eq(&found.title),
                        findings::evidence.eq(&found.evidence),
                        findings::last_seen.eq(now),
                        findings::resolved_at.eq(None::<OffsetDateTime>),
                        findings::auto_fixed.eq(false),
                        findings::reopened.eq(existing.reopened + i32::from(reopening)),
                    ))
                    .execute(conn)?;
                if reopening {
                    open_episode(conn, &fp, found, now)?;
                    changes.reopened.push(fp.clone());
                } else if found.severity.is_urgent() {
                    // Still open: counted on its alert (raised if it became urgent now).
                    raise(conn, &fp, found)?;
                }
            }
        }
        if found.fixed {
            // Opened (or kept open) above first, so the episode exists to be closed.
            mark_fixed(conn, &fp, now)?;
            changes.auto_fixed.push(fp.clone());
        }
        seen.push(fp);
    }
    for (fp, finding) in &known {
        if finding.resolved_at.is_none() && !seen.contains(fp) {
            close(conn, fp, now, false)?;
            changes.resolved.push(fp.clone());
        }
    }
    Ok(())
}

fn open_episode(
    conn: &mut PgConnection,
    fp: &str,
    found: &Found,
    now: OffsetDateTime,
) -> QueryResult<()> {
    diesel::insert_into(finding_episodes::table)
        .values((
            finding_episodes::fingerprint.eq(fp),
            finding_episodes::severity.eq(found.severity.as_str()),
            finding_episodes::opened_at.eq(now),
        ))
        .execute(conn)?;
    if found.severity.is_urgent() {
        raise(conn, fp, found)?;
    }
    Ok(())
}

fn raise(conn: &mut PgConnection, fp: &str, found: &Found) -> QueryResult<()> {
    let severity = match found.severity {
        Severity::Critical => alerts::Severity::Critical,
        _ => alerts::Severity::Warning,
    };
    alerts::raise(
        conn,
        &alert_key(fp),
        severity,
        &found.title,
        &found.evidence,
    )
    .map(drop)
}

/// Resolves an open finding; `auto_fixed` when Outpost's own remedy fixed it.
fn close(
    conn: &mut PgConnection,
    fp: &str,
    now: OffsetDateTime,
    auto_fixed: bool,
) -> QueryResult<()> {
    diesel::update(findings::table.find(fp))
        .set((
            findings::resolved_at.eq(Some(now)),
            findings::auto_fixed.eq(auto_fixed),
        ))
        .execute(conn)?;
    diesel::update(
        finding_episodes::table
            .filter(finding_episodes::fingerprint.eq(fp))
            .filter(finding_episodes::resolved_at.is_null()),
    )
    .set((
        finding_episodes::resolved_at.eq(Some(now)),
        finding_episodes::auto_fixed.eq(auto_fixed),
    ))
    .execute(conn)?;
    alerts::resolve(conn, &alert_key(fp)).map(drop)
}

/// Records that a remedy Outpost applied fixed finding `fp` (audited by the caller,
/// with what it did).
pub fn mark_fixed(conn: &mut PgConnection, fp: &str, now: OffsetDateTime) -> QueryResult<()> {
    close(conn, fp, now, true)
}

/// Resolves as fixed by Outpost every open finding of `check_id` whose subject starts
/// with `subject_prefix` (a remedy applied outside a scan, e.g. the root timer
/// re-applying a drifted control); returns their fingerprints.
pub fn mark_fixed_matching(
    conn: &mut PgConnection,
    check_id: &str,
    subject_prefix: &str,
    now: OffsetDateTime,
) -> QueryResult<Vec<String>> {
    let open: Vec<String> = findings::table
        .filter(findings::check_id.eq(check_id))
        .filter(findings::resolved_at.is_null())
        .select((findings::fingerprint, findings::subject))
        .load::<(String, String)>(conn)?
        .into_iter()
        .filter(|(_, subject)| subject.starts_with(subject_prefix))
        .map(|(fp, _)| fp)
        .collect();
    for fp in &open {
        mark_fixed(conn, fp, now)?;
    }
    Ok(open)
}

/// The version of Outpost that ran the newest scan: a different one now is a deploy.
pub fn last_scanned_version(conn: &mut PgConnection) -> QueryResult<Option<String>> {
    scans::table
        .order(scans::started_at.desc())
        .select(scans::outpost_version)
        .first(conn)
        .optional()
}

/// Open findings, most severe first.
pub fn open(conn: &mut PgConnection) -> QueryResult<Vec<Finding>> {
    let mut open: Vec<Finding> = findings::table
        .filter(findings::resolved_at.is_null())
        .order(findings::first_seen.asc())
        .select(Finding::as_select())
        .load(conn)?;
    open.sort_by_key(|f| std::cmp::Reverse(Severity::parse(&f.severity)));
    Ok(open)
}

/// Open findings per severity, every severity present (zero where none).
pub fn open_by_severity(conn: &mut PgConnection) -> QueryResult<BTreeMap<&'static str, i64>> {
    let counts: Vec<(String, i64)> = findings::table
        .filter(findings::resolved_at.is_null())
        .group_by(findings::severity)
        .select((findings::severity, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(Severity::ALL
        .into_iter()
        .map(|s| {
            let n = counts
                .iter()
                .find(|(name, _)| name == s.as_str())
                .map_or(0, |(_, n)| *n);
            (s.as_str(), n)
        })
        .collect())
}
