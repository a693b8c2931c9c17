//! Backups and drills started from the dashboard or the API. The backup lock is taken
//! while the request waits, so "already running" is the answer to this request, not a
//! failure found later; the work then runs on a blocking thread holding that lock, and
//! the response does not wait for it.

use diesel::prelude::*;
use uuid::Uuid;

use crate::audit::Actor;
use crate::backup::create::Quiet;
use crate::backup::error::BackupError;
use crate::backup::runs::{Backups, Job, Lock, Trigger};
use crate::backup::targets;
use crate::db::schema::backup_runs;
use crate::identity::User;
use crate::notify::alerts;
use crate::web::AppState;

/// Starts a manual backup into `target`; returns the id it records itself under.
pub async fn start_run(state: &AppState, user: &User, target: String) -> Result<Uuid, BackupError> {
    let names = targets::names(&state.config().backup);
    if !names.contains(&target) {
        return Err(BackupError::UnknownTarget(target, names.join(", ")));
    }
    let lock = take_lock(state).await?;
    let id = Uuid::new_v4();
    let actor = Actor::User(user.id);
    in_background(state, lock, move |backups, lock| {
        backups
            .run_job(
                lock,
                Job {
                    id,
                    target: &target,
                    trigger: Trigger::Manual,
                    catch_up: false,
                },
                actor,
                &mut Quiet,
            )
            .map(drop)
    });
    Ok(id)
}

/// Starts a restore drill of backup `id`; returns the target it is on.
pub async fn start_drill(state: &AppState, user: &User, id: Uuid) -> Result<String, BackupError> {
    let found: Option<String> = state
        .db
        .run(move |conn| {
            backup_runs::table
                .find(id)
                .filter(backup_runs::outcome.eq("complete"))
                .filter(backup_runs::pruned_at.is_null())
                .select(backup_runs::target)
                .first(conn)
                .optional()
                .map_err(BackupError::from)
        })
        .await?;
    let target = found
        .filter(|t| targets::names(&state.config().backup).contains(t))
        .ok_or_else(|| BackupError::NotFound(id.to_string()))?;
    let lock = take_lock(state).await?;
    let actor = Actor::User(user.id);
    let on = target.clone();
    in_background(state, lock, move |backups, lock| {
        backups
            .drill_locked(
                lock,
                &on,
                &id.to_string(),
                &backups.keys(None),
                actor,
                &mut Quiet,
            )
            .map(drop)
    });
    Ok(target)
}

async fn take_lock(state: &AppState) -> Result<Lock, BackupError> {
    let (config, db, vault) = (state.config(), state.db.clone(), state.vault.clone());
    tokio::task::spawn_blocking(move || {
        Backups {
            config: &config,
            db: &db,
            vault: &vault,
        }
        .lock()
    })
    .await
    .map_err(|_| BackupError::Failed("the lock task stopped".into()))?
}

/// Runs `work` holding `lock` on a blocking thread, then tells the Owners and Admins
/// about any alert it raised, as the command line does after a run.
fn in_background(
    state: &AppState,
    mut lock: Lock,
    work: impl FnOnce(&Backups<'_>, &mut Lock) -> Result<(), BackupError> + Send + 'static,
) {
    let (config, db, vault) = (state.config(), state.db.clone(), state.vault.clone());
    let mailer = state.mailer.clone();
    actix_web::rt::spawn(async move {
        let worker = {
            let (config, db) = (config.clone(), db.clone());
            tokio::task::spawn_blocking(move || {
                let backups = Backups {
                    config: &config,
                    db: &db,
                    vault: &vault,
                };
                work(&backups, &mut lock)
            })
        };
        // The run recorded, audited and alerted on its own failure; this is for the log.
        match worker.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "background backup work failed"),
            Err(error) => tracing::error!(%error, "background backup work stopped"),
        }
        alerts::deliver(&db, &mailer, &config.server_name).await;
    });
}
