//! Event-triggered scans inside `outpost serve`. Whatever notices a change (the web app
//! saving a setting, a member pressing "Scan now", the root timer re-applying a
//! control, a skill directory changing) asks through [`ScanRequests`]; one task runs the
//! scans, so a burst of changes becomes one scan after things settle rather than many
//! at once.

use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::db::schema::host_checks;
use crate::scheduler::Services;

/// Requests waiting beyond this many are dropped: one scan covers them all anyway.
const QUEUE: usize = 16;
/// How requests become scans.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// How long changes must stop arriving before the scan runs.
    pub settle: Duration,
    /// How often to look for a hardening run by root (another process).
    pub hardening_poll: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(5),
            hardening_poll: Duration::from_secs(60),
        }
    }
}

/// Asks for a scan. Cheap to clone; a handle with no scheduler behind it (tests, the
/// CLI) ignores requests.
#[derive(Debug, Clone, Default)]
pub struct ScanRequests(Option<mpsc::Sender<&'static str>>);

impl ScanRequests {
    /// A handle and the receiving end for [`Services::serve_scan_requests`].
    pub fn channel() -> (Self, mpsc::Receiver<&'static str>) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        (Self(Some(sender)), receiver)
    }

    /// Asks for a scan recorded under `trigger`; false when nobody will run it.
    pub fn request(&self, trigger: &'static str) -> bool {
        match &self.0 {
            Some(sender) => match sender.try_send(trigger) {
                Ok(()) => true,
                // A full queue already holds a request that will cover this one.
                Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            },
            None => false,
        }
    }
}

impl Services {
    /// Runs a scan for each settled burst of requests, under the first request's
    /// trigger (a member's "Scan now" wins, so the page shows theirs). Also turns a
    /// hardening run by root into a request.
    pub async fn serve_scan_requests(
        &self,
        requests: ScanRequests,
        mut receiver: mpsc::Receiver<&'static str>,
        pace: Pace,
    ) {
        tokio::spawn(watch_hardening(self.clone(), requests, pace.hardening_poll));
        while let Some(first) = receiver.recv().await {
            let mut trigger = first;
            loop {
                match tokio::time::timeout(pace.settle, receiver.recv()).await {
                    Ok(Some(next)) if next == "manual" => trigger = next,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            self.scan(trigger).await;
        }
    }
}

/// Asks for a scan when `outpost harden --apply` (by hand or the root timer) changed
/// the host since the last look: it runs as root in another process.
async fn watch_hardening(services: Services, requests: ScanRequests, every: Duration) {
    let mut tick = tokio::time::interval(every);
    let mut seen = loop {
        tick.tick().await;
        if let Ok(at) = last_applied(&services).await {
            break at;
        }
    };
    loop {
        tick.tick().await;
        let Ok(now) = last_applied(&services).await else {
            continue;
        };
        if now > seen {
            seen = now;
            if !requests.request("hardening_applied") {
                return;
            }
        }
    }
}

async fn last_applied(services: &Services) -> Result<Option<OffsetDateTime>, ()> {
    services
        .db
        .run(|conn| {
            host_checks::table
                .select(diesel::dsl::max(host_checks::applied_at))
                .first::<Option<OffsetDateTime>>(conn)
                .map_err(crate::db::DbError::from)
        })
        .await
        .map_err(|error| tracing::warn!(%error, "cannot read when the host was last hardened"))
}
