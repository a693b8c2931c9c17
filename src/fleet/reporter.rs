//! The reporter inside `outpost serve`: every `[fleet] interval` it takes a health
//! report and queues it, then sends what is queued, oldest first, each signed per
//! Standard Webhooks with the satellite's secret. While the controller does not
//! answer, reports wait (up to `[fleet] buffer`) and attempts back off.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use super::enrolment::{Enrolment, innermost, problem_detail};
use super::health::Gatherer;
use super::protocol::{HEADER_SATELLITE, REPORTS_PATH, Report};
use super::queue::{Backoff, ReportQueue};
use crate::config::Config;
use crate::db::Db;
use crate::notify::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::scheduler::Heartbeat;

const SEND_TIMEOUT: Duration = Duration::from_secs(15);
const FIRST_RETRY: Duration = Duration::from_secs(5);
const LONGEST_RETRY: Duration = Duration::from_secs(10 * 60);

/// What became of one report.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted, or already accepted before (a replayed id).
    Delivered,
    /// Refused for good (a malformed report): dropped, so it does not block the queue.
    Refused { status: u16, detail: String },
    /// Not now: the controller is unreachable, busy, or did not take the signature.
    Retry(String),
}

/// Sends one report to `endpoint`, signed with the enrolment's secret.
pub async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    enrolment: &Enrolment,
    report: &Report,
) -> Delivery {
    let body = match serde_json::to_vec(report) {
        Ok(body) => body,
        Err(e) => {
            return Delivery::Refused {
                status: 0,
                detail: format!("cannot encode: {e}"),
            };
        }
    };
    let id = report.id.to_string();
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = enrolment.secret.sign(&id, timestamp, &body);
    let sent = client
        .post(endpoint)
        .timeout(SEND_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER_ID, &id)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, signature)
        .header(HEADER_SATELLITE, enrolment.satellite_id.to_string())
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return Delivery::Retry(innermost(&e)),
    };
    let status = response.status();
    if status.is_success() || status == StatusCode::CONFLICT {
        return Delivery::Delivered;
    }
    let body = response.bytes().await.unwrap_or_default();
    let detail = problem_detail(&body)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("no reason").to_owned());
    // 401: a clock or secret problem that affects every report alike; 429: asked to
    // slow down. Neither is this report's fault.
    let retried = [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS];
    if status.is_client_error() && !retried.contains(&status) {
        Delivery::Refused {
            status: status.as_u16(),
            detail,
        }
    } else {
        Delivery::Retry(format!("{}: {detail}", status.as_u16()))
    }
}

#[derive(Debug)]
pub struct Reporter {
    gatherer: Gatherer,
    queue: ReportQueue,
    backoff: Backoff,
    client: reqwest::Client,
    endpoint: String,
    enrolment: Enrolment,
    interval: Duration,
}

impl Reporter {
    /// None when `[fleet] controller_url` is blank.
    pub fn new(
        config: Arc<Config>,
        db: Db,
        heartbeat: Option<Arc<Heartbeat>>,
        enrolment: Enrolment,
    ) -> Result<Option<Self>, String> {
        let Some(controller) = config.fleet.controller() else {
            return Ok(None);
        };
        if controller != enrolment.controller_url.trim_end_matches('/') {
            tracing::warn!(
                configured = controller,
                enrolled = %enrolment.controller_url,
                "fleet.controller_url is not the controller this server enrolled with: its reports will not verify there"
            );
        }
        let endpoint = format!("{controller}{REPORTS_PATH}");
        crate::backup_target::s3::install_tls_provider();
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("cannot build the fleet client: {e}"))?;
        Ok(Some(Self {
            queue: ReportQueue::new(config.fleet.buffer),
            backoff: Backoff::new(FIRST_RETRY, LONGEST_RETRY),
            interval: config.fleet.interval,
            gatherer: Gatherer::new(config, db, heartbeat),
            client,
            endpoint,
            enrolment,
        }))
    }

    /// Takes a report and queues it behind any waiting ones.
    pub async fn take_report(&mut self) -> Report {
        let report = self.gatherer.report().await;
        if let Some(dropped) = self.queue.push(report.clone()) {
            tracing::warn!(
                report = %dropped.id,
                dropped = self.queue.dropped(),
                "fleet report queue full: the oldest report was dropped"
            );
        }
        report
    }

    /// Sends queued reports, oldest first, until none is left (Ok, with how many left
    /// the queue) or one must wait (Err, why).
    pub async fn flush(&mut self) -> Result<usize, String> {
        let mut sent = 0;
        while let Some(report) = self.queue.oldest() {
            match send(&self.client, &self.endpoint, &self.enrolment, report).await {
                Delivery::Delivered => {}
                Delivery::Refused { status, detail } => {
                    tracing::error!(report = %report.id, status, detail, "the fleet controller refused a report: dropped");
                }
                Delivery::Retry(why) => return Err(why),
            }
            self.queue.done();
            sent += 1;
        }
        Ok(sent)
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Reports dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// Reports every interval until the process ends.
    pub async fn run(mut self) {
        tracing::info!(
            satellite = %self.enrolment.satellite_id,
            endpoint = %self.endpoint,
            interval_secs = self.interval.as_secs(),
            "fleet reporting started"
        );
        let mut next_report = Instant::now();
        let mut retry_at: Option<Instant> = None;
        loop {
            let wake = match retry_at {
                Some(at) if !self.queue.is_empty() => at.min(next_report),
                _ => next_report,
            };
            tokio::time::sleep_until(wake).await;
            let now = Instant::now();
            if now >= next_report {
                self.take_report().await;
                next_report += self.interval;
                // A late wake (a suspended VM) skips the missed reports, not piles them up.
                if next_report <= now {
                    next_report = now + self.interval;
                }
            }
            if retry_at.is_some_and(|at| now < at) {
                continue;
            }
            match self.flush().await {
                Ok(_) => {
                    if self.backoff.failures() > 0 {
                        tracing::info!("the fleet controller answers again; queued reports sent");
                    }
                    self.backoff.succeeded();
                    retry_at = None;
                }
                Err(why) => {
                    let wait = self.backoff.failed();
                    tracing::warn!(
                        reason = %why,
                        queued = self.queue.len(),
                        retry_in_secs = wait.as_secs(),
                        "fleet report not delivered; kept for the next attempt"
                    );
                    retry_at = Some(Instant::now() + wait);
                }
            }
        }
    }
}

impl crate::scheduler::Services {
    /// Reports to the fleet controller when `[fleet] controller_url` is set and this
    /// server is enrolled; otherwise says why not, once.
    pub async fn start_fleet_reports(self, heartbeat: Arc<Heartbeat>) {
        if self.config.get().fleet.controller().is_none() {
            return;
        }
        let vault = Arc::clone(&self.vault);
        let enrolment = self
            .db
            .run(move |conn| super::enrolment::load(conn, &vault))
            .await;
        let enrolment = match enrolment {
            Ok(Some(enrolment)) => enrolment,
            Ok(None) => {
                return tracing::warn!(
                    "fleet.controller_url is set but this server is not enrolled: run `outpost fleet enroll`"
                );
            }
            Err(error) => {
                return tracing::error!(%error, "cannot read the fleet enrolment: not reporting");
            }
        };
        match Reporter::new(self.config.get(), self.db, Some(heartbeat), enrolment) {
            Ok(Some(reporter)) => reporter.run().await,
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "fleet reporting not started"),
        }
    }
}
