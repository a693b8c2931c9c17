//! The sweep: at `now`, every satellite's status from its silence, its problems from
//! its status and newest report, the alerts brought in line, and operators told. The
//! clock is a parameter, so tests move it instead of waiting.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::alerts;
use super::escalation::{self, Notifier};
use super::rules;
use super::satellites::{self, Satellite};
use super::settings::ControllerSettings;
use super::status::{Cadence, Status, status_at};
use crate::db::{Db, DbError};

/// Runs one sweep; returns each satellite's name and status.
pub async fn sweep(
    db: &Db,
    notifier: &Notifier,
    settings: &ControllerSettings,
    now: OffsetDateTime,
) -> Result<Vec<(String, Status)>, DbError> {
    let (fleet, mut latest) = db
        .run(|conn| {
            let fleet = satellites::all(conn)?;
            let ids: Vec<_> = fleet.iter().map(|s| s.id).collect();
            let latest: HashMap<_, _> = satellites::latest_reports(conn, &ids)?
                .into_iter()
                .collect();
            Ok::<_, DbError>((fleet, latest))
        })
        .await?;
    let cadence = Cadence {
        interval: settings.interval,
        grace: settings.grace,
    };
    let mut statuses = Vec::with_capacity(fleet.len());
    for satellite in fleet {
        let status = status_at(
            cadence,
            satellite.last_heard(),
            satellite.maintenance_until,
            now,
        );
        statuses.push((satellite.name.clone(), status));
        let report = latest.remove(&satellite.id);
        one(db, notifier, settings, satellite, status, report, now).await?;
    }
    Ok(statuses)
}

async fn one(
    db: &Db,
    notifier: &Notifier,
    settings: &ControllerSettings,
    satellite: Satellite,
    status: Status,
    report: Option<crate::fleet::protocol::Report>,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    let id = satellite.id;
    if satellite.status != status.as_str() {
        tracing::info!(satellite = %satellite.name, from = %satellite.status, to = status.as_str(), "satellite status changed");
        db.run(move |conn| {
            satellites::set_status(conn, id, status.as_str()).map_err(DbError::from)
        })
        .await?;
    }
    // In maintenance nothing escalates, and nothing is resolved either: what was
    // open before is judged again when the window ends.
    if status == Status::Maintenance {
        return Ok(());
    }
    let problems = rules::problems(status, report.as_ref());
    let changes = db
        .run(move |conn| alerts::reconcile(conn, id, &problems, now).map_err(DbError::from))
        .await?;
    let told = escalation::escalate(notifier, settings, &satellite, &changes, now).await;
    if !told.is_empty() {
        db.run(move |conn| alerts::mark_notified(conn, &told, now).map_err(DbError::from))
            .await?;
    }
    Ok(())
}
