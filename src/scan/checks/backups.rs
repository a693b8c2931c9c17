//! Backups: a recent complete one exists, and the newest passed its restore drill.

use super::super::{Check, CheckError, Context, Found, Severity};
use crate::backup::status;

/// Past this, with a daily schedule, the newest backup is late.
const LATE_AFTER: time::Duration = time::Duration::hours(26);

#[derive(Debug)]
pub struct Freshness;

impl Check for Freshness {
    fn id(&self) -> &'static str {
        "defensive.backups"
    }

    fn title(&self) -> &'static str {
        "Backups are recent and restore"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let status = status::load(&mut *cx.db.get()?, cx.config, cx.now)?;
        let mut found = Vec::new();
        let daily = !cx.config.backup.daily.trim().is_empty();
        match status.last_complete_at {
            None => found.push(Found::new(
                "backup:none",
                Severity::High,
                "No backup has ever completed",
                "run `outpost backup run`, or set a [backup] schedule",
            )),
            Some(last) if daily && cx.now - last > LATE_AFTER => found.push(Found::new(
                "backup:late",
                Severity::High,
                "The newest complete backup is late",
                format!("the newest complete backup is from {last}, and one runs daily"),
            )),
            Some(_) => {}
        }
        if let Some(drill) = &status.last_drill
            && drill.outcome == "failed"
        {
            found.push(Found::new(
                "backup:drill",
                Severity::Critical,
                "The newest restore drill failed: a backup does not restore",
                format!(
                    "backup {}: {}",
                    drill.backup_id,
                    drill.error.as_deref().unwrap_or("no reason recorded")
                ),
            ));
        }
        Ok(found)
    }
}
