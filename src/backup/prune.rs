//! Retention as the server applies it: after every scheduled backup and on
//! `outpost backup prune`. Only complete backups whose manifest authenticates are ever
//! removed (one that does not is left for a person to look at), the newest always
//! stays, and a backup is removed manifest first, so it stops counting as complete
//! before any of its data goes.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::catalog;
use super::error::BackupError;
use super::retention::{self, Candidate, Policy};
use super::runs::Backups;
use crate::audit::{self, Actor, Event, Outcome};
use crate::backup_target::{MANIFEST, Target};
use crate::db::schema::backup_runs;
use crate::notify::alerts::{self, Severity};

#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub target: String,
    pub keep: Vec<String>,
    pub remove: Vec<String>,
    /// Complete backups whose manifest does not authenticate: never removed.
    pub unreadable: Vec<String>,
}

impl Backups<'_> {
    pub fn policy(&self) -> Policy {
        Policy {
            daily: self.config.backup.keep_daily,
            weekly: self.config.backup.keep_weekly,
            monthly: self.config.backup.keep_monthly,
        }
    }

    /// What retention keeps and removes on `target_name`; with `dry_run` nothing is
    /// removed.
    pub fn prune(
        &self,
        target_name: &str,
        dry_run: bool,
        actor: Actor,
    ) -> Result<PrunePlan, BackupError> {
        let result = self.prune_inner(target_name, dry_run);
        let alert_key = format!("backup.retention.{target_name}");
        let mut conn = self.db.get()?;
        match &result {
            Ok(plan) if !dry_run => conn.transaction(|conn| {
                audit::record(
                    conn,
                    &Event::new(actor, "backup.pruned", Outcome::Success).details(json!({
                        "target": target_name,
                        "removed": plan.remove,
                        "kept": plan.keep.len(),
                    })),
                )?;
                alerts::resolve(conn, &alert_key).map(drop)
            })?,
            Ok(_) => {}
            Err(error) => {
                alerts::raise(
                    &mut conn,
                    &alert_key,
                    Severity::Warning,
                    &format!("Backup retention on {target_name} failed"),
                    &error.to_string(),
                )?;
            }
        }
        result
    }

    fn prune_inner(&self, target_name: &str, dry_run: bool) -> Result<PrunePlan, BackupError> {
        let target = self.target(target_name)?;
        let listed = catalog::list(&*target, &self.key())?;
        let mut unreadable = Vec::new();
        let mut candidates = Vec::new();
        for l in listed {
            match l.manifest {
                Ok(m) => candidates.push(Candidate {
                    id: l.id,
                    created_at: m.created_at,
                }),
                Err(_) => unreadable.push(l.id),
            }
        }
        let keep = retention::keep(self.policy(), &candidates);
        let remove: Vec<String> = candidates
            .iter()
            .filter(|c| !keep.contains(&c.id))
            .map(|c| c.id.clone())
            .collect();
        if !dry_run {
            for id in &remove {
                remove_backup(&*target, id)?;
                if let Ok(uuid) = id.parse::<uuid::Uuid>() {
                    diesel::update(backup_runs::table.find(uuid))
                        .set(backup_runs::pruned_at.eq(diesel::dsl::now))
                        .execute(&mut self.db.get()?)?;
                }
                tracing::info!(backup = %id, target = target_name, "backup removed by retention");
            }
        }
        Ok(PrunePlan {
            target: target_name.to_owned(),
            keep: candidates
                .iter()
                .filter(|c| keep.contains(&c.id))
                .map(|c| c.id.clone())
                .collect(),
            remove,
            unreadable,
        })
    }
}

/// The manifest goes first: from then on the backup is partial, and a crash midway
/// leaves it to the partial cleanup rather than listed with missing parts.
fn remove_backup(target: &dyn Target, id: &str) -> Result<(), BackupError> {
    target.delete(&format!("{id}/{MANIFEST}"))?;
    for object in target.list(&format!("{id}/"))? {
        target.delete(&object.name)?;
    }
    Ok(())
}
