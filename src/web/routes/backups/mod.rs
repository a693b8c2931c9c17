//! Backups on the dashboard (`/backups`): how they stand, each target's recent runs
//! and their drills, the schedule, and the buttons to back up, drill and download.
//! What is shown comes from `backup::status`; starting work is in [`jobs`], shared
//! with the JSON API in [`api`]; the download is in [`download`].

pub mod api;
pub mod chart;
pub mod download;
pub mod jobs;

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::backup::error::BackupError;
use crate::backup::status::{self, Drill, Run, State, Status};
use crate::identity::{Capability, cap};
use crate::notify::alerts::Alert;
use crate::web::AppState;
use crate::web::csrf::{CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller};
use crate::web::pages::{self, Layout, relative, when};
use chart::Chart;

const NOTICES: &[(&str, &str)] = &[
    (
        "started",
        "Backup started. It runs in the background; this page shows it when it ends.",
    ),
    (
        "drilling",
        "Restore drill started. It runs in the background; the backup's row shows the result.",
    ),
];

const PROBLEMS: &[(&str, &str)] = &[(
    "busy",
    "Not started: a backup is already running (or a restore drill or restore). Try again when it has finished.",
)];

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "backups.html")]
struct BackupsPage<'a> {
    layout: Layout<'a>,
    notice: Option<&'static str>,
    problem: Option<&'static str>,
    banner: Banner,
    alerts: Vec<AlertView>,
    targets: Vec<TargetView>,
    next_runs: Vec<(String, String)>,
    running: Option<String>,
    can_manage: bool,
    can_download: bool,
    chart_width: u32,
    chart_height: u32,
    /// Which series the charts draw, in the caption.
    chart_series: &'static str,
}

/// The overall state, as the page and the overview's tile show it.
pub struct Banner {
    pub label: &'static str,
    /// `ok`, `warn` or `bad`: the stylesheet's tones.
    pub tone: &'static str,
    pub reasons: Vec<String>,
    pub last_complete: String,
    pub last_drill: String,
}

impl Banner {
    pub fn of(status: &Status, now: OffsetDateTime) -> Self {
        let (label, tone) = match status.state {
            State::Green => ("Backups are healthy", "ok"),
            State::Amber => ("Backups need attention", "warn"),
            State::Red => ("Backups are failing", "bad"),
        };
        Self {
            label,
            tone,
            reasons: status.reasons.clone(),
            last_complete: status
                .last_complete_at
                .map_or_else(|| "never".into(), |at| relative(at, now)),
            last_drill: status
                .last_drill
                .as_ref()
                .map_or_else(|| "never".into(), |d| drill_words(d, now).0),
        }
    }
}

struct AlertView {
    summary: String,
    detail: String,
    since: String,
    occurrences: i32,
}

struct TargetView {
    name: String,
    scheduled: bool,
    runs: Vec<RunView>,
    charts: Vec<Chart>,
}

struct RunView {
    id: Uuid,
    short_id: String,
    status: &'static str,
    tone: &'static str,
    trigger: String,
    started: String,
    started_exact: String,
    size: String,
    duration: String,
    drill: String,
    drill_tone: &'static str,
    error: String,
    available: bool,
}

fn run_view(run: &Run, now: OffsetDateTime) -> RunView {
    let row = &run.row;
    let (status, tone) = match (row.outcome.as_str(), row.pruned_at) {
        ("complete", Some(_)) => ("Removed by retention", "hint"),
        ("complete", None) => ("Complete", "ok"),
        ("running", _) => ("Running", "warn"),
        ("interrupted", _) => ("Interrupted", "bad"),
        _ => ("Failed", "bad"),
    };
    let (drill, drill_tone) = match &run.drill {
        Some(d) => drill_words(d, now),
        None if run.is_available() => ("not drilled yet".into(), "hint"),
        None => (String::new(), "hint"),
    };
    RunView {
        id: row.id,
        short_id: row.id.to_string()[..8].to_owned(),
        status,
        tone,
        trigger: if row.catch_up {
            format!("{} (catch-up)", row.trigger)
        } else {
            row.trigger.clone()
        },
        started: relative(row.started_at, now),
        started_exact: when(row.started_at),
        size: row.stored_bytes.map(pages::size).unwrap_or_default(),
        duration: run.duration_ms.map(chart::seconds).unwrap_or_default(),
        drill,
        drill_tone,
        error: row.error.clone().unwrap_or_default(),
        available: run.is_available(),
    }
}

