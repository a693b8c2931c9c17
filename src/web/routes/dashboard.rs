//! The signed-in dashboard: the server's posture at a glance (score, findings and
//! their trend, hardening, backups, certificate, health gauges, recent audit entries).

use actix_web::{HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::backups::Banner;
use super::overview_parts::{AuditRow, CertificateView, SeverityCount, gauges};
use crate::backup::status as backup_status;
use crate::diagnostics::bundle;
use crate::host::status::{self as host_status, HostCheck};
use crate::identity::{Capability, User, cap};
use crate::scan::posture::{self, Posture};
use crate::scan::{findings, metrics};
use crate::vault::reminder;
use crate::web::AppState;
use crate::web::chart::{self, Chart};
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::gauge::Gauge;
use crate::web::guard::Authorized;
use crate::web::pages::{self, Layout, VERSION, relative};

/// Recent audit entries shown.
const AUDIT_SHOWN: usize = 8;

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    layout: Layout<'a>,
    version: &'a str,
    user: &'a User,
    session_expires: String,
    host: Vec<HostRow>,
    vault: VaultRow,
    backups: Banner,
    posture: Posture,
    posture_tone: &'static str,
    drift_weight: u32,
    severities: Vec<SeverityCount>,
    /// Open findings after each scan of the last 30 days; none before the first scan.
    trend: Option<Chart>,
    chart_width: u32,
    chart_height: u32,
    chart_series: &'static str,
    gauges: Vec<Gauge>,
    gauge_width: u32,
    gauge_height: u32,
    certificate: CertificateView,
    /// None for those who may not read the audit log.
    audit: Option<Vec<AuditRow>>,
}

/// One hardening control, as the overview shows it.
struct HostRow {
    control: String,
    status: &'static str,
    tone: &'static str,
    /// The first few differences, in words.
    findings: Vec<String>,
    more: usize,
    checked: String,
    scratch_root: Option<String>,
}

const FINDINGS_SHOWN: usize = 3;

impl HostRow {
    fn from(check: HostCheck, now: OffsetDateTime) -> Self {
        let (status, tone) = match check.status.as_str() {
            "ok" => ("Baseline", "ok"),
            "drift" => ("Drift", "warn"),
            _ => ("Error", "bad"),
        };
        let mut findings: Vec<String> = check.error.into_iter().collect();
        findings.extend(check.drift.iter().map(ToString::to_string));
        let more = findings.len().saturating_sub(FINDINGS_SHOWN);
        findings.truncate(FINDINGS_SHOWN);
        Self {
            control: check.control,
            status,
            tone,
            findings,
            more,
            checked: relative(check.checked_at, now),
            scratch_root: (check.root != "/").then_some(check.root),
        }
    }
}

/// The vault's primary key and when it is due for rotation.
struct VaultRow {
    kek: u32,
    age: String,
    due: String,
    tone: &'static str,
}

pub async fn overview(
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let expires = caller
        .session_expires_at()
        .map(pages::when)
        .unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let ring = state.vault.keyring();
    let interval = state.config().vault_rotation_interval;
    let sees_audit = caller.caller.can(Capability::AuditView);
    let (checks, due, backups, open, metrics, audit) = {
        let (ring, config) = (ring.clone(), state.config());
        state
            .db
            .run(move |conn| {
                let checks = host_status::latest(conn)?;
                let due = reminder::due(conn, &ring, interval, now)?;
                let backups = backup_status::load(conn, &config, now)?;
                let open = findings::open(conn)?;
                let metrics = metrics::load(conn, now - super::security::WINDOW)?;
                let audit = if sees_audit {
                    let mut lines = bundle::recent_audit(conn)?;
                    lines.truncate(AUDIT_SHOWN);
                    let members = crate::identity::user::all(conn)?;
                    Some(AuditRow::from_lines(lines, &members, now))
                } else {
                    None
                };
                Ok::<_, AppError>((checks, due, backups, open, metrics, audit))
            })
            .await?
    };
    let posture = posture::assess(&open, &checks);
    let gauges = gauges(&state).await;
    let primary = ring.primary();
    let vault = VaultRow {
        kek: primary.id,
        age: relative(primary.created_at, now),
        due: match &due {
            Some(due) => format!("rotation due now: {}", due.reasons.join("; ")),
            None => format!(
                "rotation due {}",
                relative(primary.created_at + interval, now)
            ),
        },
        tone: if due.is_some() { "warn" } else { "ok" },
    };
    let banner = super::export::banner(&state, &caller.caller).await?;
    pages::html(
        &OverviewPage {
            layout: Layout::signed_in(&state.config().server_name, &csrf, &caller.caller, "/")
                .with_banner(banner),
            version: VERSION,
            user: caller.user(),
            session_expires: expires,
            host: checks.into_iter().map(|c| HostRow::from(c, now)).collect(),
            vault,
            backups: Banner::of(&backups, now),
            posture_tone: posture.tone(),
            severities: SeverityCount::all(&open),
            posture,
            drift_weight: posture::DRIFT_WEIGHT,
            trend: super::security::open_findings_chart(&metrics),
            chart_width: chart::WIDTH,
            chart_height: chart::HEIGHT,
            chart_series: "after each scan of the last 30 days",
            gauges,
            gauge_width: crate::web::gauge::WIDTH,
            gauge_height: crate::web::gauge::HEIGHT,
            certificate: CertificateView::of(&state.config(), now),
            audit,
        },
        &csrf,
    )
}

/// `GET /api/v1/host`: every hardening control's latest result.
pub async fn host_api(
    state: web::Data<AppState>,
    _: Authorized<cap::DashboardView>,
) -> Result<HttpResponse, AppError> {
    let checks = state
        .db
        .run(|conn| host_status::latest(conn).map_err(AppError::from))
        .await?;
    Ok(HttpResponse::Ok().json(checks))
}
