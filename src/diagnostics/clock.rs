//! Is this server's clock right? Sessions, TOTP codes, signed reports and certificate
//! checks all depend on it. Two witnesses: PostgreSQL's clock (a database on another
//! host, or a container with its own time namespace, can disagree), and what
//! systemd-timesyncd or chrony report through `timedatectl show`, where there is one.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;

/// How long `timedatectl` may take: it asks systemd over D-Bus, which may hang.
const TIMEDATECTL_TIMEOUT: Duration = Duration::from_secs(3);
/// Drift past this is shown as a problem: TOTP codes last 30 s, signed reports and
/// webhooks accept 5 minutes of skew.
pub const DRIFT_WARNING_MS: i64 = 2_000;

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseClock {
    #[serde(with = "time::serde::rfc3339")]
    pub database: OffsetDateTime,
    /// The database's clock minus ours at the moment it answered (positive: ahead).
    pub drift_ms: i64,
    /// The query's round trip: the measurement is good to about half of it.
    pub round_trip_ms: i64,
}

/// Compares PostgreSQL's `clock_timestamp()` (the time the statement ran, unlike
/// `now()`, which is fixed at the transaction's start) with the midpoint of the query.
pub fn against_database(conn: &mut PgConnection) -> QueryResult<DatabaseClock> {
    let sent = OffsetDateTime::now_utc();
    let database: OffsetDateTime = diesel::select(
        diesel::dsl::sql::<diesel::sql_types::Timestamptz>("clock_timestamp()"),
    )
    .get_result(conn)?;
    let received = OffsetDateTime::now_utc();
    let round_trip: time::Duration = received - sent;
    let midpoint = sent + round_trip / 2;
    let drift: time::Duration = database - midpoint;
    Ok(DatabaseClock {
        database,
        drift_ms: drift.whole_milliseconds() as i64,
        round_trip_ms: round_trip.whole_milliseconds() as i64,
    })
}

/// What the time-sync daemon says, as far as it can be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeSync {
    /// `NTP`: network time synchronisation is switched on.
    pub ntp_enabled: Option<bool>,
    /// `NTPSynchronized`: the kernel's clock is synchronised right now.
    pub synchronized: Option<bool>,
    /// Why there is no answer (no timedatectl, no systemd, a timeout), if there is none.
    pub unavailable: Option<String>,
}

impl TimeSync {
    fn unavailable(why: impl Into<String>) -> Self {
        Self {
            ntp_enabled: None,
            synchronized: None,
            unavailable: Some(why.into()),
        }
    }
}

/// Asks `timedatectl show`; never fails, says why when it has no answer. Blocking.
pub fn time_sync() -> TimeSync {
    let child = Command::new("timedatectl")
        .args(["show", "--property=NTP", "--property=NTPSynchronized"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return TimeSync::unavailable("timedatectl is not installed");
        }
        Err(e) => return TimeSync::unavailable(format!("timedatectl did not start: {e}")),
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < TIMEDATECTL_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return TimeSync::unavailable("timedatectl did not answer in time");
            }
            Err(e) => return TimeSync::unavailable(format!("timedatectl: {e}")),
        }
    };
    // The answer is two short lines: it fits in the pipe, so reading after exit is safe.
    let read = |pipe: Option<&mut dyn Read>| {
        let mut text = String::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(64 * 1024).read_to_string(&mut text);
        }
        text
    };
    let stdout = read(child.stdout.as_mut().map(|p| p as &mut dyn Read));
    let stderr = read(child.stderr.as_mut().map(|p| p as &mut dyn Read));
    if !status.success() {
        let first = stderr.lines().next().unwrap_or("no message").trim();
        return TimeSync::unavailable(format!("timedatectl failed: {first}"));
    }
    parse_show(&stdout)
}

/// `NTP=yes\nNTPSynchronized=no\n` as `timedatectl show` prints it.
pub fn parse_show(text: &str) -> TimeSync {
    let flag = |key: &str| {
        text.lines()
            .find_map(|line| match line.trim().split_once('=')? {
                (k, "yes") if k == key => Some(true),
                (k, "no") if k == key => Some(false),
                _ => None,
            })
    };
    let sync = TimeSync {
        ntp_enabled: flag("NTP"),
        synchronized: flag("NTPSynchronized"),
        unavailable: None,
    };
    if sync.ntp_enabled.is_none() && sync.synchronized.is_none() {
        return TimeSync::unavailable("timedatectl reported neither NTP nor NTPSynchronized");
    }
    sync
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_timedatectl_shows() {
        let on = parse_show("NTP=yes\nNTPSynchronized=yes\n");
        assert_eq!((on.ntp_enabled, on.synchronized), (Some(true), Some(true)));
        let off = parse_show("NTP=no\nNTPSynchronized=no\n");
        assert_eq!(
            (off.ntp_enabled, off.synchronized),
            (Some(false), Some(false))
        );
        let junk = parse_show("Timezone=UTC\n");
        assert!(junk.unavailable.is_some());
    }

    #[test]
    fn asking_always_answers_in_time() {
        let started = Instant::now();
        let sync = time_sync();
        assert!(started.elapsed() < TIMEDATECTL_TIMEOUT + Duration::from_secs(1));
        // Either a real answer or the reason there is none: never both, never neither.
        assert_eq!(
            sync.unavailable.is_some(),
            sync.ntp_enabled.is_none() && sync.synchronized.is_none(),
            "{sync:?}"
        );
    }
}