fn drill_words(drill: &Drill, now: OffsetDateTime) -> (String, &'static str) {
    let at = relative(drill.finished_at.unwrap_or(drill.started_at), now);
    match drill.outcome.as_str() {
        "passed" => (format!("passed {at}"), "ok"),
        "running" => ("drill running".into(), "warn"),
        _ => (
            format!(
                "failed {at}: {}",
                drill.error.as_deref().unwrap_or("no reason recorded")
            ),
            "bad",
        ),
    }
}

/// The status as of now, read on a pooled connection.
/// The status as `caller` may see it: error texts only for those who run backups.
pub async fn load(state: &AppState, caller: &Caller) -> Result<Status, AppError> {
    let config = state.config();
    let status = state
        .db
        .run(move |conn| {
            status::load(conn, &config, OffsetDateTime::now_utc()).map_err(AppError::from)
        })
        .await?;
    Ok(if caller.can(Capability::BackupsManage) {
        status
    } else {
        status.without_details()
    })
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let status = load(&state, &caller.caller).await?;
    let now = OffsetDateTime::now_utc();
    let config = state.config();
    let page = BackupsPage {
        layout: Layout::signed_in(&config.server_name, &csrf, &caller.caller, "/backups"),
        notice: pages::flash(messages.notice.as_deref(), NOTICES),
        problem: pages::flash(messages.problem.as_deref(), PROBLEMS),
        banner: Banner::of(&status, now),
        alerts: status
            .alerts
            .iter()
            .map(|a: &Alert| AlertView {
                summary: a.summary.clone(),
                detail: a.detail.clone(),
                since: relative(a.raised_at, now),
                occurrences: a.occurrences,
            })
            .collect(),
        targets: status
            .targets
            .iter()
            .map(|t| TargetView {
                name: t.name.clone(),
                scheduled: t.scheduled,
                runs: t.runs.iter().map(|r| run_view(r, now)).collect(),
                charts: chart::charts(&t.runs),
            })
            .collect(),
        next_runs: status
            .next_runs
            .iter()
            .map(|n| {
                let at = n.at.map_or_else(
                    || "never".into(),
                    |at| format!("{} ({})", relative(at, now), when(at)),
                );
                (format!("{} to {}", n.trigger, n.target), at)
            })
            .collect(),
        running: status.running.as_ref().map(|r| {
            format!(
                "A backup to {} has been running since {}.",
                r.row.target,
                relative(r.row.started_at, now)
            )
        }),
        can_manage: caller.caller.can(Capability::BackupsManage),
        can_download: caller.caller.can(Capability::DataExport),
        chart_width: chart::WIDTH,
        chart_height: chart::HEIGHT,
        chart_series: "of the last runs",
    };
    pages::html(&page, &csrf)
}

#[derive(Deserialize)]
pub struct RunForm {
    target: Option<String>,
}

/// `POST /backups/run`: "Back up now".
pub async fn run(
    state: web::Data<AppState>,
    caller: Authorized<cap::BackupsManage>,
    CsrfForm(form): CsrfForm<RunForm>,
) -> Result<HttpResponse, AppError> {
    let target = form
        .target
        .unwrap_or_else(|| state.config().backup.target.clone());
    match jobs::start_run(&state, caller.user(), target).await {
        Ok(_) => Ok(pages::see_other("/backups?notice=started").finish()),
        Err(BackupError::Busy) => Ok(pages::see_other("/backups?problem=busy").finish()),
        Err(other) => Err(other.into()),
    }
}

/// `POST /backups/{id}/verify`: "Verify now", a restore drill of one backup.
pub async fn verify(
    state: web::Data<AppState>,
    caller: Authorized<cap::BackupsManage>,
    id: web::Path<Uuid>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    match jobs::start_drill(&state, caller.user(), *id).await {
        Ok(_) => Ok(pages::see_other("/backups?notice=drilling").finish()),
        Err(BackupError::Busy) => Ok(pages::see_other("/backups?problem=busy").finish()),
        Err(other) => Err(other.into()),
    }
}
