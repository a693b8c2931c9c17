//! actix-web glue: the app factory, middleware, routes. Handlers translate HTTP into
//! calls on the domain modules and nothing more.

pub mod auth;
pub mod chart;
pub mod csrf;
pub mod download;
pub mod error;
pub mod gauge;
pub mod guard;
pub mod mail;
pub mod middleware;
pub mod pages;
pub mod redirect;
pub mod routes;
pub mod step_up;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::api_traffic::ApiTraffic;
use crate::audit::writer::AuditWriter;
use crate::config::Config;
use crate::db::Db;
use crate::fleet::health::HostSampler;
use crate::identity::session::SessionPolicy;
use crate::identity::sign_in::SignInPolicy;
use crate::identity::throttle::ThrottlePolicy;
use crate::identity::{Passwords, key_networks};
use crate::notify::Mailer;
use crate::scheduler::registry::JobRegistry;
use crate::settings::Settings;
use crate::vault::Vault;
use error::AppError;
use middleware::problems::MAX_BODY_BYTES;

/// Why the app could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("password hashing: {0}")]
    Passwords(#[from] crate::identity::PasswordError),
    #[error("smtp: {0}")]
    Mail(#[from] crate::notify::EmailError),
    #[error("settings: {0}")]
    Settings(#[from] crate::settings::SettingsError),
}

/// What every handler can reach. The configuration changes only through the Settings
/// page (`settings`), as a whole: read it once per request with [`AppState::config`].
#[derive(Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub passwords: Arc<Passwords>,
    pub vault: Arc<Vault>,
    /// The settings' mailer: one relay for everyone, replaced in place on a change.
    pub mailer: Arc<Mailer>,
    /// Asks the scheduler for a security scan (a setting changed, "Scan now").
    pub scan_requests: crate::scan::requests::ScanRequests,
    /// API responses by status class; `outpost serve` flushes them.
    pub api_traffic: Arc<ApiTraffic>,
    /// Which networks API keys are used from.
    pub key_networks: key_networks::Recorder,
    /// Where people manage their own account (two-factor sign-in, recovery codes) and
    /// return to after changing it: the dashboard's account page, or the fleet
    /// controller's own home for its operators.
    pub account_page: &'static str,
    /// The scheduler's jobs and their runs (the scheduler of `outpost serve` records them).
    pub jobs: Arc<JobRegistry>,
    /// CPU, memory and disk for the overview's gauges: the fleet report's sampler, kept
    /// between requests because CPU usage is the difference between two samples.
    pub host: Arc<Mutex<HostSampler>>,
    /// What `/metrics` exposes; the job registry counts the scheduler's runs into it.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Started on first use, from inside the server's runtime.
    audit_writer: OnceLock<AuditWriter>,
}

impl AppState {
    pub fn new(config: Config, db: Db, vault: Vault) -> Result<Self, StartError> {
        Self::sharing_vault(config, db, Arc::new(vault))
    }

    /// With a vault another app shares (the fleet controller's, whose operators sign in
    /// through this state).
    pub fn sharing_vault(config: Config, db: Db, vault: Arc<Vault>) -> Result<Self, StartError> {
        let passwords = Passwords::new(
            config.login.max_concurrent_hashes,
            config.login.hash_queue_timeout,
        )?;
        let settings = Settings::open(config, db.clone(), Arc::clone(&vault))?;
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let jobs = Arc::new(JobRegistry::new(
            crate::scheduler::planned(&settings.config()),
            Arc::clone(&metrics),
        ));
        Ok(Self {
            mailer: Arc::clone(settings.mailer()),
            settings: Arc::new(settings),
            db,
            passwords: Arc::new(passwords),
            vault,
            scan_requests: Default::default(),
            api_traffic: Arc::default(),
            key_networks: key_networks::Recorder::default(),
            account_page: "/account",
            jobs,
            host: Arc::new(Mutex::new(HostSampler::new())),
            metrics,
            audit_writer: OnceLock::new(),
        })
    }

    /// Scans asked for by the app go to `requests` (`outpost serve` wires its scheduler).
    pub fn with_scan_requests(self, requests: crate::scan::requests::ScanRequests) -> Self {
        Self {
            scan_requests: requests,
            ..self
        }
    }

    /// The configuration in force: the file's with the dashboard's settings over it.
    pub fn config(&self) -> Arc<Config> {
        self.settings.config()
    }

    /// The group-commit writer for audit entries that are not part of a change's own
    /// transaction. Must first be called from within a Tokio runtime (any handler).
    pub fn audit_writer(&self) -> &AuditWriter {
        self.audit_writer
            .get_or_init(|| AuditWriter::spawn(self.db.clone()))
    }

    pub fn sign_in_policy(&self) -> SignInPolicy {
        let config = self.config();
        SignInPolicy {
            session: self.session_policy(),
            throttle: ThrottlePolicy::from(&config.login),
            mfa_challenge_ttl: config.session.mfa_challenge_ttl,
        }
    }

    pub fn session_policy(&self) -> SessionPolicy {
        let config = self.config();
        SessionPolicy {
            idle_timeout: config.session.idle_timeout,
            absolute_timeout: config.session.absolute_timeout,
        }
    }
}

/// The JSON API's paths, answered with problem documents and bearer keys.
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// The application state, for extractors (handlers take `web::Data<AppState>`).
pub fn app_state(req: &actix_web::HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal("app state missing".into()))
}

