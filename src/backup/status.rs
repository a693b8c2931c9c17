//! How the server's backups stand, for the dashboard and the API: recent runs per
//! target with their last drill, the next scheduled runs, open backup alerts, and one
//! overall state. Read from the database alone: listing a target (one S3 round trip
//! per backup) on every page view would make the page slow and the bucket bill grow,
//! and each run already recorded what it stored.

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::runs::Trigger;
use super::{schedule, targets};
use crate::config::Config;
use crate::db::schema::{backup_drills, backup_runs};
use crate::notify::alerts::{self, Alert};

/// Runs shown per target: a month of dailies.
pub const RECENT_RUNS: i64 = 30;

/// A daily backup counts as late after a day plus slack for a slow run or a reboot.
pub const DAILY_GRACE: Duration = Duration::from_secs(26 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Green,
    Amber,
    Red,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    /// Why the state is not green, one sentence each; empty when green.
    pub reasons: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_complete_at: Option<OffsetDateTime>,
    pub last_drill: Option<Drill>,
    /// A backup in progress (or left `running` by a process that died, until the next
    /// start marks it interrupted).
    pub running: Option<Run>,
    pub targets: Vec<TargetStatus>,
    pub next_runs: Vec<NextRun>,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub name: String,
    /// Scheduled backups go here.
    pub scheduled: bool,
    /// Newest first, at most [`RECENT_RUNS`].
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = backup_runs)]
pub struct RunRow {
    pub id: Uuid,
    pub target: String,
    pub trigger: String,
    pub catch_up: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// `running`, `complete`, `failed` or `interrupted`.
    pub outcome: String,
    pub stored_bytes: Option<i64>,
    pub plaintext_bytes: Option<i64>,
    pub error: Option<String>,
    /// Removed by retention: listed, but nothing is left to verify or download.
    #[serde(with = "time::serde::rfc3339::option")]
    pub pruned_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    #[serde(flatten)]
    pub row: RunRow,
    pub duration_ms: Option<u64>,
    /// The newest drill of this backup.
    pub drill: Option<Drill>,
}

impl Run {
    /// Still on its target, so it can be drilled or downloaded.
    pub fn is_available(&self) -> bool {
        self.row.outcome == "complete" && self.row.pruned_at.is_none()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = backup_drills)]
