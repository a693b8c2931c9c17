//! Backups as the server runs them: one at a time (a PostgreSQL advisory lock, so the
//! scheduler and a person at the command line never overlap), each run recorded when
//! it starts and when it ends, audited, and loud when it fails: an alert is raised,
//! and resolved by the next success.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::create::{self, Observer, Source};
use super::error::BackupError;
use super::key::BackupKey;
use super::manifest::Manifest;
use super::recipient::{Identity, Recipient};
use super::restore::Keys;
use super::{schedule, targets};
use crate::audit::{self, Actor, Event, Outcome};
use crate::backup_target::Target;
use crate::config::Config;
use crate::db::Db;
use crate::db::schema::backup_runs;
use crate::notify::alerts::{self, Severity};
use crate::notify::webhooks;
use crate::vault::Vault;

/// One key for every backup, drill and restore on this database.
const LOCK_KEY: i64 = 0x6f75_7470_6f73_7442; // "outpostB"

/// What started a run; scheduled tiers are also how catch-up finds missed runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Daily,
    Weekly,
    Monthly,
    Manual,
    /// Taken before a restore replaces the live database.
    Safety,
}

impl Trigger {
    pub const SCHEDULED: [Trigger; 3] = [Trigger::Daily, Trigger::Weekly, Trigger::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Daily => "daily",
            Trigger::Weekly => "weekly",
            Trigger::Monthly => "monthly",
            Trigger::Manual => "manual",
            Trigger::Safety => "safety",
        }
    }

    /// The tier's cron expression, blank when disabled.
    pub fn cron(self, config: &Config) -> &str {
        match self {
            Trigger::Daily => &config.backup.daily,
            Trigger::Weekly => &config.backup.weekly,
            Trigger::Monthly => &config.backup.monthly,
            Trigger::Manual | Trigger::Safety => "",
        }
    }
}

/// The key of the alert a failed backup to `target` raises (and a success resolves).
pub fn failure_alert(target: &str) -> String {
    format!("backup.failed.{target}")
}

/// One backup to take.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub id: Uuid,
    pub target: &'a str,
    pub trigger: Trigger,
    /// Started at boot for a scheduled run the server missed.
    pub catch_up: bool,
}

/// A finished run.
#[derive(Debug)]
pub struct RunReport {
    pub id: Uuid,
    pub target: String,
    pub manifest: Manifest,
    pub stored_bytes: u64,
    pub duration: Duration,
    /// Abandoned uploads removed before the run.
    pub cleaned: Vec<String>,
    /// A recipient-sealed backup's content key, for the drill that follows; dropped
    /// (and wiped) with the report.
    pub content_key: Option<BackupKey>,
}

/// The server's backups: its configuration, database and vault.
#[derive(Debug, Clone, Copy)]
pub struct Backups<'a> {
    pub config: &'a Config,
    pub db: &'a Db,
    pub vault: &'a Vault,
}

/// Held while a backup, drill or restore runs; released when dropped (its own
/// connection, never a pooled one, so the session lock cannot outlive the work).
pub struct Lock {
    conn: PgConnection,
}

/// Released explicitly: closing the connection releases it too, but only once the
/// server has noticed, which a next `lock()` may beat.
impl Drop for Lock {
    fn drop(&mut self) {
        let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(LOCK_KEY)
            .execute(&mut self.conn);
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").finish_non_exhaustive()
    }
}

impl<'a> Backups<'a> {
    pub fn key(&self) -> BackupKey {
        BackupKey::from_keyring(&self.vault.keyring())
    }

