//! The scheduler's jobs as the Diagnostics page shows them: each job's schedule, when
//! it last started and finished, and when it runs next.
//!
//! Kept in memory and shared (one `Arc`) by the scheduler, which records runs, and
//! the web app, which reads them. Not in the database, on purpose: these are facts
//! about this process (a restart resets them, as it resets the schedule); the jobs
//! that run every minute would otherwise write a row a minute for nothing; and the
//! runs that matter beyond a restart (backups, drills, scans, checkpoints,
//! verifications) are already recorded in their own tables.

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use time::OffsetDateTime;

use crate::backup::schedule;
use crate::metrics::{JobOutcome, Metrics};

/// A job the scheduler runs: its name for people and its cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    pub cron: String,
}

#[derive(Debug, Clone)]
struct Record {
    planned: Planned,
    last_started: Option<OffsetDateTime>,
    last_finished: Option<OffsetDateTime>,
}

/// One job as shown: what is recorded plus the next time its schedule fires.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub name: String,
    pub cron: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_started: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_finished: Option<OffsetDateTime>,
    /// Started and not finished yet.
    pub running: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_run: Option<OffsetDateTime>,
}

#[derive(Debug)]
pub struct JobRegistry {
    jobs: Mutex<Vec<Record>>,
    /// Where every run is also counted, by outcome, for `/metrics`.
    metrics: Arc<Metrics>,
}

impl JobRegistry {
    pub fn new(planned: Vec<Planned>, metrics: Arc<Metrics>) -> Self {
        let jobs = planned
            .into_iter()
            .map(|planned| Record {
                planned,
                last_started: None,
                last_finished: None,
            })
            .collect();
        Self {
            jobs: Mutex::new(jobs),
            metrics,
        }
    }

    /// Takes a new plan (a schedule changed on the Settings page): jobs still planned
    /// keep what was recorded of their runs; jobs no longer planned go.
    pub fn replan(&self, planned: Vec<Planned>) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let old = std::mem::take(&mut *jobs);
        *jobs = planned
            .into_iter()
            .map(|planned| {
                let kept = old.iter().find(|r| r.planned.name == planned.name);
                Record {
                    last_started: kept.and_then(|r| r.last_started),
                    last_finished: kept.and_then(|r| r.last_finished),
                    planned,
                }
            })
            .collect();
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut Record)) {
        // A panic elsewhere while holding the lock leaves plain timestamps behind:
        // still worth showing, so a poisoned lock is used as it is.
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        match jobs.iter_mut().find(|r| r.planned.name == name) {
            Some(record) => change(record),
            None => tracing::warn!(job = name, "a job ran that the registry does not list"),
        }
    }

    pub fn started(&self, name: &str, at: OffsetDateTime) {
        self.update(name, |r| r.last_started = Some(at));
    }

    pub fn finished(&self, name: &str, at: OffsetDateTime) {
        self.update(name, |r| r.last_finished = Some(at));
    }

    /// Runs `work` as job `name`, recording when it starts and finishes and counting
    /// its outcome (whether it did its work); returns that outcome.
    pub async fn track(&self, name: &str, work: impl Future<Output = bool>) -> bool {
        self.started(name, OffsetDateTime::now_utc());
        let done = work.await;
        self.finished(name, OffsetDateTime::now_utc());
        self.metrics.job_ran(name, JobOutcome::of(done));
        done
    }

    /// Every job, in the order planned, with its next run after `now`.
    pub fn snapshot(&self, now: OffsetDateTime) -> Vec<JobView> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.iter()
            .map(|r| JobView {
                name: r.planned.name.clone(),
                cron: r.planned.cron.clone(),
                last_started: r.last_started,
                last_finished: r.last_finished,
                running: match (r.last_started, r.last_finished) {
                    (Some(started), Some(finished)) => finished < started,
                    (Some(_), None) => true,
                    _ => false,
                },
                next_run: schedule::parse(&r.planned.cron)
                    .ok()
                    .and_then(|cron| schedule::next(&cron, now)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn registry() -> JobRegistry {
        registry_counting(Arc::default())
    }

    fn registry_counting(metrics: Arc<Metrics>) -> JobRegistry {
        JobRegistry::new(
            vec![
                Planned {
                    name: "audit checkpoint".into(),
                    cron: "0 */5 * * * *".into(),
                },
                Planned {
                    name: "backup (daily)".into(),
                    cron: "0 30 2 * * *".into(),
                },
            ],
            metrics,
        )
    }

    #[test]
    fn next_runs_follow_each_schedule() {
        let now = datetime!(2026-12-06 10:01:30 UTC);
        let jobs = registry().snapshot(now);
        assert_eq!(jobs[0].next_run, Some(datetime!(2026-12-06 10:05:00 UTC)));
        assert_eq!(jobs[1].next_run, Some(datetime!(2026-12-07 02:30:00 UTC)));
        assert!(jobs.iter().all(|j| j.last_started.is_none() && !j.running));
    }

    #[test]
    fn runs_are_recorded_and_a_started_job_is_running_until_it_finishes() {
        let jobs = registry();
        let started = datetime!(2026-12-06 10:05:00 UTC);
        jobs.started("audit checkpoint", started);
        let view = &jobs.snapshot(started)[0];
        assert_eq!(view.last_started, Some(started));
        assert!(view.running);
        jobs.finished("audit checkpoint", started + time::Duration::SECOND);
        let view = &jobs.snapshot(started)[0];
        assert!(!view.running);
        assert_eq!(view.last_finished, Some(started + time::Duration::SECOND));
        // An unknown job changes nothing.
        jobs.started("no such job", started);
        assert!(jobs.snapshot(started)[1].last_started.is_none());
    }

    #[tokio::test]
    async fn track_records_both_ends_and_counts_the_outcome() {
        let metrics = Arc::new(Metrics::default());
        let jobs = registry_counting(Arc::clone(&metrics));
        assert!(jobs.track("backup (daily)", async { true }).await);
        assert!(!jobs.track("backup (daily)", async { false }).await);
        let view = &jobs.snapshot(OffsetDateTime::now_utc())[1];
        assert!(view.last_started.is_some() && view.last_finished.is_some());
        assert!(!view.running);
        let empty = crate::metrics::Snapshot {
            backup_age: None,
            open_findings: Default::default(),
        };
        let counted = metrics.render(&empty).unwrap();
        for outcome in ["success", "failure"] {
            let series =
                format!(r#"outpost_job_runs_total{{job="backup (daily)",outcome="{outcome}"}} 1"#);
            assert!(counted.contains(&series), "{counted}");
        }
    }
}
