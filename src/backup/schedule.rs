//! Backup schedules: cron expressions as the scheduler reads them, and the question
//! asked at every start: did the server sleep through a run it owed?

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use time::OffsetDateTime;

/// Parses `expr` exactly as tokio-cron-scheduler will (seconds field required, day of
/// month AND day of week), so a string accepted here is one the scheduler runs.
pub fn parse(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr.trim())
        .map_err(|e| format!("`{expr}` is not a cron expression like `0 30 2 * * *` ({e})"))
}

/// The latest time at or before `now` the schedule fired, if it ever did.
pub fn previous(cron: &Cron, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let at = cron.find_previous_occurrence(&to_chrono(now), true).ok()?;
    OffsetDateTime::from_unix_timestamp(at.timestamp()).ok()
}

/// The next time after `now` the schedule fires.
pub fn next(cron: &Cron, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let at = cron.find_next_occurrence(&to_chrono(now), false).ok()?;
    OffsetDateTime::from_unix_timestamp(at.timestamp()).ok()
}

/// A run is owed when the schedule fired since the last run of its tier started (or
/// no run of it was ever recorded): the server was down, or the run never started.
pub fn missed(cron: &Cron, last_started: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    match (previous(cron, now), last_started) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(due), Some(last)) => last < due,
    }
}

fn to_chrono(at: OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(at.unix_timestamp(), 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn previous_and_next_of_a_daily_schedule() {
        let daily = parse("0 30 2 * * *").unwrap();
        let now = datetime!(2026-12-06 10:00:00 UTC);
        assert_eq!(
            previous(&daily, now),
            Some(datetime!(2026-12-06 02:30:00 UTC))
        );
        assert_eq!(next(&daily, now), Some(datetime!(2026-12-07 02:30:00 UTC)));
        let weekly = parse("0 30 3 * * Sun").unwrap();
        assert_eq!(
            previous(&weekly, now),
            Some(datetime!(2026-12-06 03:30:00 UTC))
        );
    }

    #[test]
    fn a_run_is_owed_only_after_a_missed_fire_time() {
        let daily = parse("0 30 2 * * *").unwrap();
        let now = datetime!(2026-12-06 10:00:00 UTC);
        assert!(missed(&daily, None, now));
        assert!(missed(
            &daily,
            Some(datetime!(2026-12-05 02:30:00 UTC)),
            now
        ));
        assert!(!missed(
            &daily,
            Some(datetime!(2026-12-06 02:30:00 UTC)),
            now
        ));
        assert!(!missed(
            &daily,
            Some(datetime!(2026-12-06 09:00:00 UTC)),
            now
        ));
    }

    #[test]
    fn bad_expressions_name_themselves() {
        let err = parse("every day").unwrap_err();
        assert!(err.contains("every day"), "{err}");
        assert!(
            parse("30 2 * * *").is_err(),
            "the seconds field is required"
        );
    }
}
