//! The security page and its JSON (`GET /api/v1/security`): the open findings, most
//! severe first, and the trend of the security loop: open findings after each scan,
//! scan durations, mean time to resolution and the auto-fix rate.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{Actor, Event, Outcome};
use crate::identity::{ClientInfo, cap};
use crate::scan::findings::{self, Finding};
use crate::scan::metrics::{self, Metrics};
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::chart::{self, Chart, Point};
use crate::web::csrf::{CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::guard::Authorized;
use crate::web::pages::{self, Layout, relative, when};

/// How far back the trend and the metrics look (the overview's trend too).
pub(super) const WINDOW: time::Duration = time::Duration::days(30);
/// Scans drawn: a month of nightly ones and some more.
const SCANS_SHOWN: usize = 45;

struct FindingView {
    severity: String,
    /// The stylesheet's tone: `bad` for high and critical, `warn` for medium.
    tone: &'static str,
    check: String,
    title: String,
    evidence: String,
    since: String,
    since_exact: String,
    reopened: i32,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage<'a> {
    layout: Layout<'a>,
    notice: Option<&'static str>,
    problem: Option<&'static str>,
    /// Owners and Admins may start a scan.
    can_scan: bool,
    findings: Vec<FindingView>,
    mttr: String,
    auto_fix: String,
    last_scan: String,
    charts: Vec<Chart>,
    chart_width: u32,
    chart_height: u32,
    /// Which series the charts draw, in the caption.
    chart_series: &'static str,
}

async fn load(state: &AppState) -> Result<(Vec<Finding>, Metrics), AppError> {
    let since = OffsetDateTime::now_utc() - WINDOW;
    state
        .db
        .run(move |conn| Ok::<_, AppError>((findings::open(conn)?, metrics::load(conn, since)?)))
        .await
}

const NOTICES: &[(&str, &str)] = &[(
    "scanning",
    "Scan started. It runs in the background and takes a few seconds; reload to see its findings.",
)];

const PROBLEMS: &[(&str, &str)] = &[(
    "loop_off",
    "The security loop is switched off on this server (scan.nightly is blank): run `outpost scan` on the server instead.",
)];

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
    problem: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::FindingsView>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let (open, metrics) = load(&state).await?;
    let now = OffsetDateTime::now_utc();
    let config = state.config();
    let page = SecurityPage {
        layout: Layout::signed_in(&config.server_name, &csrf, &caller.caller, "/security"),
        notice: pages::flash(messages.notice.as_deref(), NOTICES),
        problem: pages::flash(messages.problem.as_deref(), PROBLEMS),
        can_scan: caller
            .caller
            .can(crate::identity::Capability::HardeningManage),
        findings: open
            .into_iter()
            .map(|f| FindingView {
                tone: match f.severity.as_str() {
                    "critical" | "high" => "bad",
                    "medium" => "warn",
                    _ => "ok",
                },
                severity: f.severity,
                check: f.check_id,
                title: f.title,
                evidence: f.evidence,
                since: relative(f.first_seen, now),
                since_exact: when(f.first_seen),
                reopened: f.reopened,
            })
            .collect(),
        mttr: metrics.mean_time_to_resolution.map_or_else(
            || "nothing resolved".to_owned(),
            |d| humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string(),
        ),
        auto_fix: metrics.auto_fix_rate.map_or_else(
            || "—".to_owned(),
            |rate| {
                format!(
                    "{:.0} % ({} of {})",
                    rate * 100.0,
                    metrics.auto_fixed,
                    metrics.resolved
                )
            },
        ),
        last_scan: metrics
            .trend
            .last()
            .map_or_else(|| "never".to_owned(), |p| relative(p.at, now)),
        charts: charts(&metrics),
        chart_width: chart::WIDTH,
        chart_height: chart::HEIGHT,
        chart_series: "after each scan",
    };
    pages::html(&page, &csrf)
}

