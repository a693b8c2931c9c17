//! What `/metrics` exposes, in the Prometheus text exposition format: HTTP requests
//! and their latency (counted on the request path, in memory), scheduled job runs
//! (counted by the scheduler), and the age of the newest backup and the open findings
//! by severity (read from the database when scraped, see [`scrape`]).
//!
//! One [`Metrics`] per server process, shared by the web workers and the scheduler.
//! Requests are labelled by the route's pattern (`/api/v1/keys/{id}`), never the raw
//! path, so a crawler walking random URLs cannot grow the label set without bound.

pub mod access;
pub mod scrape;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use scrape::Snapshot;

/// The media type of [`Metrics::render`]'s output (what the client crate writes).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label a request that matched no route gets in place of a pattern.
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    /// `success` or `failure`.
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabels {
    severity: String,
}

/// No labels (an empty set): a family holding at most one series, so the gauge can be
/// absent rather than a made-up number when there is nothing to measure.
type Unlabelled = Vec<(String, String)>;

/// How a scheduled job's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Success,
    Failure,
}

impl JobOutcome {
    pub fn of(ok: bool) -> Self {
        if ok { Self::Success } else { Self::Failure }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    job_runs: Family<JobLabels, Counter>,
    backup_age: Family<Unlabelled, Gauge<f64, AtomicU64>>,
    open_findings: Family<SeverityLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("outpost");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP responses by method, route pattern and status class",
            requests.clone(),
        );
        // 5 ms to ~10 s: a page is tens of milliseconds, a sign-in's password hash
        // about half a second, an export or a drill start several seconds.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.005, 2.0, 12))) as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response, by method and route pattern",
            latency.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        registry.register(
            "job_runs",
            "Runs of the scheduled jobs by job and outcome, since the process started",
            job_runs.clone(),
        );
        let backup_age = Family::<Unlabelled, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "backup_last_complete_age_seconds",
            "Seconds since the newest complete backup still on its target finished \
             (absent before the first)",
            backup_age.clone(),
        );
        let open_findings = Family::<SeverityLabels, Gauge>::default();
        registry.register(
            "open_findings",
            "Open security findings by severity",
            open_findings.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            job_runs,
            backup_age,
            open_findings,
        }
    }

    /// Counts one response to `method` on `route` (the pattern, or `None` when no
    /// route matched) with `status`, answered after `elapsed`.
    pub fn observe_request(
        &self,
        method: &str,
        route: Option<&str>,
        status: u16,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or(UNMATCHED_ROUTE).to_owned();
        // HTTP allows any token as a method: a made-up one must not add a series.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        }
        .to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                method: method.clone(),
                route: route.clone(),
                status: status_class(status).to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { method, route })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one run of the scheduled job `job`.
    pub fn job_ran(&self, job: &str, outcome: JobOutcome) {
        self.job_runs
            .get_or_create(&JobLabels {
                job: job.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
    }

    /// The exposition: the in-memory counters with `snapshot`'s gauges.
    pub fn render(&self, snapshot: &Snapshot) -> Result<String, std::fmt::Error> {
        match snapshot.backup_age {
            Some(age) => {
                self.backup_age
                    .get_or_create(&Unlabelled::new())
                    .set(age.as_secs_f64());
            }
            None => self.backup_age.clear(),
        }
        for (severity, open) in &snapshot.open_findings {
            self.open_findings
                .get_or_create(&SeverityLabels {
                    severity: (*severity).to_owned(),
                })
                .set(*open);
        }
        let mut out = String::new();
        text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Redirects, client and server errors apart; 1xx never reaches a handler's caller.
fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn requests_are_counted_by_pattern_and_class() {
        let metrics = Metrics::new();
        let ms = Duration::from_millis(12);
        metrics.observe_request("GET", Some("/api/v1/keys/{id}"), 200, ms);
        metrics.observe_request("GET", Some("/api/v1/keys/{id}"), 204, ms);
        metrics.observe_request("GET", None, 404, ms);
        metrics.observe_request("XYZZY", None, 405, ms);
        metrics.job_ran("checkpoint", JobOutcome::Failure);
        let snapshot = Snapshot {
            backup_age: None,
            open_findings: BTreeMap::from([("high", 2), ("low", 0)]),
        };
        let out = metrics.render(&snapshot).unwrap();
        assert!(
            out.contains(
                r#"outpost_http_requests_total{method="GET",route="/api/v1/keys/{id}",status="2xx"} 2"#
            ),
            "{out}"
        );
        for method in ["GET", "other"] {
            let series = format!(r#"{{method="{method}",route="unmatched",status="4xx"}} 1"#);
            assert!(out.contains(&series), "{out}");
        }
        assert!(!out.contains("XYZZY"), "{out}");
        // 12 ms: above the 10 ms bucket, within the 20 ms one.
        let bucket = |le: &str, n: u32| {
            format!(
                "outpost_http_request_duration_seconds_bucket\
                 {{le=\"{le}\",method=\"GET\",route=\"/api/v1/keys/{{id}}\"}} {n}\n"
            )
        };
        assert!(out.contains(&bucket("0.01", 0)), "{out}");
        assert!(out.contains(&bucket("0.02", 2)), "{out}");
        assert!(out.contains(r#"outpost_job_runs_total{job="checkpoint",outcome="failure"} 1"#));
        assert!(out.contains(r#"outpost_open_findings{severity="high"} 2"#));
        assert!(!out.contains("outpost_backup_last_complete_age_seconds "));

        let aged = Snapshot {
            backup_age: Some(Duration::from_secs(90)),
            ..snapshot
        };
        let out = metrics.render(&aged).unwrap();
        assert!(
            out.contains("outpost_backup_last_complete_age_seconds 90.0"),
            "{out}"
        );
    }
}
