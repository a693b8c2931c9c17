//! The scheduler's backup jobs, one per scheduled tier, registered at start and again
//! whenever the schedules or the target change on the Settings page, so a change
//! applies without a restart.

use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use uuid::Uuid;

use std::sync::Arc;

use super::runs::Trigger;
use crate::scheduler::Services;
use crate::scheduler::registry::JobRegistry;

/// The registered backup jobs of one scheduler.
pub struct BackupJobs {
    scheduler: JobScheduler,
    services: Services,
    /// Where runs are recorded, and the plan shown on the Diagnostics page.
    registry: Arc<JobRegistry>,
    registered: Mutex<Vec<(Trigger, Uuid)>>,
}

impl std::fmt::Debug for BackupJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupJobs").finish_non_exhaustive()
    }
}

impl BackupJobs {
    /// Registers a job for each tier with a schedule in `services`' configuration.
    pub async fn register(
        scheduler: JobScheduler,
        services: Services,
        registry: Arc<JobRegistry>,
    ) -> Result<Self, JobSchedulerError> {
        let jobs = Self {
            scheduler,
            services,
            registry,
            registered: Mutex::new(Vec::new()),
        };
        jobs.reschedule().await?;
        Ok(jobs)
    }

    /// Replaces the registered jobs with ones for the schedules configured now. Each
    /// run reads the target and the rest from the configuration at its own start.
    pub async fn reschedule(&self) -> Result<(), JobSchedulerError> {
        let mut registered = self.registered.lock().await;
        for (_, id) in registered.drain(..) {
            self.scheduler.remove(&id).await?;
        }
        let config = self.services.config.get();
        self.registry.replan(crate::scheduler::planned(&config));
        for trigger in Trigger::SCHEDULED {
            let cron = trigger.cron(&config).trim().to_owned();
            if cron.is_empty() {
                continue;
            }
            let (services, registry) = (self.services.clone(), Arc::clone(&self.registry));
            let job = Job::new_async(cron.as_str(), move |_, _| {
                let (services, registry) = (services.clone(), Arc::clone(&registry));
                Box::pin(async move {
                    let name = crate::scheduler::backup_job(trigger);
                    registry
                        .track(&name, services.run_backup(trigger, false))
                        .await;
                })
            })?;
            registered.push((trigger, self.scheduler.add(job).await?));
        }
        Ok(())
    }

    /// When the scheduler will next start each registered tier.
    pub async fn next_runs(&self) -> Vec<(Trigger, Option<OffsetDateTime>)> {
        let registered = self.registered.lock().await.clone();
        let mut scheduler = self.scheduler.clone();
        let mut next = Vec::new();
        for (trigger, id) in registered {
            let at = scheduler
                .next_tick_for_job(id)
                .await
                .ok()
                .flatten()
                .and_then(|at| OffsetDateTime::from_unix_timestamp(at.timestamp()).ok());
            next.push((trigger, at));
        }
        next
    }
}
