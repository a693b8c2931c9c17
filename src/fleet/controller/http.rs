//! The controller's HTTP app: enrolment and reports from satellites, the operators'
//! JSON view of the fleet, and their pages ([`super::pages`]) behind the dashboard's
//! own sign-in. Errors are problem documents through the same
//! middleware and [`AppError`] as the dashboard's.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde::Serialize;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

use super::enrolment::{self, EnrolError};
use super::ingest::{self, IngestError, SignedReport};
use super::settings::ControllerSettings;
use super::{alerts, pages, satellites};
use crate::db::{Db, DbError};
use crate::fleet::protocol::{
    ENROLL_PATH, EnrollRequest, EnrollResponse, HEADER_SATELLITE, REPORTS_PATH, Report,
};
use crate::notify::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::vault::Vault;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::middleware;
use crate::web::routes::health::healthz;
use crate::web::routes::{Access, Routes};

pub const SATELLITES_PATH: &str = "/fleet/v1/satellites";
pub const SECURITY_PATH: &str = "/fleet/v1/security";

/// What every controller handler can reach.
#[derive(Debug, Clone)]
pub struct ControllerState {
    pub db: Db,
    pub vault: Arc<Vault>,
    pub settings: Arc<ControllerSettings>,
    /// The dashboard's state over the controller's database: operators sign in
    /// through the dashboard's own sign-in routes, which take it.
    pub operators: Arc<AppState>,
}

/// The dashboard's state over the controller's database, for the operators' sign-in.
pub fn operators_state(
    config: crate::config::Config,
    db: Db,
    vault: Arc<Vault>,
) -> Result<AppState, crate::web::StartError> {
    let mut state = AppState::sharing_vault(config, db, vault)?;
    // Operators have no account page of their own: the fleet overview is their home.
    state.account_page = "/fleet";
    Ok(state)
}

/// Serves the controller on `listener` with `workers` threads (0: one per core);
/// returns the server (not yet polled) and its address.
pub fn bind(
    state: ControllerState,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<(Server, SocketAddr)> {
    serve(state, crate::web::Listener::Plain(listener), workers)
}

/// Serves the controller on `listener` (HTTPS or plain) and returns the server (not
/// yet polled) and its real address.
pub fn serve(
    state: ControllerState,
    listener: crate::web::Listener,
    workers: usize,
) -> std::io::Result<(Server, SocketAddr)> {
    let addr = match &listener {
        crate::web::Listener::Plain(socket) | crate::web::Listener::Tls(socket, _) => {
            socket.local_addr()?
        }
    };
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::from(Arc::clone(&state.operators)))
            .app_data(state.clone())
            .configure(crate::web::extractor_configs)
            .configure(|cfg| routes().mount_on(cfg))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(AppError::NotFound)
            }))
            .wrap(from_fn(middleware::problems::middleware))
            .wrap(middleware::security_headers::middleware())
            .wrap(from_fn(middleware::request_id::middleware))
    });
    let mut server = match listener {
        crate::web::Listener::Plain(socket) => server.listen(socket)?,
        crate::web::Listener::Tls(socket, tls) => server.listen_rustls_0_23(socket, *tls)?,
    };
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok((server.run(), addr))
}

/// The controller's routes, through the same table as the dashboard's.
pub fn routes() -> Routes {
    let mut routes = Routes::mounting();
    routes.get("/healthz", Access::Public, healthz);
    // Authenticated by the one-time token in the body.
    routes.post(ENROLL_PATH, Access::Public, enroll);
    // Authenticated by the signature, which the handler checks.
    routes.post(REPORTS_PATH, Access::Public, report);
    routes.get(SATELLITES_PATH, Access::SignedIn, list);
    routes.get(SECURITY_PATH, Access::SignedIn, pages::security_api);
    // The operators' pages, and the ways in shared with the dashboard.
    routes.get("/", Access::Public, pages::home);
    routes.get("/fleet", Access::SignedIn, pages::overview);
    routes.get("/fleet/satellites/{id}", Access::SignedIn, pages::satellite);
    crate::web::routes::declare_sign_in(&mut routes);
    routes
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}

async fn enroll(
    state: web::Data<ControllerState>,
    request: web::Json<EnrollRequest>,
) -> Result<HttpResponse, AppError> {
    let vault = Arc::clone(&state.vault);
    let request = request.into_inner();
    let enrolled = state
        .db
        .run(move |conn| {
            enrolment::redeem(conn, &vault, &request, OffsetDateTime::now_utc())
                .map_err(EnrolFailure::Enrol)
        })
        .await
        .map_err(|failure| match failure {
            EnrolFailure::Enrol(EnrolError::TokenRefused) => AppError::NotPermitted(
                "The enrolment token is unknown, already used or expired.".into(),
            ),
            EnrolFailure::Enrol(EnrolError::NameTaken(name)) => {
                AppError::Conflict(format!("A satellite named {name} is already enrolled."))
            }
            other => internal(other),
        })?;
    tracing::info!(satellite = %enrolled.satellite_id, "satellite enrolled");
    Ok(HttpResponse::Created().json(EnrollResponse {
        satellite_id: enrolled.satellite_id,
        secret: enrolled.secret.expose().to_string(),
        interval_secs: state.settings.interval.as_secs(),
    }))
}

