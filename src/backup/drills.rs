//! Restore drills as the server runs them: after every scheduled backup (unless
//! `backup.drill = false`) and on `outpost backup verify`, recorded, audited, and
//! alerting when a backup does not restore.

use diesel::prelude::*;
use serde_json::json;

use super::catalog;
use super::create::Observer;
use super::error::BackupError;
use super::recipient::Identity;
use super::restore::{self, Keys, RestoreReport};
use super::runs::{Backups, Lock};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::backup_drills;
use crate::notify::alerts::{self, Severity};

impl Backups<'_> {
    /// Drills backup `id` (a unique prefix will do) on target `target_name`; a backup
    /// sealed to a recipient needs its `identity`.
    pub fn drill(
        &self,
        target_name: &str,
        id: &str,
        identity: Option<&Identity>,
        actor: Actor,
        observer: &mut dyn Observer,
    ) -> Result<RestoreReport, BackupError> {
        let mut lock = self.lock()?;
        let keys = self.keys(identity);
        self.drill_locked(&mut lock, target_name, id, &keys, actor, observer)
    }

    pub fn drill_locked(
        &self,
        _lock: &mut Lock,
        target_name: &str,
        id: &str,
        keys: &Keys<'_>,
        actor: Actor,
        observer: &mut dyn Observer,
    ) -> Result<RestoreReport, BackupError> {
        let target = self.target(target_name)?;
        let id = catalog::resolve(&*target, id)?;
        let backup_id: uuid::Uuid = id.parse().map_err(|_| BackupError::NotFound(id.clone()))?;
        let row: i64 = diesel::insert_into(backup_drills::table)
            .values((
                backup_drills::backup_id.eq(backup_id),
                backup_drills::target.eq(target_name),
            ))
            .returning(backup_drills::id)
            .get_result(&mut self.db.get()?)?;
        tracing::info!(backup = %id, target = target_name, "restore drill started");
        let result = restore::drill(
            self.config.database_url.expose(),
            &*target,
            &id,
            keys,
            self.config.backup.pg_bin.as_deref(),
            observer,
        );
        let failure = match &result {
            Ok(report) if report.passed() => None,
            Ok(report) => Some(format!(
                "the restore differs from the backup: {}",
                report
                    .mismatches
                    .iter()
                    .map(|m| format!("{}: {}", m.table, m.problem))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            Err(error) => Some(error.to_string()),
        };
        let detail = match &result {
            Ok(report) => serde_json::to_value(report).unwrap_or_default(),
            Err(_) => json!({}),
        };
        let alert_key = format!("backup.drill.{target_name}");
        self.db.get()?.transaction(|conn| {
            diesel::update(backup_drills::table.find(row))
                .set((
                    backup_drills::outcome.eq(if failure.is_none() {
                        "passed"
                    } else {
                        "failed"
                    }),
                    backup_drills::finished_at.eq(diesel::dsl::now),
                    backup_drills::detail.eq(&detail),
                    backup_drills::error.eq(&failure),
                ))
                .execute(conn)?;
            let outcome = if failure.is_none() {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            audit::record(
                conn,
                &Event::new(actor, "backup.drilled", outcome)
                    .target(id.clone())
                    .details(json!({ "target": target_name, "error": failure })),
            )?;
            match &failure {
                None => alerts::resolve(conn, &alert_key).map(drop),
                Some(problem) => alerts::raise(
                    conn,
                    &alert_key,
                    Severity::Critical,
                    &format!(
                        "Backup {} on {target_name} did not pass its restore drill",
                        &id[..8.min(id.len())]
                    ),
                    problem,
                )
                .map(drop),
            }
        })?;
        match failure {
            None => {
                tracing::info!(backup = %id, "restore drill passed");
                result
            }
            Some(problem) => {
                tracing::error!(backup = %id, %problem, "restore drill failed");
                result.and(Err(BackupError::Failed(problem)))
            }
        }
    }
}