    /// What reads this server's backups: its key, and an identity if one was given.
    pub fn keys<'i>(&self, identity: Option<&'i Identity>) -> Keys<'i> {
        Keys {
            server: self.key(),
            identity,
            content: None,
        }
    }

    /// `backup.recipient`, parsed (the configuration was validated at load).
    fn recipient(&self) -> Result<Option<Recipient>, BackupError> {
        let text = self.config.backup.recipient.trim();
        if text.is_empty() {
            return Ok(None);
        }
        Ok(Some(Recipient::parse(text)?))
    }

    pub fn target(&self, name: &str) -> Result<Box<dyn Target>, BackupError> {
        let mut conn = self.db.get()?;
        targets::open(
            &self.config.backup,
            &self.config.data_dir,
            name,
            &mut conn,
            self.vault,
        )
    }

    /// Takes the backup lock, or fails with [`BackupError::Busy`] at once.
    pub fn lock(&self) -> Result<Lock, BackupError> {
        let mut conn = PgConnection::establish(self.config.database_url.expose())
            .map_err(|e| BackupError::Failed(format!("cannot connect to the database: {e}")))?;
        #[derive(QueryableByName)]
        struct Got {
            #[diesel(sql_type = Bool)]
            locked: bool,
        }
        let got: Got = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(LOCK_KEY)
            .get_result(&mut conn)?;
        if got.locked {
            Ok(Lock { conn })
        } else {
            Err(BackupError::Busy)
        }
    }

    /// [`Self::lock`], trying again for up to `patience`.
    pub fn lock_within(&self, patience: Duration) -> Result<Lock, BackupError> {
        let deadline = Instant::now() + patience;
        loop {
            match self.lock() {
                Err(BackupError::Busy) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    /// Takes one backup into target `target_name`, start to end: recorded, audited,
    /// alerting on failure.
    pub fn run(
        &self,
        target_name: &str,
        trigger: Trigger,
        catch_up: bool,
        actor: Actor,
        observer: &mut dyn Observer,
    ) -> Result<RunReport, BackupError> {
        let mut lock = self.lock()?;
        self.run_locked(&mut lock, target_name, trigger, catch_up, actor, observer)
    }

    pub fn run_locked(
        &self,
        lock: &mut Lock,
        target_name: &str,
        trigger: Trigger,
        catch_up: bool,
        actor: Actor,
        observer: &mut dyn Observer,
    ) -> Result<RunReport, BackupError> {
        let job = Job {
            id: Uuid::new_v4(),
            target: target_name,
            trigger,
            catch_up,
        };
        self.run_job(lock, job, actor, observer)
    }

    /// [`Self::run_locked`] for a job whose id the caller chose, so it can hand the id
    /// out (an API's 202) before the run, which records itself under that id, begins.
    pub fn run_job(
        &self,
        lock: &mut Lock,
        job: Job<'_>,
        actor: Actor,
        observer: &mut dyn Observer,
    ) -> Result<RunReport, BackupError> {
        let Job {
            id,
            target: target_name,
            trigger,
            catch_up,
        } = job;
        let started = Instant::now();
        diesel::insert_into(backup_runs::table)
            .values((
                backup_runs::id.eq(id),
                backup_runs::target.eq(target_name),
                backup_runs::trigger.eq(trigger.as_str()),
                backup_runs::catch_up.eq(catch_up),
            ))
            .execute(&mut self.db.get()?)?;
        tracing::info!(backup = %id, target = target_name, trigger = trigger.as_str(), catch_up, "backup started");
        let attempt = (|| {
            let target = self.target(target_name)?;
            observer.stage("removing abandoned uploads");
            let cleaned = target.cleanup_partial(self.config.backup.partial_grace)?;
            let keyring = self.vault.keyring().render();
            let recipient = self.recipient()?;
            let source = Source {
                recipient: recipient.as_ref(),
                database_url: self.config.database_url.expose(),
                pg_bin: self.config.backup.pg_bin.as_deref(),
                data_directories: &self.config.backup.data_directories,
                keyring: &keyring,
                zstd_level: self.config.backup.zstd_level,
            };
            let manifest =
                create::create(&mut lock.conn, id, &source, &*target, &self.key(), observer)?;
            Ok::<_, BackupError>((manifest, cleaned))
        })();
        let duration = started.elapsed();
        let mut conn = self.db.get()?;
        let alert_key = failure_alert(target_name);
        match attempt {
            Ok((created, cleaned)) => {
                let manifest = created.manifest;
                let stored: u64 = manifest.parts.iter().map(|p| p.stored_size).sum();
                let plain: u64 = manifest.parts.iter().map(|p| p.plaintext_size).sum();
                conn.transaction(|conn| {
                    diesel::update(backup_runs::table.find(id))
                        .set((
                            backup_runs::outcome.eq("complete"),
                            backup_runs::finished_at.eq(diesel::dsl::now),
                            backup_runs::stored_bytes.eq(i64::try_from(stored).unwrap_or(i64::MAX)),
                            backup_runs::plaintext_bytes
                                .eq(i64::try_from(plain).unwrap_or(i64::MAX)),
                            backup_runs::manifest.eq(serde_json::to_value(&manifest).ok()),
                        ))
                        .execute(conn)?;
                    audit::record(
                        conn,
                        &Event::new(actor.clone(), "backup.completed", Outcome::Success)
                            .target(id.to_string())
                            .details(json!({
                                "target": target_name,
                                "trigger": trigger.as_str(),
                                "catch_up": catch_up,
                                "stored_bytes": stored,
                                "duration_ms": duration.as_millis() as u64,
                                "removed_partial": cleaned,
                            })),
                    )?;
                    webhooks::events::backup_completed(
                        conn,
                        id,
                        target_name,
                        trigger.as_str(),
                        stored,
                    )?;
                    alerts::resolve(conn, &alert_key)
                })?;
                tracing::info!(backup = %id, stored_bytes = stored, seconds = duration.as_secs_f64(), "backup complete");
                Ok(RunReport {
                    id,
                    target: target_name.to_owned(),
                    manifest,
                    stored_bytes: stored,
                    duration,
                    cleaned,
                    content_key: created.content_key,
                })
            }
            Err(error) => {
                let message = error.to_string();
                conn.transaction(|conn| {
                    diesel::update(backup_runs::table.find(id))
                        .set((
                            backup_runs::outcome.eq("failed"),
                            backup_runs::finished_at.eq(diesel::dsl::now),
                            backup_runs::error.eq(&message),
                        ))
                        .execute(conn)?;
                    audit::record(
                        conn,
                        &Event::new(actor, "backup.failed", Outcome::Failure)
                            .target(id.to_string())
                            .details(json!({
                                "target": target_name,
                                "trigger": trigger.as_str(),
                                "error": message,
                            })),
                    )?;
                    webhooks::events::backup_failed(
                        conn,
                        id,
                        target_name,
                        trigger.as_str(),
                        &message,
                    )?;
                    alerts::raise(
                        conn,
                        &alert_key,
                        Severity::Critical,
                        &format!("Backup to {target_name} failed"),
                        &message,
                    )
                    .map(drop)
                })?;
                tracing::error!(backup = %id, target = target_name, error = %message, "backup failed");
                Err(error)
            }
        }
    }

    /// Marks runs left `running` by a process that died as `interrupted`; only when
    /// no backup holds the lock, so a run in another process is never touched.
    pub fn mark_interrupted(&self) -> Result<usize, BackupError> {
        // A process killed a moment ago still holds the lock until PostgreSQL has
        // noticed its connection is gone: give that a few seconds.
        let _lock = match self.lock_within(Duration::from_secs(5)) {
            Ok(lock) => lock,
            Err(BackupError::Busy) => return Ok(0),
            Err(e) => return Err(e),
        };
        let n = diesel::update(backup_runs::table.filter(backup_runs::outcome.eq("running")))
            .set((
                backup_runs::outcome.eq("interrupted"),
                backup_runs::finished_at.eq(diesel::dsl::now),
                backup_runs::error.eq("the process stopped before the backup finished"),
            ))
            .execute(&mut self.db.get()?)?;
        Ok(n)
    }

    /// The run a stopped server owes: the most senior tier (monthly, then weekly, then
    /// daily) that fired since the last scheduled run started, if any. One catch-up
    /// run settles every missed tier; it carries the senior tier's label.
    pub fn owed(&self, now: OffsetDateTime) -> Result<Option<Trigger>, BackupError> {
        let scheduled = Trigger::SCHEDULED.map(Trigger::as_str);
        let last: Option<OffsetDateTime> = backup_runs::table
            .filter(backup_runs::trigger.eq_any(scheduled))
            .select(diesel::dsl::max(backup_runs::started_at))
            .first(&mut self.db.get()?)?;
        for trigger in Trigger::SCHEDULED.into_iter().rev() {
            let cron = trigger.cron(self.config);
            if cron.trim().is_empty() {
                continue;
            }
            let cron = schedule::parse(cron).map_err(BackupError::Failed)?;
            if schedule::missed(&cron, last, now) {
                return Ok(Some(trigger));
            }
        }
        Ok(None)
    }
}