pub struct Drill {
    pub id: i64,
    pub backup_id: Uuid,
    pub target: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// `running`, `passed` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NextRun {
    pub trigger: &'static str,
    pub target: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

/// Said in place of an error's text to those who do not run backups: errors name
/// paths, hosts and stores, which are the operators' business.
pub const DETAIL_WITHHELD: &str = "details are shown to Owners and Admins";

impl Status {
    /// The status without error texts, for members who cannot act on them.
    pub fn without_details(mut self) -> Self {
        let withhold = |text: &mut Option<String>| {
            if text.is_some() {
                *text = Some(DETAIL_WITHHELD.to_owned());
            }
        };
        for run in self.targets.iter_mut().flat_map(|t| t.runs.iter_mut()) {
            withhold(&mut run.row.error);
            if let Some(drill) = &mut run.drill {
                withhold(&mut drill.error);
            }
        }
        if let Some(run) = &mut self.running {
            withhold(&mut run.row.error);
        }
        if let Some(drill) = &mut self.last_drill {
            withhold(&mut drill.error);
        }
        for alert in &mut self.alerts {
            alert.detail = DETAIL_WITHHELD.to_owned();
        }
        self
    }
}

/// The status as of `now`.
pub fn load(conn: &mut PgConnection, config: &Config, now: OffsetDateTime) -> QueryResult<Status> {
    // One snapshot for every query: a run that fails between two of them would
    // otherwise show as still running beside the alert its failure raised.
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(|conn| load_in_snapshot(conn, config, now))
}

fn load_in_snapshot(
    conn: &mut PgConnection,
    config: &Config,
    now: OffsetDateTime,
) -> QueryResult<Status> {
    let settings = &config.backup;
    let mut target_statuses = Vec::new();
    for name in targets::names(settings) {
        let rows: Vec<RunRow> = backup_runs::table
            .filter(backup_runs::target.eq(&name))
            .order(backup_runs::started_at.desc())
            .limit(RECENT_RUNS)
            .select(RunRow::as_select())
            .load(conn)?;
        target_statuses.push((name, rows));
    }
    let ids: Vec<Uuid> = target_statuses
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|r| r.id))
        .collect();
    let mut drills: HashMap<Uuid, Drill> = HashMap::new();
    // Newest first, so the first seen per backup is its latest.
    for drill in backup_drills::table
        .filter(backup_drills::backup_id.eq_any(&ids))
        .order(backup_drills::started_at.desc())
        .select(Drill::as_select())
        .load(conn)?
    {
        drills.entry(drill.backup_id).or_insert(drill);
    }
    let last_drill: Option<Drill> = backup_drills::table
        .filter(backup_drills::outcome.ne("running"))
        .order(backup_drills::started_at.desc())
        .select(Drill::as_select())
        .first(conn)
        .optional()?;
    let last_complete_at = last_complete_at(conn)?;
    let alerts = alerts::open_with_prefix(conn, "backup.")?;

    let targets: Vec<TargetStatus> = target_statuses
        .into_iter()
        .map(|(name, rows)| TargetStatus {
            scheduled: name == settings.target,
            runs: rows
                .into_iter()
                .map(|row| Run {
                    duration_ms: row.finished_at.map(|end| {
                        u64::try_from((end - row.started_at).whole_milliseconds()).unwrap_or(0)
                    }),
                    drill: drills.remove(&row.id),
                    row,
                })
                .collect(),
            name,
        })
        .collect();
    let running = targets
        .iter()
        .flat_map(|t| t.runs.iter())
        .filter(|r| r.row.outcome == "running")
        .max_by_key(|r| r.row.started_at)
        .cloned();
    let facts = Facts {
        alerts: alerts
            .iter()
            .map(|a| (a.key.clone(), a.summary.clone()))
            .collect(),
        newest_outcomes: targets
            .iter()
            .filter_map(|t| {
                let newest = t.runs.iter().find(|r| r.row.outcome != "running")?;
                Some((t.name.clone(), newest.row.outcome.clone()))
            })
            .collect(),
        last_complete_at,
        last_drill_at: last_drill.as_ref().map(|d| d.started_at),
        daily_scheduled: !settings.daily.trim().is_empty(),
    };
    let (state, reasons) = assess(&facts, now);
    Ok(Status {
        state,
        reasons,
        last_complete_at,
        last_drill,
        running,
        targets,
        next_runs: next_runs(config, now),
        alerts,
    })
}

/// When each enabled tier fires next, and where its backup goes.
/// When the newest complete backup that is still on its target finished.
pub fn last_complete_at(conn: &mut PgConnection) -> QueryResult<Option<OffsetDateTime>> {
    backup_runs::table
        .filter(backup_runs::outcome.eq("complete"))
        .filter(backup_runs::pruned_at.is_null())
        .select(diesel::dsl::max(backup_runs::finished_at))
        .first(conn)
}

pub fn next_runs(config: &Config, now: OffsetDateTime) -> Vec<NextRun> {
    Trigger::SCHEDULED
        .iter()
        .filter_map(|&trigger| {
            let cron = trigger.cron(config);
            if cron.trim().is_empty() {
                return None;
            }
            Some(NextRun {
                trigger: trigger.as_str(),
                target: config.backup.target.clone(),
                // A bad expression is refused when the configuration loads; none here.
                at: schedule::parse(cron)
                    .ok()
                    .and_then(|c| schedule::next(&c, now)),
            })
        })
        .collect()
}

