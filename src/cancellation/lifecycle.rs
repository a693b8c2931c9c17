//! The time-driven half of a cancellation, in one function the scheduler calls every
//! hour and at start: at the date, prepare the export; when the window closes, destroy
//! the data. It takes `now`, so tests can walk a cancellation through its life without
//! waiting thirty days.

use diesel::prelude::*;

use super::destroy::{self, Report};
use super::remote;
use super::{Cancellation, Phase, in_force};
use crate::audit::Actor;
use crate::config::Config;
use crate::db::schema::cancellations;
use crate::export::store::{self, ExportRecord, Status};
use crate::identity::ClientInfo;
use crate::vault::Vault;

/// What a check did.
#[derive(Debug)]
pub enum Step {
    /// Nothing is due (no cancellation, not yet, export already there, or all done).
    Nothing,
    /// The export was prepared (look at its status: it may have failed, and is then
    /// tried again at the next check).
    Exported(ExportRecord),
    Destroyed(Report),
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("database query failed: {0}")]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Destroy(#[from] destroy::DestroyError),
    /// No connection to run the check on (the scheduler's pool).
    #[error(transparent)]
    Pool(#[from] crate::db::DbError),
}

pub fn check(
    conn: &mut PgConnection,
    config: &Config,
    vault: &Vault,
    now: time::OffsetDateTime,
) -> Result<Step, LifecycleError> {
    let Some(cancellation) = in_force(conn)? else {
        return Ok(Step::Nothing);
    };
    if cancellation.destroyed_at.is_some() {
        return Ok(Step::Nothing);
    }
    match cancellation.phase(now) {
        Phase::Scheduled => Ok(Step::Nothing),
        Phase::Closed => {
            let remote = remote::survey(conn, config, vault);
            let mut report =
                destroy::destroy(conn, &config.data_dir, &cancellation, &remote.counts())?;
            // Only by the check that destroyed the database (a second one finds it done).
            if !report.rows.is_empty() {
                remote.remove(&mut report.left_behind);
            }
            for left in &report.left_behind {
                tracing::error!(left, "part of the destroyed data could not be removed");
            }
            Ok(Step::Destroyed(report))
        }
        Phase::WindowOpen => {
            let Some(record) = claim_export(conn, &cancellation)? else {
                return Ok(Step::Nothing);
            };
            let prepared = store::prepare(
                conn,
                config,
                vault,
                &record,
                Actor::System,
                ClientInfo::default(),
            )?;
            Ok(Step::Exported(prepared))
        }
    }
}

/// Records the cancellation's export as `preparing` and links it, unless one is
/// already ready or under way. The row lock makes two checkers (the server and an
/// operator's `outpost cancel --now`) prepare it once between them.
fn claim_export(
    conn: &mut PgConnection,
    cancellation: &Cancellation,
) -> QueryResult<Option<ExportRecord>> {
    conn.transaction(|conn| {
        let export_id: Option<uuid::Uuid> = cancellations::table
            .find(cancellation.id)
            .select(cancellations::export_id)
            .for_update()
            .first(conn)?;
        if let Some(id) = export_id
            && let Some(existing) = store::find(conn, id)?
            && existing.status() != Status::Failed
        {
            return Ok(None);
        }
        // Secrets stay sealed in an export nobody asked for in person; an Owner can
        // prepare one with values during the window, re-authenticated.
        let record = store::begin(conn, None, false, cancellation.window_closes_at)?;
        diesel::update(cancellations::table.find(cancellation.id))
            .set(cancellations::export_id.eq(record.id))
            .execute(conn)?;
        Ok(Some(record))
    })
}
