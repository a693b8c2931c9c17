//! `outpost backup restore`: a backup into a new database, or, when asked to replace
//! one (`--force`), into a new database that is then swapped in for it, after a
//! safety backup of the live one; the replaced database is kept under another name.
//! Either way the restore must match the backup's tables before it counts.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::catalog;
use super::create::Observer;
use super::error::BackupError;
use super::recipient::Identity;
use super::restore::{self, Destination, RestoreReport};
use super::runs::{Backups, Trigger};
use crate::audit::{self, Actor, Event, Outcome};

/// May a restore replace a database that exists?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    Refused,
    Allowed,
}

/// What to restore, and where.
#[derive(Debug, Clone, Copy)]
pub struct RestoreRequest<'a> {
    pub target: &'a str,
    /// A backup id, or a unique start of one.
    pub id: &'a str,
    /// The database to restore into.
    pub into: &'a str,
    pub files_into: Option<&'a std::path::Path>,
    pub replace: Replace,
    /// Opens a backup sealed to a recipient.
    pub identity: Option<&'a Identity>,
}

#[derive(Debug)]
pub struct RecoverReport {
    pub restored: RestoreReport,
    /// The safety backup taken before the live database was replaced.
    pub safety_backup: Option<Uuid>,
    /// The name the replaced database is kept under.
    pub kept_as: Option<String>,
}

impl Backups<'_> {
    pub fn restore(
        &self,
        request: RestoreRequest<'_>,
        actor: Actor,
        observer: &mut dyn Observer,
    ) -> Result<RecoverReport, BackupError> {
        let RestoreRequest {
            target: target_name,
            id,
            into,
            files_into,
            replace,
            identity,
        } = request;
        let mut lock = self.lock()?;
        let url = self.config.database_url.expose();
        let target = self.target(target_name)?;
        let id = catalog::resolve(&*target, id)?;
        let live = restore::current_database(url)?;
        let exists = database_exists(url, into)?;
        if exists && replace == Replace::Refused {
            return Err(BackupError::Failed(format!(
                "database {into} exists: restore into a new name, or add --force to replace it \
                 (a safety backup is taken first and the old database is kept)"
            )));
        }
        let stamp = OffsetDateTime::now_utc().unix_timestamp();
        let database = if exists {
            format!("{}_restoring_{stamp}", truncate(into, 40))
        } else {
            into.to_owned()
        };
        let safety_backup = if exists && into == live {
            observer.stage("taking a safety backup of the live database");
            let report = self.run_locked(
                &mut lock,
                target_name,
                Trigger::Safety,
                false,
                actor.clone(),
                observer,
            )?;
            Some(report.id)
        } else {
            None
        };
        let to = Destination {
            url,
            database: &database,
            files_into,
            pg_bin: self.config.backup.pg_bin.as_deref(),
        };
        let restored = restore::restore_into(&*target, &id, &self.keys(identity), to, observer)?;
        if !restored.passed() {
            let problems = restored
                .mismatches
                .iter()
                .map(|m| format!("{}: {}", m.table, m.problem))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(BackupError::Failed(format!(
                "restored into {database}, but it differs from the backup ({problems}); nothing was replaced"
            )));
        }
        let kept_as = if exists {
            let kept = format!("{}_before_restore_{stamp}", truncate(into, 40));
            observer.stage("swapping the restored database in");
            restore::swap_in(url, &database, into, &kept)?;
            Some(kept)
        } else {
            None
        };
        // A fresh connection: the swap ended every session of the replaced database,
        // pooled ones included. When the live database was replaced, this entry is the
        // first of the restored log.
        let mut conn = PgConnection::establish(url)
            .map_err(|e| BackupError::Failed(format!("cannot reconnect after the restore: {e}")))?;
        audit::record(
            &mut conn,
            &Event::new(actor, "backup.restored", Outcome::Success)
                .target(id.clone())
                .details(json!({
                    "target": target_name,
                    "into": into,
                    "replaced": exists,
                    "kept_as": kept_as,
                    "safety_backup": safety_backup,
                    "tables": restored.tables,
                    "rows": restored.rows,
                })),
        )?;
        let mut restored = restored;
        restored.database = into.to_owned();
        Ok(RecoverReport {
            restored,
            safety_backup,
            kept_as,
        })
    }
}

fn database_exists(url: &str, name: &str) -> Result<bool, BackupError> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        found: bool,
    }
    let mut conn = PgConnection::establish(url)
        .map_err(|e| BackupError::Failed(format!("cannot connect to the database: {e}")))?;
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS found")
            .bind::<Text, _>(name)
            .get_result(&mut conn)?;
    Ok(row.found)
}

fn truncate(name: &str, max: usize) -> &str {
    &name[..name.len().min(max)]
}