/// What the state is decided from.
#[derive(Debug, Default)]
struct Facts {
    /// Keys and summaries of the open backup alerts.
    alerts: Vec<(String, String)>,
    /// Per target, the outcome of its newest finished run.
    newest_outcomes: Vec<(String, String)>,
    last_complete_at: Option<OffsetDateTime>,
    /// When the newest finished drill started.
    last_drill_at: Option<OffsetDateTime>,
    daily_scheduled: bool,
}

/// Red needs a person now; amber needs one soon (a late backup, an untested one).
fn assess(facts: &Facts, now: OffsetDateTime) -> (State, Vec<String>) {
    let mut red: Vec<String> = facts.alerts.iter().map(|(_, s)| s.clone()).collect();
    let alerted = |key: String| facts.alerts.iter().any(|(k, _)| *k == key);
    for (target, outcome) in &facts.newest_outcomes {
        match outcome.as_str() {
            // Its alert already says so.
            "failed" if alerted(super::runs::failure_alert(target)) => {}
            "failed" => red.push(format!("The last backup to {target} failed.")),
            "interrupted" => red.push(format!(
                "The last backup to {target} was interrupted before it finished."
            )),
            _ => {}
        }
    }
    if !red.is_empty() {
        return (State::Red, red);
    }
    let mut amber = Vec::new();
    match facts.last_complete_at {
        None => amber.push("No backup has been taken yet.".to_owned()),
        Some(last) => {
            if facts.daily_scheduled && now - last > DAILY_GRACE {
                amber.push(format!(
                    "No complete backup in the last {} hours, though one runs daily.",
                    DAILY_GRACE.as_secs() / 3600
                ));
            }
            if facts.last_drill_at.is_none_or(|drill| drill < last) {
                amber.push("The newest backup has not been through a restore drill yet.".into());
            }
        }
    }
    if amber.is_empty() {
        (State::Green, amber)
    } else {
        (State::Amber, amber)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-06 10:00:00 UTC);

    fn healthy() -> Facts {
        Facts {
            newest_outcomes: vec![("local".into(), "complete".into())],
            last_complete_at: Some(datetime!(2026-12-06 02:31:00 UTC)),
            last_drill_at: Some(datetime!(2026-12-06 02:32:00 UTC)),
            daily_scheduled: true,
            ..Facts::default()
        }
    }

    #[test]
    fn a_fresh_drilled_backup_is_green() {
        assert_eq!(assess(&healthy(), NOW), (State::Green, vec![]));
    }

    #[test]
    fn an_open_alert_or_a_failed_newest_run_is_red() {
        let mut facts = healthy();
        facts.alerts = vec![("backup.failed.s3".into(), "Backup to s3 failed".into())];
        assert_eq!(assess(&facts, NOW).0, State::Red);
        let mut facts = healthy();
        facts
            .newest_outcomes
            .push(("s3".into(), "interrupted".into()));
        let (state, reasons) = assess(&facts, NOW);
        assert_eq!(state, State::Red);
        assert!(reasons[0].contains("s3 was interrupted"), "{reasons:?}");
    }

    #[test]
    fn a_late_or_untested_backup_is_amber() {
        let mut late = healthy();
        late.last_complete_at = Some(NOW - Duration::from_secs(27 * 3600));
        late.last_drill_at = late.last_complete_at;
        assert_eq!(assess(&late, NOW).0, State::Amber);
        // Without a daily schedule, nobody promised a backup a day.
        late.daily_scheduled = false;
        assert_eq!(assess(&late, NOW).0, State::Green);

        let mut untested = healthy();
        untested.last_drill_at = Some(datetime!(2026-12-05 02:32:00 UTC));
        assert_eq!(assess(&untested, NOW).0, State::Amber);
        untested.last_drill_at = None;
        assert_eq!(assess(&untested, NOW).0, State::Amber);

        let never = Facts::default();
        assert_eq!(
            assess(&never, NOW),
            (State::Amber, vec!["No backup has been taken yet.".into()])
        );
    }
}