pub async fn api(
    state: web::Data<AppState>,
    _: Authorized<cap::FindingsView>,
) -> Result<HttpResponse, AppError> {
    let (open, metrics) = load(&state).await?;
    Ok(HttpResponse::Ok().json(json!({ "findings": open, "metrics": metrics })))
}

/// Asks the scheduler for a scan now, audited; false when the loop is off here.
async fn request_scan(
    state: &AppState,
    by: uuid::Uuid,
    client: &ClientInfo,
) -> Result<bool, AppError> {
    let accepted = state.scan_requests.request("manual");
    let event = Event::new(
        Actor::User(by),
        "scan.requested",
        if accepted {
            Outcome::Success
        } else {
            Outcome::Failure
        },
    )
    .client(client);
    state
        .audit_writer()
        .append(event)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(accepted)
}

/// `POST /security/scan`: "Scan now".
pub async fn scan_now(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::HardeningManage>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let to = if request_scan(&state, caller.user().id, &client_info(&req)).await? {
        "/security?notice=scanning"
    } else {
        "/security?problem=loop_off"
    };
    Ok(pages::see_other(to).finish())
}

/// `POST /api/v1/security/scans`: 202 when a scan will run, 409 when the loop is off.
pub async fn scan_api(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::HardeningManage>,
) -> Result<HttpResponse, AppError> {
    if request_scan(&state, caller.user().id, &client_info(&req)).await? {
        Ok(HttpResponse::Accepted().json(json!({ "status": "requested" })))
    } else {
        Err(AppError::Conflict(PROBLEMS[0].1.into()))
    }
}

/// Open findings after each scan (coloured by the worst open severity) and scan
/// durations, oldest on the left.
fn charts(metrics: &Metrics) -> Vec<Chart> {
    let shown = shown(metrics);
    let Some(open) = open_findings_chart(metrics) else {
        return Vec::new();
    };
    let durations: Vec<Point> = shown
        .iter()
        .map(|p| Point {
            value: Some(u64::try_from(p.duration_ms).unwrap_or(0)),
            class: "bar-ok",
            label: format!("{}: {} ms", when(p.at), p.duration_ms),
        })
        .collect();
    vec![
        open,
        chart::draw("Scan duration", &durations, SCANS_SHOWN as u32, |ms| {
            format!("{:.1} s", ms as f64 / 1000.0)
        }),
    ]
}

/// The scans drawn: the newest [`SCANS_SHOWN`] of the window.
fn shown(metrics: &Metrics) -> &[metrics::Point] {
    &metrics.trend[metrics.trend.len().saturating_sub(SCANS_SHOWN)..]
}

/// Open findings after each scan of the 30-day window, coloured by the worst open
/// severity; none before the first scan. The overview draws the same chart.
pub(super) fn open_findings_chart(metrics: &Metrics) -> Option<Chart> {
    let shown = shown(metrics);
    if shown.is_empty() {
        return None;
    }
    let open: Vec<Point> = shown
        .iter()
        .map(|p| {
            let count = |s: &str| p.open.get(s).copied().unwrap_or(0);
            let total: i64 = p.open.values().sum();
            let class = if count("critical") + count("high") > 0 {
                "bar-bad"
            } else if count("medium") > 0 {
                "bar-warn"
            } else {
                "bar-ok"
            };
            let by_severity: Vec<String> = ["critical", "high", "medium", "low", "info"]
                .iter()
                .filter(|s| count(s) > 0)
                .map(|s| format!("{} {s}", count(s)))
                .collect();
            Point {
                value: Some(u64::try_from(total).unwrap_or(0)),
                class,
                label: format!(
                    "{}: {}",
                    when(p.at),
                    if by_severity.is_empty() {
                        "nothing open".to_owned()
                    } else {
                        by_severity.join(", ")
                    }
                ),
            }
        })
        .collect();
    Some(chart::draw(
        "Open findings",
        &open,
        SCANS_SHOWN as u32,
        |n| format!("{n} open"),
    ))
}
