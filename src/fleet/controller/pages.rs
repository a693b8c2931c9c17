//! The operators' dashboard on the controller: the fleet at a glance (`/fleet`), one
//! satellite (`/fleet/satellites/{id}`), and the fleet's security trend as JSON
//! (`/fleet/v1/security`). Operators sign in through the dashboard's own sign-in
//! routes; pages take the same [`Caller`] guard, so two-factor policy applies too.
#![allow(missing_debug_implementations)]

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::http::{ControllerState, SatelliteView, operator, view};
use super::metrics::{self, HourlyLoad, SecurityPoint};
use super::{alerts, satellites};
use crate::db::DbError;
use crate::fleet::protocol::Report;
use crate::scan::Severity;
use crate::web::auth::SESSION_COOKIE;
use crate::web::chart::{self, Chart, Point};
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::guard::Caller;
use crate::web::pages::{self, Layout, NavItem};

/// The charts and trend cover this many hours, one bar each.
const HOURS: u32 = 24;

/// Severities worst first, as the tables show them.
fn severities() -> impl Iterator<Item = &'static str> {
    Severity::ALL.into_iter().rev().map(Severity::as_str)
}

fn layout<'a>(state: &'a ControllerState, csrf: &'a CsrfToken, caller: &'a Caller) -> Layout<'a> {
    // Not a setting the dashboard changes: the file's is the one in force.
    let server_name = &state.operators.settings.file().server_name;
    let mut layout = Layout::bare(server_name, csrf, &caller.user);
    layout.nav = vec![NavItem {
        href: "/fleet",
        label: "Fleet",
    }];
    layout.active = "/fleet";
    layout
}

/// One satellite's row.
struct Row {
    id: Uuid,
    name: String,
    client: String,
    region: String,
    status: String,
    /// `ok`, `warn` or `error`: the stylesheet's colours.
    tone: &'static str,
    last_report: String,
    cpu: String,
    memory: String,
    disk: String,
    open_alerts: usize,
    /// Open findings in [`severities`] order.
    findings: Vec<i64>,
    sparks: Vec<Chart>,
}

#[derive(Template)]
#[template(path = "fleet.html")]
struct FleetPage<'a> {
    layout: Layout<'a>,
    severities: Vec<&'static str>,
    rows: Vec<Row>,
    trend: Vec<Chart>,
    /// The newest hour's open findings in [`severities`] order, MTTR, auto-fix rate.
    latest_findings: Vec<i64>,
    mttr: String,
    auto_fix: String,
    chart_width: u32,
    chart_height: u32,
    chart_series: &'static str,
}

#[derive(Template)]
#[template(path = "fleet_satellite.html")]
struct SatellitePage<'a> {
    layout: Layout<'a>,
    row: Row,
    version: String,
    charts: Vec<Chart>,
    alerts: Vec<AlertRow>,
    severities: Vec<&'static str>,
    mttr: String,
    auto_fix: String,
    chart_width: u32,
    chart_height: u32,
    chart_series: &'static str,
}

struct AlertRow {
    rule: String,
    detail: String,
    opened: String,
    resolved: String,
}

fn tone(status: &str) -> &'static str {
    match status {
        "online" => "ok",
        "late" | "maintenance" => "warn",
        _ => "error",
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v:.0} %"))
}

fn mttr(secs: Option<f64>) -> String {
    secs.map_or_else(
        || "nothing resolved".into(),
        |s| {
            humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string()
        },
    )
}

fn rate(rate: Option<f64>) -> String {
    percent(rate.map(|r| r * 100.0))
}

/// Which figure of an hour a chart draws.
type Pick = fn(&HourlyLoad) -> f32;

