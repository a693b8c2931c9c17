//! Periodic work inside `outpost serve`: the API response counts flushed every minute,
//! signed audit checkpoints every five minutes,
//! an hourly verification of the whole log, hourly purges of expired sessions and
//! forgotten sign-in failures, an hourly step of a cancellation in force (and removal
//! of expired exports), a daily check that the vault key is not due for rotation,
//! the backup schedules (see `backup::scheduled`), the nightly security scan (see
//! `scan::scheduled`), a scan when a skill directory changes (`scan::watch`) and the
//! health reports to the fleet controller (`fleet::reporter`) and the webhook delivery
//! worker (`notify::webhooks::delivery`). Jobs
//! run the blocking database work on the blocking pool and log their outcome; a
//! failing run is logged loudly and retried at the next tick. Every cron job is listed
//! by [`planned`] and its runs recorded in the [`registry::JobRegistry`] the dashboard's
//! Diagnostics page reads.

pub mod registry;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use crate::api_traffic::{self, ApiTraffic};
use crate::audit::checkpoint::Signer;
use crate::audit::{context, log, query};
use crate::backup::jobs::BackupJobs;
use crate::backup::runs::Trigger;
use crate::cancellation::lifecycle::{self, Step};
use crate::config::Config;
use crate::db::Db;
use crate::export::store;
use crate::identity::session::{self, SessionPolicy};
use crate::identity::throttle::{self, ThrottlePolicy};
use crate::identity::user;
use crate::notify::{Mailer, messages, webhooks};
use crate::scan::requests::{Pace, ScanRequests};
use crate::vault::{Vault, reminder};
use registry::{JobRegistry, Planned};

const CHECKPOINT_EVERY: &str = "0 */5 * * * *";
const API_COUNTS_EVERY_MINUTE: &str = "30 * * * * *";
const PURGE_HOURLY: &str = "0 17 * * * *";
const VERIFY_HOURLY: &str = "0 41 * * * *";
const KEY_REMINDER_DAILY: &str = "0 3 7 * * *";
const CANCELLATION_HOURLY: &str = "0 29 * * * *";
const HEARTBEAT_EVERY_MINUTE: &str = "45 * * * * *";

// The jobs' names, as the Diagnostics page lists them.
const JOB_CHECKPOINT: &str = "audit checkpoint";
const JOB_API_COUNTS: &str = "API response counts";
const JOB_VERIFY: &str = "audit log verification";
const JOB_PURGE: &str = "purge of expired records";
const JOB_KEY_REMINDER: &str = "vault key rotation reminder";
const JOB_HEARTBEAT: &str = "scheduler heartbeat";
const JOB_CANCELLATION: &str = "cancellation and export expiry";
const JOB_SCAN: &str = "nightly security scan";

pub fn backup_job(trigger: Trigger) -> String {
    format!("backup ({})", trigger.as_str())
}

/// Every cron job `start` schedules for `config`, in the order it schedules them.
pub fn planned(config: &Config) -> Vec<Planned> {
    let job = |name: &str, cron: &str| Planned {
        name: name.to_owned(),
        cron: cron.trim().to_owned(),
    };
    let mut jobs = vec![
        job(JOB_CHECKPOINT, CHECKPOINT_EVERY),
        job(JOB_API_COUNTS, API_COUNTS_EVERY_MINUTE),
        job(JOB_VERIFY, VERIFY_HOURLY),
        job(JOB_PURGE, PURGE_HOURLY),
        job(JOB_KEY_REMINDER, KEY_REMINDER_DAILY),
        job(JOB_HEARTBEAT, HEARTBEAT_EVERY_MINUTE),
    ];
    for trigger in Trigger::SCHEDULED {
        let cron = trigger.cron(config);
        if !cron.trim().is_empty() {
            jobs.push(job(&backup_job(trigger), cron));
        }
    }
    if !config.scan.nightly.trim().is_empty() {
        jobs.push(job(JOB_SCAN, &config.scan.nightly));
    }
    jobs.push(job(JOB_CANCELLATION, CANCELLATION_HOURLY));
    jobs
}

/// The scheduler's pulse, for the fleet report's `scheduler_alive`: a job beats it
/// every minute, so a stalled or dead scheduler shows as silence.
#[derive(Debug)]
pub struct Heartbeat(AtomicI64);

impl Heartbeat {
    /// Beats missed before the scheduler counts as dead.
    const SILENCE: i64 = 3 * 60;

    pub fn new() -> Self {
        let heartbeat = Self(AtomicI64::new(0));
        heartbeat.beat();
        heartbeat
    }

