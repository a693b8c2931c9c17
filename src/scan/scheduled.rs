//! The security loop inside `outpost serve`: nightly, at the first start of a new
//! version (a deploy), and after a backup fails. Findings that are urgent raise alerts,
//! told to the Owners and Admins at once.

use time::OffsetDateTime;

use super::{Context, checks, findings};
use crate::notify::alerts;
use crate::scheduler::Services;

impl Services {
    /// One scan with every check, recorded under `trigger`.
    /// Returns whether the scan ran to the end (for the job-run counts).
    pub async fn scan(&self, trigger: &'static str) -> bool {
        let this = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let started = OffsetDateTime::now_utc();
            let cx = Context {
                config: &this.config.get(),
                db: &this.db,
                vault: &this.vault,
                now: started,
            };
            let runs = super::run(&cx, &checks::all());
            let mut conn = this.db.get()?;
            findings::record(
                &mut conn,
                &runs,
                trigger,
                started,
                OffsetDateTime::now_utc(),
            )
            .map_err(crate::db::DbError::from)
        })
        .await;
        let ran = match outcome {
            Ok(Ok(changes)) => {
                tracing::info!(
                    trigger,
                    opened = changes.opened.len(),
                    reopened = changes.reopened.len(),
                    resolved = changes.resolved.len(),
                    "security scan done"
                );
                true
            }
            Ok(Err(error)) => {
                tracing::error!(%error, trigger, "security scan failed");
                false
            }
            Err(error) => {
                tracing::error!(%error, trigger, "security scan task failed");
                false
            }
        };
        let config = self.config.get();
        alerts::deliver_routed(&self.db, &self.mailer, &config.server_name, &config.notify).await;
        ran
    }

    /// At start: a scan if this version never ran one here (a deploy), unless the loop
    /// is off (`scan.nightly` blank).
    pub async fn start_scans(&self) {
        if self.config.get().scan.nightly.trim().is_empty() {
            return;
        }
        let db = self.db.clone();
        let last = db
            .run(|conn| findings::last_scanned_version(conn).map_err(crate::db::DbError::from))
            .await;
        match last {
            Ok(version) if version.as_deref() == Some(env!("CARGO_PKG_VERSION")) => {}
            Ok(_) => {
                self.scan("deploy").await;
            }
            Err(error) => tracing::error!(%error, "the last scan could not be read"),
        }
    }
}