/// CPU, memory and disk of one satellite, an hourly bar each over the window.
fn load_charts(load: &[HourlyLoad], hours: &[OffsetDateTime]) -> Vec<Chart> {
    let series: [(&'static str, Pick); 3] = [
        ("CPU", |l| l.cpu),
        ("Memory", |l| l.memory),
        ("Fullest disk", |l| l.disk),
    ];
    series
        .into_iter()
        .map(|(title, pick)| {
            let points: Vec<Point> = hours
                .iter()
                .map(|hour| {
                    let value = load.iter().find(|l| l.hour == *hour).map(pick);
                    Point {
                        value: value.map(|v| v.round().max(0.0) as u64),
                        class: match value {
                            Some(v) if v >= 90.0 => "bar-bad",
                            Some(v) if v >= 75.0 => "bar-warn",
                            _ => "bar-ok",
                        },
                        label: match value {
                            Some(v) => format!("{} {v:.0} %", pages::when(*hour)),
                            None => format!("{} no report", pages::when(*hour)),
                        },
                    }
                })
                .collect();
            chart::draw(title, &points, HOURS, |max| format!("{max} %"))
        })
        .collect()
}

fn row(
    satellite: &SatelliteView,
    report: Option<&Report>,
    load: &[HourlyLoad],
    hours: &[OffsetDateTime],
    now: OffsetDateTime,
) -> Row {
    let s = &satellite.satellite;
    let findings = severities()
        .map(|sev| {
            report
                .and_then(|r| r.security.open_findings.get(sev).copied())
                .unwrap_or(0)
        })
        .collect();
    Row {
        id: s.id,
        name: s.name.clone(),
        client: s.client.clone(),
        region: s.region.clone().unwrap_or_else(|| "—".into()),
        status: s.status.clone(),
        tone: tone(&s.status),
        last_report: s
            .last_report_at
            .map_or_else(|| "never".into(), |t| pages::relative(t, now)),
        cpu: percent(satellite.cpu_percent.map(f64::from)),
        memory: percent(satellite.memory_percent),
        disk: percent(satellite.worst_disk_percent),
        open_alerts: satellite.open_problems.len(),
        findings,
        sparks: load_charts(load, hours),
    }
}

/// Everything both pages read, in one trip to the pool.
struct Fleet {
    satellites: Vec<satellites::Satellite>,
    latest: Vec<(Uuid, Report)>,
    open: Vec<alerts::FleetAlert>,
    load: Vec<HourlyLoad>,
}

async fn fleet(
    state: &ControllerState,
    only: Option<Uuid>,
    since: OffsetDateTime,
) -> Result<Fleet, AppError> {
    state
        .db
        .run(move |conn| {
            let satellites: Vec<_> = satellites::all(conn)?
                .into_iter()
                .filter(|s| only.is_none_or(|id| s.id == id))
                .collect();
            let ids: Vec<Uuid> = satellites.iter().map(|s| s.id).collect();
            Ok::<_, DbError>(Fleet {
                latest: satellites::latest_reports(conn, &ids)?,
                open: alerts::all_open(conn)?,
                load: metrics::hourly_load(conn, only, since)?,
                satellites,
            })
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

fn report_of(latest: &[(Uuid, Report)], id: Uuid) -> Option<&Report> {
    latest.iter().find(|(s, _)| *s == id).map(|(_, r)| r)
}

fn load_of(load: &[HourlyLoad], id: Uuid) -> Vec<HourlyLoad> {
    load.iter()
        .filter(|l| l.satellite_id == id)
        .cloned()
        .collect()
}

/// `GET /fleet`.
pub async fn overview(
    state: web::Data<ControllerState>,
    caller: Caller,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let now = OffsetDateTime::now_utc();
    let hours = metrics::window(now, HOURS);
    let since = hours[0];
    let data = fleet(&state, None, since).await?;
    let trend = state
        .db
        .run(move |conn| metrics::security_trend(conn, since).map_err(DbError::from))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let rows = data
        .satellites
        .into_iter()
        .map(|s| {
            let id = s.id;
            let report = report_of(&data.latest, id);
            let satellite = view(s, report, &data.open);
            row(&satellite, report, &load_of(&data.load, id), &hours, now)
        })
        .collect();
    let newest = trend.last();
    pages::html(
        &FleetPage {
            layout: layout(&state, &csrf, &caller),
            severities: severities().collect(),
            rows,
            trend: vec![trend_chart(&trend, &hours)],
            latest_findings: severities()
                .map(|s| {
                    newest
                        .and_then(|p| p.open_findings.get(s).copied())
                        .unwrap_or(0)
                })
                .collect(),
            mttr: mttr(newest.and_then(|p| p.mean_mttr_secs)),
            auto_fix: rate(newest.and_then(|p| p.auto_fix_rate)),
            chart_width: chart::WIDTH,
            chart_height: chart::HEIGHT,
            chart_series: "hourly over the last 24 hours",
        },
        &csrf,
    )
}

/// Open findings across the fleet per hour; the worst severity present colours a bar.
fn trend_chart(trend: &[SecurityPoint], hours: &[OffsetDateTime]) -> Chart {
    let points: Vec<Point> = hours
        .iter()
        .map(|hour| {
            let point = trend.iter().find(|p| p.hour == *hour);
            let total = point.map(|p| p.open_findings.values().sum::<i64>().max(0) as u64);
            let worst = point.and_then(|p| {
                severities().find(|s| p.open_findings.get(*s).is_some_and(|n| *n > 0))
            });
            Point {
                value: total,
                class: match worst {
                    Some("critical" | "high") => "bar-bad",
                    Some("medium") => "bar-warn",
                    _ => "bar-ok",
                },
                label: match point {
                    Some(p) => format!(
                        "{}: {}",
                        pages::when(*hour),
                        severities()
                            .map(|s| format!("{s} {}", p.open_findings.get(s).unwrap_or(&0)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!("{} no report", pages::when(*hour)),
                },
            }
        })
        .collect();
    chart::draw("Open findings, fleet-wide", &points, HOURS, |max| {
        format!("{max} findings")
    })
}

/// `GET /fleet/satellites/{id}`.
pub async fn satellite(
    state: web::Data<ControllerState>,
    caller: Caller,
    csrf: CsrfToken,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let now = OffsetDateTime::now_utc();
    let hours = metrics::window(now, HOURS);
    let data = fleet(&state, Some(id), hours[0]).await?;
    let satellite = data
        .satellites
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    let history = state
        .db
        .run(move |conn| {
            alerts::of_satellite(conn, id, now - Duration::days(7)).map_err(DbError::from)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let report = report_of(&data.latest, id);
    let version = satellite.version.clone();
    let view = view(satellite, report, &data.open);
    let mut row = row(&view, report, &data.load, &hours, now);
    let charts = std::mem::take(&mut row.sparks);
    let security = report.map(|r| &r.security);
    pages::html(
        &SatellitePage {
            layout: layout(&state, &csrf, &caller),
            version,
            charts,
            alerts: history
                .into_iter()
                .map(|a| AlertRow {
                    rule: a.rule,
                    detail: a.detail,
                    opened: pages::when(a.opened_at),
                    resolved: a.resolved_at.map_or_else(|| "open".into(), pages::when),
                })
                .collect(),
            severities: severities().collect(),
            mttr: mttr(security.and_then(|s| s.mttr_secs.map(|v| v as f64))),
            auto_fix: rate(security.and_then(|s| s.auto_fix_rate)),
            row,
            chart_width: chart::WIDTH,
            chart_height: chart::HEIGHT,
            chart_series: "hourly averages over the last 24 hours",
        },
        &csrf,
    )
}

/// `GET /fleet/v1/security`: for a signed-in operator, or a script holding the
/// operator token. Without either it is a 401, not a redirect: it is an API.
pub async fn security_api(
    req: HttpRequest,
    state: web::Data<ControllerState>,
) -> Result<HttpResponse, AppError> {
    let has_bearer = req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION);
    if has_bearer || req.cookie(SESSION_COOKIE).is_none() {
        operator(&req, &state.settings)?;
    } else {
        Caller::extract(&req).await?;
    }
    let now = OffsetDateTime::now_utc();
    let since = metrics::window(now, HOURS)[0];
    let (trend, latest) = state
        .db
        .run(move |conn| {
            let trend = metrics::security_trend(conn, since)?;
            let ids: Vec<Uuid> = satellites::all(conn)?.iter().map(|s| s.id).collect();
            Ok::<_, DbError>((trend, satellites::latest_reports(conn, &ids)?))
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let reports: Vec<_> = latest.into_iter().map(|(_, r)| r.security).collect();
    let current = metrics::summarise(metrics::hour_of(now), &reports);
    let body = serde_json::json!({
        "window_hours": HOURS,
        "current": current,
        "hourly": trend,
    });
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /`: operators land on the fleet (sign-in sends everyone to `/`).
pub async fn home() -> HttpResponse {
    pages::see_other("/fleet").finish()
}
