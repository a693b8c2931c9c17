//! `behaviour.api_errors`: bursts of API error responses, read from the per-minute
//! counts the server flushes (see `crate::api_traffic`).
//!
//! A burst is a stretch of [`WINDOW`] minutes, within the last day, in which one class
//! of errors stands [`FACTOR`] times above its usual rate over the week before, and
//! above an absolute floor (so the handful of errors of a quiet API is never a burst).
//! Scans run nightly, so the whole day is looked at: each class is reported once, with
//! its worst stretch, and resolves when that stretch has aged out of the day.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::super::hygiene::when;
use crate::api_traffic::{self, StatusClass};

/// Minutes in one stretch.
const WINDOW: i64 = 15;
/// The day looked at for bursts.
const LOOKBACK: time::Duration = time::Duration::days(1);
/// The week before it, the usual rate.
const BASELINE: time::Duration = time::Duration::days(7);
/// How far above the usual rate a stretch must be.
const FACTOR: f64 = 10.0;

/// What a burst of one class means, and the least that makes one.
struct Rule {
    class: StatusClass,
    floor: i64,
    severity: Severity,
    title: &'static str,
    meaning: &'static str,
}

const RULES: [Rule; 4] = [
    Rule {
        class: StatusClass::ServerError,
        floor: 20,
        severity: Severity::High,
        title: "A burst of server errors on the API",
        meaning: "the API is failing, or someone found input that breaks it",
    },
    Rule {
        class: StatusClass::Unauthorized,
        floor: 30,
        severity: Severity::Medium,
        title: "A burst of rejected API keys",
        meaning: "someone may be trying keys (credential stuffing), or a revoked key is still in use",
    },
    Rule {
        class: StatusClass::Forbidden,
        floor: 30,
        severity: Severity::Medium,
        title: "A burst of API requests beyond their key's capabilities",
        meaning: "a key is being used to probe what it cannot do",
    },
    Rule {
        class: StatusClass::ClientError,
        floor: 100,
        severity: Severity::Low,
        title: "A burst of failed API requests",
        meaning: "a client is misbehaving, or someone is scanning the API",
    },
];

#[derive(Debug)]
pub struct ApiErrors;

impl Check for ApiErrors {
    fn id(&self) -> &'static str {
        "behaviour.api_errors"
    }

    fn title(&self) -> &'static str {
        "The API answers without bursts of errors"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let since = cx.now - LOOKBACK - BASELINE;
        let counts = api_traffic::per_minute(&mut *cx.db.get()?, since, cx.now)?;
        Ok(RULES
            .iter()
            .filter_map(|rule| burst(rule, &counts, cx.now))
            .collect())
    }
}

/// The rule's class at its worst stretch of the last day, if that is a burst.
fn burst(
    rule: &Rule,
    counts: &[(OffsetDateTime, StatusClass, i64)],
    now: OffsetDateTime,
) -> Option<Found> {
    let recent_from = now - LOOKBACK;
    let mut usual = 0;
    let mut recent: BTreeMap<OffsetDateTime, i64> = BTreeMap::new();
    for &(minute, _, n) in counts.iter().filter(|(_, c, _)| *c == rule.class) {
        if minute < recent_from {
            usual += n;
        } else {
            *recent.entry(minute).or_default() += n;
        }
    }
    let expected = usual as f64 * WINDOW as f64 / BASELINE.whole_minutes() as f64;
    let threshold = rule.floor.max((expected * FACTOR).ceil() as i64);
    let (start, peak) = worst_stretch(&recent)?;
    (peak >= threshold).then(|| {
        Found::new(
            format!("api-errors:{}", rule.class.as_str()),
            rule.severity,
            rule.title,
            format!(
                "{peak} {} responses in the {WINDOW} minutes from {} (usually about {expected:.1}): {}",
                rule.class.as_str(),
                when(start),
                rule.meaning
            ),
        )
    })
}

/// The start and total of the busiest stretch of [`WINDOW`] minutes.
fn worst_stretch(per_minute: &BTreeMap<OffsetDateTime, i64>) -> Option<(OffsetDateTime, i64)> {
    let minutes: Vec<(OffsetDateTime, i64)> = per_minute.iter().map(|(&m, &n)| (m, n)).collect();
    let mut best: Option<(OffsetDateTime, i64)> = None;
    let mut total = 0;
    let mut first = 0;
    for &(minute, n) in &minutes {
        total += n;
        while minutes[first].0 <= minute - time::Duration::minutes(WINDOW) {
            total -= minutes[first].1;
            first += 1;
        }
        if best.is_none_or(|(_, most)| total > most) {
            best = Some((minutes[first].0, total));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-06 12:00 UTC);

    fn minute(ago: i64) -> OffsetDateTime {
        NOW - time::Duration::minutes(ago)
    }

    #[test]
    fn the_worst_stretch_sums_minutes_within_the_window_only() {
        let per_minute: BTreeMap<_, _> = [
            (minute(100), 5),
            (minute(40), 3),
            (minute(30), 4),
            (minute(26), 6),
            (minute(25), 1),
        ]
        .into();
        // Minutes 40 to 26 fit in one stretch; 25 would push 40 out of it.
        assert_eq!(worst_stretch(&per_minute), Some((minute(40), 13)));
        assert_eq!(worst_stretch(&BTreeMap::new()), None);
    }

    #[test]
    fn a_burst_must_pass_the_floor_and_stand_above_the_usual_rate() {
        let server_errors = &RULES[0];
        let burst_of = |n: i64, usual_per_hour: i64| {
            let mut counts: Vec<_> = (1..=7 * 24)
                .map(|h| {
                    (
                        minute(24 * 60 + h * 60),
                        StatusClass::ServerError,
                        usual_per_hour,
                    )
                })
                .collect();
            counts.push((minute(5), StatusClass::ServerError, n));
            counts.push((minute(5), StatusClass::Success, 10_000));
            burst(server_errors, &counts, NOW).map(|f| (f.subject, f.severity))
        };
        assert_eq!(burst_of(19, 0), None, "below the floor");
        assert_eq!(
            burst_of(20, 0),
            Some(("api-errors:5xx".into(), Severity::High))
        );
        // 40 an hour is 10 per stretch: a burst needs 100.
        assert_eq!(burst_of(99, 40), None);
        assert!(burst_of(100, 40).is_some());
        // The day before yesterday's burst is no longer looked at.
        let old = [(minute(25 * 60), StatusClass::ServerError, 500)];
        assert_eq!(burst(server_errors, &old, NOW), None);
    }
}