    pub fn beat(&self) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.0.store(now, Ordering::Relaxed);
    }

    pub fn alive(&self) -> bool {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        now - self.0.load(Ordering::Relaxed) <= Self::SILENCE
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

/// What the background work of `outpost serve` (backups, scans) runs with; cheap to
/// clone into each job.
#[derive(Debug, Clone)]
pub struct Services {
    /// The configuration in force (the Settings page changes it while running).
    pub config: crate::settings::live::LiveConfig,
    pub db: Db,
    pub vault: Arc<Vault>,
    pub mailer: Arc<Mailer>,
}

#[derive(Debug)]
pub struct Periodic {
    pub db: Db,
    pub signer: Signer,
    pub origin: String,
    pub checkpoint_file: PathBuf,
    pub stream_file: Option<PathBuf>,
    pub sessions: SessionPolicy,
    pub throttle: ThrottlePolicy,
    pub vault: Arc<Vault>,
    pub vault_rotation_interval: Duration,
    pub mailer: Arc<Mailer>,
    pub server_name: String,
    /// For the cancellation's export (database, data directory).
    pub config: Arc<Config>,
    /// The web server's API response counts, flushed every minute.
    pub api_traffic: Arc<ApiTraffic>,
    /// Where each job's runs are recorded (the app state shares it).
    pub jobs: Arc<JobRegistry>,
}

/// Each job returns whether its run did its work: the job-run counts of `/metrics`.
impl Periodic {
    pub async fn checkpoint(self: &Arc<Self>) -> bool {
        let this = Arc::clone(self);
        let outcome = self
            .db
            .run(move |conn| {
                let context = context::current().ok_or_else(|| {
                    log::LogError::Inconsistent("the audit context is not installed".into())
                })?;
                log::checkpoint(
                    conn,
                    context,
                    &this.signer,
                    &this.origin,
                    &this.checkpoint_file,
                    this.stream_file.as_deref(),
                )
            })
            .await;
        match outcome {
            Ok(head) => {
                tracing::info!(entries = head.size, "audit checkpoint signed");
                true
            }
            Err(error) => {
                tracing::error!(%error, "audit checkpoint failed");
                false
            }
        }
    }

    /// Rebuilds and checks the whole log; the result shows on the dashboard, and any
    /// problem is logged as an error.
    pub async fn verify(self: &Arc<Self>) -> bool {
        let this = Arc::clone(self);
        let outcome = self
            .db
            .run(move |conn| {
                let context = context::current().ok_or_else(|| {
                    log::LogError::Inconsistent("the audit context is not installed".into())
                })?;
                let report = log::verify(conn, context, &this.signer.verifier())?;
                query::record_verification(conn, &report)?;
                Ok::<_, log::LogError>(report)
            })
            .await;
        match outcome {
            Ok(report) if report.is_clean() => {
                tracing::info!(entries = report.entries, "audit log verified");
                true
            }
            Ok(report) => {
                tracing::error!(problems = report.problems.len(), first = ?report.problems.first(), "audit log does not verify");
                false
            }
            Err(error) => {
                tracing::error!(%error, "audit verification failed to run");
                false
            }
        }
    }

    /// Reminds (audit entry, log, email to every Owner) when the vault key is due for
    /// rotation; repeated weekly while it stays due.
    pub async fn remind_key_rotation(self: &Arc<Self>) -> bool {
        let this = Arc::clone(self);
        let outcome = self
            .db
            .run(move |conn| {
                let ring = this.vault.keyring();
                let now = time::OffsetDateTime::now_utc();
                let due = reminder::remind(conn, &ring, this.vault_rotation_interval, now)?;
                let owners = match &due {
                    Some(_) => user::owners(conn)?,
                    None => Vec::new(),
                };
                Ok::<_, crate::db::DbError>(due.map(|d| (d, owners)))
            })
            .await;
        let (due, owners) = match outcome {
            Ok(Some(found)) => found,
            Ok(None) => return true,
            Err(error) => {
                tracing::error!(%error, "key rotation check failed");
                return false;
            }
        };
        tracing::warn!(kek = due.kek, reasons = ?due.reasons, "the vault key is due for rotation: run `outpost keys rotate`");
        for owner in owners {
            let email =
                messages::key_rotation_due(&owner.email, &self.server_name, due.kek, &due.reasons);
            if let Err(error) = self.mailer.send(&email).await {
                tracing::warn!(%error, "key rotation reminder not emailed");
            }
        }
        true
    }

    /// Prepares the cancellation's export at its date and destroys the data when its
    /// window closes (see `cancellation::lifecycle`); removes expired exports.
    pub async fn cancellation(self: &Arc<Self>) -> bool {
        let this = Arc::clone(self);
        let outcome = self
            .db
            .run(move |conn| {
                let now = time::OffsetDateTime::now_utc();
                let expired = store::remove_expired(conn, &this.config.data_dir, now)?;
                let step = lifecycle::check(conn, &this.config, &this.vault, now)?;
                Ok::<_, lifecycle::LifecycleError>((expired, step))
            })
            .await;
        match outcome {
            Ok((expired, step)) => {
                if expired > 0 {
                    tracing::info!(expired, "expired exports removed");
                }
                match step {
                    Step::Nothing => {}
                    Step::Exported(record) => {
                        tracing::info!(export = %record.id, status = record.status().as_str(), "cancellation export prepared")
                    }
                    Step::Destroyed(report) => {
                        tracing::warn!(rows = ?report.rows, export_files = report.export_files, backup_files = report.backup_files, "export window closed: the client's data was destroyed")
                    }
                }
                true
            }
            Err(error) => {
                tracing::error!(%error, "cancellation check failed");
                false
            }
        }
    }

    /// Writes the API response counts gathered since the last flush.
    pub async fn flush_api_counts(self: &Arc<Self>) -> bool {
        let traffic = Arc::clone(&self.api_traffic);
        let outcome = self
            .db
            .run(move |conn| traffic.flush(conn).map_err(crate::db::DbError::from))
            .await;
        if let Err(error) = &outcome {
            tracing::error!(%error, "API response counts not flushed; kept for the next try");
        }
        outcome.is_ok()
    }

    async fn purge(self: &Arc<Self>) -> bool {
        let this = Arc::clone(self);
        let outcome = self
            .db
            .run(move |conn| {
                let now = time::OffsetDateTime::now_utc();
                let sessions = session::purge_expired(conn, &this.sessions)?;
                let failures = throttle::purge(conn, &this.throttle, now)?;
                let api_minutes = api_traffic::purge(conn, now - api_traffic::RETENTION)?;
                Ok::<_, crate::db::DbError>((sessions, failures, api_minutes))
            })
            .await;
        match outcome {
            Ok((sessions, failures, api_minutes)) => {
                tracing::info!(sessions, failures, api_minutes, "expired records purged");
                true
            }
            Err(error) => {
                tracing::error!(%error, "purge failed");
                false
            }
        }
    }
}

/// A periodic job: resolves to whether its run did its work.
type Task = fn(Arc<Periodic>) -> Pin<Box<dyn Future<Output = bool> + Send>>;

/// Runs `task` on `cron`, counting each run under `name`.
async fn schedule(
    scheduler: &JobScheduler,
    (name, cron): (&'static str, &str),
    periodic: &Arc<Periodic>,
    task: Task,
) -> Result<(), JobSchedulerError> {
    let periodic = Arc::clone(periodic);
    let job = Job::new_async(cron, move |_, _| {
        let periodic = Arc::clone(&periodic);
        Box::pin(async move {
            let jobs = Arc::clone(&periodic.jobs);
            jobs.track(name, task(periodic)).await;
        })
    })?;
    scheduler.add(job).await.map(drop)
}

/// Adds `work` as the cron job `name`, its runs recorded in `jobs`.
async fn add_tracked<F, Fut>(
    scheduler: &JobScheduler,
    jobs: &Arc<JobRegistry>,
    name: String,
    cron: &str,
    work: F,
) -> Result<(), JobSchedulerError>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let jobs = Arc::clone(jobs);
    let work = Arc::new(work);
    let job = Job::new_async(cron, move |_, _| {
        let (jobs, work, name) = (Arc::clone(&jobs), Arc::clone(&work), name.clone());
        Box::pin(async move {
            jobs.track(&name, work()).await;
        })
    })?;
    scheduler.add(job).await.map(drop)
}

/// Starts the jobs; the scheduler runs until the process ends.
/// `scans` is where the app's requests for a scan arrive (see `scan::requests`).
pub async fn start(
    periodic: Arc<Periodic>,
    live: crate::settings::live::LiveConfig,
    scans: (ScanRequests, mpsc::Receiver<&'static str>),
) -> Result<(JobScheduler, BackupJobs), JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    schedule(
        &scheduler,
        (JOB_CHECKPOINT, CHECKPOINT_EVERY),
        &periodic,
        |p| Box::pin(async move { p.checkpoint().await }),
    )
    .await?;
    schedule(
        &scheduler,
        (JOB_API_COUNTS, API_COUNTS_EVERY_MINUTE),
        &periodic,
        |p| Box::pin(async move { p.flush_api_counts().await }),
    )
    .await?;
    schedule(&scheduler, (JOB_VERIFY, VERIFY_HOURLY), &periodic, |p| {
        Box::pin(async move { p.verify().await })
    })
    .await?;
    schedule(&scheduler, (JOB_PURGE, PURGE_HOURLY), &periodic, |p| {
        Box::pin(async move { p.purge().await })
    })
    .await?;
    schedule(
        &scheduler,
        (JOB_KEY_REMINDER, KEY_REMINDER_DAILY),
        &periodic,
        |p| Box::pin(async move { p.remind_key_rotation().await }),
    )
    .await?;
    let heartbeat = Arc::new(Heartbeat::new());
    {
        let heartbeat = Arc::clone(&heartbeat);
        add_tracked(
            &scheduler,
            &periodic.jobs,
            JOB_HEARTBEAT.to_owned(),
            HEARTBEAT_EVERY_MINUTE,
            move || {
                heartbeat.beat();
                async { true }
            },
        )
        .await?;
    }
    let services = Services {
        config: live,
        db: periodic.db.clone(),
        vault: periodic.vault.clone(),
        mailer: periodic.mailer.clone(),
    };
    let backup_jobs = BackupJobs::register(
        scheduler.clone(),
        services.clone(),
        Arc::clone(&periodic.jobs),
    )
    .await?;
    let nightly = periodic.config.scan.nightly.trim().to_owned();
    if !nightly.is_empty() {
        let services = services.clone();
        add_tracked(
            &scheduler,
            &periodic.jobs,
            JOB_SCAN.to_owned(),
            &nightly,
            move || {
                let services = services.clone();
                async move { services.scan("nightly").await }
            },
        )
        .await?;
    }
    schedule(
        &scheduler,
        (JOB_CANCELLATION, CANCELLATION_HOURLY),
        &periodic,
        |p| Box::pin(async move { p.cancellation().await }),
    )
    .await?;
    // Nothing is preparing an export in this process yet: any marked so was cut short.
    let interrupted = periodic
        .db
        .run(|conn| store::fail_interrupted(conn).map_err(crate::db::DbError::from))
        .await;
    if let Err(error) = interrupted {
        tracing::error!(%error, "cannot mark interrupted exports");
    }
    scheduler.start().await?;
    // A fresh start signs at once, so a restart never leaves a long unsigned stretch.
    periodic
        .jobs
        .track(JOB_CHECKPOINT, periodic.checkpoint())
        .await;
    periodic
        .jobs
        .track(JOB_KEY_REMINDER, periodic.remind_key_rotation())
        .await;
    // In the background: a catch-up backup or a deploy's scan must not hold up serving.
    tokio::spawn(webhooks::delivery::run(
        periodic.db.clone(),
        periodic.vault.clone(),
    ));
    let (requests, receiver) = scans;
    if let Some(watch) = services.skill_watch() {
        tokio::spawn(watch.run(requests.clone()));
    }
    tokio::spawn(services.clone().start_fleet_reports(heartbeat));
    tokio::spawn(async move {
        services.start_backups().await;
        services.start_scans().await;
        if !services.config.get().scan.nightly.trim().is_empty() {
            services
                .serve_scan_requests(requests, receiver, Pace::default())
                .await;
        }
    });
    // A server that was down at the date (or when the window closed) catches up now.
    periodic
        .jobs
        .track(JOB_CANCELLATION, periodic.cancellation())
        .await;
    Ok((scheduler, backup_jobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_planned_job_has_a_schedule_the_scheduler_reads() {
        let config = Config::default();
        let jobs = planned(&config);
        for job in &jobs {
            crate::backup::schedule::parse(&job.cron)
                .unwrap_or_else(|e| panic!("{}: {e}", job.name));
        }
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert!(names.contains(&JOB_CHECKPOINT) && names.contains(&JOB_CANCELLATION));
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "names are unique: {names:?}");
    }

    #[test]
    fn disabled_backups_and_scans_are_not_listed() {
        let mut config = Config::default();
        config.backup.daily = String::new();
        config.scan.nightly = " ".into();
        let names: Vec<String> = planned(&config).into_iter().map(|j| j.name).collect();
        assert!(!names.contains(&backup_job(Trigger::Daily)), "{names:?}");
        assert!(!names.iter().any(|n| n == JOB_SCAN), "{names:?}");
    }
}
