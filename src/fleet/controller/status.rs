//! A satellite's status, judged from how long it has been silent: online while
//! reports arrive, late after two intervals and the grace, offline after five, and
//! maintenance while an operator says so (nothing escalates then).

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

/// Intervals of silence before a satellite is late (before the grace is added).
const LATE_AFTER: u32 = 2;
/// Intervals of silence before it is offline.
const OFFLINE_AFTER: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Late,
    Offline,
    Maintenance,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Late => "late",
            Status::Offline => "offline",
            Status::Maintenance => "maintenance",
        }
    }
}

/// What the controller expects of satellites.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub interval: Duration,
    pub grace: Duration,
}

/// The status at `now` of a satellite last heard from at `last_heard` (its newest
/// report, or its enrolment before the first).
pub fn status_at(
    cadence: Cadence,
    last_heard: OffsetDateTime,
    maintenance_until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Status {
    if maintenance_until.is_some_and(|until| until > now) {
        return Status::Maintenance;
    }
    let silent = now - last_heard;
    if silent > cadence.interval * OFFLINE_AFTER {
        Status::Offline
    } else if silent > cadence.interval * LATE_AFTER + cadence.grace {
        Status::Late
    } else {
        Status::Online
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_turns_late_then_offline() {
        let cadence = Cadence {
            interval: Duration::from_secs(60),
            grace: Duration::from_secs(30),
        };
        let heard = OffsetDateTime::UNIX_EPOCH;
        let at = |s: i64| heard + time::Duration::seconds(s);
        assert_eq!(status_at(cadence, heard, None, at(150)), Status::Online);
        assert_eq!(status_at(cadence, heard, None, at(151)), Status::Late);
        assert_eq!(status_at(cadence, heard, None, at(300)), Status::Late);
        assert_eq!(status_at(cadence, heard, None, at(301)), Status::Offline);
        assert_eq!(
            status_at(cadence, heard, Some(at(400)), at(350)),
            Status::Maintenance
        );
        assert_eq!(
            status_at(cadence, heard, Some(at(400)), at(401)),
            Status::Offline
        );
    }
}