/// Extra routes declared after the real ones, through the same table (tests use this
/// for fault injection), so they are listed with the rest.
pub type ExtraRoutes = fn(&mut routes::Routes);

/// Where the dashboard is served: plain HTTP (development on loopback) or HTTPS.
#[derive(Debug)]
pub enum Listener {
    Plain(TcpListener),
    Tls(TcpListener, Box<rustls::ServerConfig>),
}

/// Serves plain HTTP on `listener` and returns the server (not yet polled) and its
/// real address.
pub fn bind(
    state: AppState,
    listener: TcpListener,
    extra: Option<ExtraRoutes>,
) -> std::io::Result<(Server, SocketAddr)> {
    serve(state, Listener::Plain(listener), extra)
}

/// Serves the dashboard on `listener` and returns the server (not yet polled) and
/// its real address.
pub fn serve(
    state: AppState,
    listener: Listener,
    extra: Option<ExtraRoutes>,
) -> std::io::Result<(Server, SocketAddr)> {
    let addr = match &listener {
        Listener::Plain(socket) | Listener::Tls(socket, _) => socket.local_addr()?,
    };
    let workers = state.config().workers;
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(extractor_configs)
            .configure(|cfg| routes::configure(cfg, extra))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(AppError::NotFound)
            }))
            // Registered innermost first: the request id wraps everything.
            .wrap(from_fn(middleware::problems::middleware))
            // Outside the problem rendering, so it counts the status the client got.
            .wrap(from_fn(middleware::api_traffic::middleware))
            .wrap(from_fn(middleware::metrics::middleware))
            .wrap(middleware::security_headers::middleware())
            .wrap(from_fn(middleware::request_id::middleware))
    });
    let mut server = match listener {
        Listener::Plain(socket) => server.listen(socket)?,
        Listener::Tls(socket, tls) => server.listen_rustls_0_23(socket, *tls)?,
    };
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok((server.run(), addr))
}

/// Body limits, and problem documents for bodies, queries and paths that do not
/// parse: the dashboard's and the fleet controller's apps alike.
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(body_limits())
        .app_data(json_config())
        .app_data(form_config())
        .app_data(query_config())
        .app_data(path_config());
}

fn body_limits() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_BODY_BYTES)
}

fn json_config() -> web::JsonConfig {
    use actix_web::error::JsonPayloadError as E;
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|err, _| {
            match err {
                E::ContentType => {
                    AppError::UnsupportedMediaType("Send the body as application/json.".into())
                }
                E::Overflow { .. } | E::OverflowKnownLength { .. } => AppError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                },
                E::Deserialize(e) => {
                    AppError::BadRequest(format!("The JSON body is malformed: {e}."))
                }
                _ => AppError::BadRequest("The JSON body could not be read.".into()),
            }
            .into()
        })
}

fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|_, _| AppError::BadRequest("The form body is malformed.".into()).into())
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|_, _| AppError::BadRequest("The query string is malformed.".into()).into())
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into())
}