/// [`EnrolError`] or a pool failure, for [`Db::run`].
#[derive(Debug, thiserror::Error)]
enum EnrolFailure {
    #[error(transparent)]
    Enrol(EnrolError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// [`IngestError`] or a pool failure, for [`Db::run`].
#[derive(Debug, thiserror::Error)]
enum IngestFailure {
    #[error(transparent)]
    Ingest(IngestError),
    #[error(transparent)]
    Db(#[from] DbError),
}

async fn report(
    state: web::Data<ControllerState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (satellite, id, timestamp, signature) = (
        header(HEADER_SATELLITE),
        header(HEADER_ID),
        header(HEADER_TIMESTAMP),
        header(HEADER_SIGNATURE),
    );
    let vault = Arc::clone(&state.vault);
    let outcome = state
        .db
        .run(move |conn| {
            let signed = SignedReport {
                satellite: &satellite,
                id: &id,
                timestamp: &timestamp,
                signature: &signature,
                body: &body,
            };
            ingest::ingest(conn, &vault, signed, OffsetDateTime::now_utc())
                .map_err(IngestFailure::Ingest)
        })
        .await;
    match outcome {
        Ok(_) => Ok(HttpResponse::Accepted().finish()),
        Err(IngestFailure::Ingest(IngestError::Unauthenticated(why))) => {
            tracing::warn!(reason = %why, "fleet report refused");
            Err(AppError::SignatureRefused)
        }
        Err(IngestFailure::Ingest(IngestError::Malformed(why))) => Err(AppError::BadRequest(why)),
        Err(IngestFailure::Ingest(IngestError::Replayed(id))) => {
            tracing::warn!(report = %id, "replayed fleet report refused");
            Err(AppError::Conflict(
                "A report with this webhook-id was already received.".into(),
            ))
        }
        Err(other) => Err(internal(other)),
    }
}

/// One satellite as operators see it: status, key figures, open problems.
#[derive(Debug, Serialize)]
pub(super) struct SatelliteView {
    #[serde(flatten)]
    pub(super) satellite: satellites::Satellite,
    pub(super) cpu_percent: Option<f32>,
    pub(super) memory_percent: Option<f64>,
    pub(super) worst_disk_percent: Option<f64>,
    pub(super) last_backup_age_hours: Option<f64>,
    pub(super) open_problems: Vec<ProblemView>,
}

#[derive(Debug, Serialize)]
pub(super) struct ProblemView {
    rule: String,
    detail: String,
    #[serde(with = "time::serde::rfc3339")]
    opened_at: OffsetDateTime,
}

pub(super) fn view(
    satellite: satellites::Satellite,
    report: Option<&Report>,
    open: &[alerts::FleetAlert],
) -> SatelliteView {
    let open_problems = open
        .iter()
        .filter(|a| a.satellite_id == satellite.id)
        .map(|a| ProblemView {
            rule: a.rule.clone(),
            detail: a.detail.clone(),
            opened_at: a.opened_at,
        })
        .collect();
    SatelliteView {
        cpu_percent: report.map(|r| r.host.cpu_percent),
        memory_percent: report
            .filter(|r| r.host.memory_total_bytes > 0)
            .map(|r| 100.0 * r.host.memory_used_bytes as f64 / r.host.memory_total_bytes as f64),
        worst_disk_percent: report.map(|r| {
            r.host
                .disks
                .iter()
                .map(|d| d.used_percent())
                .fold(0.0, f64::max)
        }),
        last_backup_age_hours: report.and_then(|r| r.app.last_backup_age_hours),
        open_problems,
        satellite,
    }
}

/// The operator token as a bearer, for scripts.
pub(super) fn operator(req: &HttpRequest, settings: &ControllerSettings) -> Result<(), AppError> {
    let expected = settings.operator_token.expose().as_bytes();
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .as_bytes();
    if expected.is_empty() || !bool::from(given.ct_eq(expected)) {
        return Err(AppError::OperatorTokenRequired);
    }
    Ok(())
}

async fn list(
    state: web::Data<ControllerState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    operator(&req, &state.settings)?;
    let (fleet, latest, open) = state
        .db
        .run(|conn| {
            let fleet = satellites::all(conn)?;
            let ids: Vec<Uuid> = fleet.iter().map(|s| s.id).collect();
            let latest = satellites::latest_reports(conn, &ids)?;
            let open = alerts::all_open(conn)?;
            Ok::<_, DbError>((fleet, latest, open))
        })
        .await
        .map_err(internal)?;
    let views: Vec<SatelliteView> = fleet
        .into_iter()
        .map(|s| {
            let report = latest.iter().find(|(id, _)| *id == s.id).map(|(_, r)| r);
            view(s, report, &open)
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "satellites": views })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::routes::Endpoint;

    fn declared() -> Vec<Endpoint> {
        let mut listing = Routes::listing();
        crate::web::routes::declare_sign_in(&mut listing);
        listing.into_endpoints()
    }

    #[test]
    fn operators_sign_in_through_the_dashboards_own_routes() {
        let ours = routes().into_endpoints();
        for shared in declared() {
            assert!(ours.contains(&shared), "{} {}", shared.method, shared.path);
        }
        let fleet = ours.iter().find(|e| e.path == "/fleet").unwrap();
        assert_eq!(fleet.access, Access::SignedIn);
    }
}
