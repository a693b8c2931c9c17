//! `/diagnostics` (Owners and Admins): versions, the database, the scheduler's jobs,
//! the clock; and the support bundle download, audited as `diagnostics.bundle_downloaded`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;

use crate::audit::{Actor, Event, Outcome};
use crate::diagnostics::bundle::{self, Contents};
use crate::diagnostics::clock::DRIFT_WARNING_MS;
use crate::diagnostics::{self, Diagnostics};
use crate::host::status as host_status;
use crate::identity::cap;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::guard::Authorized;
use crate::web::pages::{self, Layout, relative, size, when};

pub const BUNDLE_ACTION: &str = "diagnostics.bundle_downloaded";

struct JobRow {
    name: String,
    cron: String,
    last: String,
    next: String,
    running: bool,
}

struct MigrationRow {
    name: String,
    applied: bool,
}

#[derive(Template)]
#[template(path = "diagnostics.html")]
struct DiagnosticsPage<'a> {
    layout: Layout<'a>,
    d: Diagnostics,
    taken: String,
    db_size: String,
    migrations: Vec<MigrationRow>,
    migrations_applied: usize,
    migrations_pending: usize,
    jobs: Vec<JobRow>,
    clock_drift: String,
    clock_tone: &'static str,
    sync: String,
    sync_tone: &'static str,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::DiagnosticsView>,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let d = diagnostics::gather(&state.db, &state.jobs).await;
    let now = d.taken_at;
    let jobs = d
        .jobs
        .iter()
        .map(|job| JobRow {
            name: job.name.clone(),
            cron: job.cron.clone(),
            last: match (job.last_started, job.last_finished) {
                (Some(started), _) if job.running => format!("running since {}", when(started)),
                (_, Some(finished)) => format!("{} ({})", relative(finished, now), when(finished)),
                _ => "not since this process started".into(),
            },
            next: job.next_run.map_or_else(
                || "never".into(),
                |at| format!("{} ({})", relative(at, now), when(at)),
            ),
            running: job.running,
        })
        .collect();
    let (clock_drift, clock_tone) = match &d.clock.database {
        Some(c) => (
            format!(
                "PostgreSQL runs {} ms {} this server (measured to ±{} ms)",
                c.drift_ms.abs(),
                if c.drift_ms >= 0 {
                    "ahead of"
                } else {
                    "behind"
                },
                c.round_trip_ms / 2 + 1
            ),
            if c.drift_ms.abs() > DRIFT_WARNING_MS {
                "bad"
            } else {
                "ok"
            },
        ),
        None => ("not measured: the database did not answer".into(), "warn"),
    };
    let (sync, sync_tone) = match (&d.clock.sync.unavailable, d.clock.sync.synchronized) {
        (Some(why), _) => (format!("unknown ({why})"), "warn"),
        (None, Some(true)) => ("synchronised (NTP)".to_owned(), "ok"),
        (None, _) => (
            format!(
                "not synchronised; network time is {}",
                match d.clock.sync.ntp_enabled {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => "in an unknown state",
                }
            ),
            "bad",
        ),
    };
    let migrations: Vec<MigrationRow> = d
        .database
        .migrations
        .iter()
        .flat_map(|m| m.embedded.iter())
        .map(|m| MigrationRow {
            name: m.name.clone(),
            applied: m.applied,
        })
        .collect();
    let config = state.config();
    let page = DiagnosticsPage {
        layout: Layout::signed_in(&config.server_name, &csrf, &caller.caller, "/diagnostics"),
        taken: when(now),
        db_size: d.database.size_bytes.map_or("unknown".into(), size),
        migrations_applied: d.database.migrations.as_ref().map_or(0, |m| m.applied),
        migrations_pending: d.database.migrations.as_ref().map_or(0, |m| m.pending()),
        migrations,
        jobs,
        clock_drift,
        clock_tone,
        sync,
        sync_tone,
        d,
    };
    pages::html(&page, &csrf)
}

/// `GET /diagnostics/support-bundle.tar.gz`: built in memory, audited before it is sent.
pub async fn support_bundle(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::DiagnosticsView>,
) -> Result<HttpResponse, AppError> {
    let d = diagnostics::gather(&state.db, &state.jobs).await;
    let (audit, hardening) = state
        .db
        .run(|conn| Ok::<_, AppError>((bundle::recent_audit(conn)?, host_status::latest(conn)?)))
        .await?;
    let config = state.config();
    let built = web::block(move || {
        bundle::build(&Contents {
            config: &config,
            diagnostics: &d,
            audit: &audit,
            hardening: &hardening,
        })
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let event = Event::new(
        Actor::User(caller.user().id),
        BUNDLE_ACTION,
        Outcome::Success,
    )
    .client(&client_info(&req))
    .target(built.file_name.clone())
    .details(json!({ "files": built.files, "bytes": built.bytes.len() }));
    state
        .audit_writer()
        .append(event)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/gzip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", built.file_name),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(built.bytes))
}
