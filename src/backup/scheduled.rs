//! Backups inside `outpost serve`: each scheduled run is followed by its restore drill
//! (unless `backup.drill = false`) and by retention, and whatever goes wrong is an
//! alert told to the Owners and Admins. At start, runs left `running` by a process
//! that died are marked interrupted, and a run the stopped server missed is caught up.

use time::OffsetDateTime;

use super::create::Quiet;
use super::error::BackupError;
use super::restore::Keys;
use super::runs::{Backups, Trigger};
use crate::audit::Actor;
use crate::notify::alerts;
use crate::scheduler::Services;

impl Services {
    /// One scheduled (or caught-up) run: backup, drill, retention, then alerts told.
    /// Returns whether the backup was made (for the job-run counts): one skipped
    /// because another was running made none.
    pub async fn run_backup(&self, trigger: Trigger, catch_up: bool) -> bool {
        let this = self.clone();
        let outcome =
            tokio::task::spawn_blocking(move || this.run_backup_blocking(trigger, catch_up)).await;
        let made = match outcome {
            Ok(Ok(())) => true,
            Ok(Err(BackupError::Busy)) => {
                tracing::warn!(
                    trigger = trigger.as_str(),
                    "scheduled backup skipped: another backup is running"
                );
                false
            }
            // Recorded, audited and alerted where it happened; logged there too. The
            // security loop looks again at once: a failing backup is often a symptom.
            Ok(Err(_)) => {
                self.scan("backup_failed").await;
                false
            }
            Err(error) => {
                tracing::error!(%error, "scheduled backup task failed");
                false
            }
        };
        let config = self.config.get();
        alerts::deliver_routed(&self.db, &self.mailer, &config.server_name, &config.notify).await;
        made
    }

    fn run_backup_blocking(&self, trigger: Trigger, catch_up: bool) -> Result<(), BackupError> {
        // One configuration for the whole run, even if a setting changes meanwhile.
        let config = self.config.get();
        let backups = Backups {
            config: &config,
            db: &self.db,
            vault: &self.vault,
        };
        let target = &config.backup.target;
        let mut lock = backups.lock()?;
        let report = backups.run_locked(
            &mut lock,
            target,
            trigger,
            catch_up,
            Actor::System,
            &mut Quiet,
        )?;
        if config.backup.drill {
            // A backup sealed to a recipient is drilled now, while its content key is
            // still in memory: the server can never read it again.
            let keys = Keys {
                content: report.content_key.clone(),
                ..backups.keys(None)
            };
            // A failed drill is recorded and alerted; retention still runs, since
            // it never removes the newest backup.
            let _ = backups.drill_locked(
                &mut lock,
                target,
                &report.id.to_string(),
                &keys,
                Actor::System,
                &mut Quiet,
            );
        }
        backups.prune(target, false, Actor::System)?;
        Ok(())
    }

    /// At start: interrupted runs marked, a missed run caught up.
    pub async fn start_backups(&self) {
        let this = self.clone();
        let owed = tokio::task::spawn_blocking(move || {
            let backups = Backups {
                config: &this.config.get(),
                db: &this.db,
                vault: &this.vault,
            };
            let interrupted = backups.mark_interrupted()?;
            if interrupted > 0 {
                tracing::warn!(
                    runs = interrupted,
                    "backups interrupted by a stop were marked as such"
                );
            }
            backups.owed(OffsetDateTime::now_utc())
        })
        .await;
        match owed {
            Ok(Ok(Some(trigger))) => {
                tracing::info!(
                    trigger = trigger.as_str(),
                    "catching up a backup missed while the server was down"
                );
                self.run_backup(trigger, true).await;
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => tracing::error!(%error, "missed backups could not be checked"),
            Err(error) => tracing::error!(%error, "missed backups could not be checked"),
        }
    }
}
