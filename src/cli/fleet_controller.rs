//! `outpost fleet token | operator | serve | maintenance` on the operators' controller
//! host: enrolment tokens, operators' accounts, the controller itself, and
//! maintenance windows.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::CliError;
use crate::config::human_duration;
use crate::fleet::controller::enrolment::{self, TokenFor};
use crate::fleet::controller::escalation::Notifier;
use crate::fleet::controller::http::{self, ControllerState};
use crate::fleet::controller::{retention, satellites, sweeper};
use crate::identity::owner::{self, OwnerSetup};
use crate::notify::Mailer;
use crate::notify::email::vault_lookup;
use crate::notify::slack::Slack;
use crate::telemetry;

/// How often raw reports are rolled up and old ones pruned.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// `fleet token create`: prints a one-time enrolment token.
pub fn create_token(
    path: Option<&Path>,
    who: TokenFor,
    expires: Option<&str>,
) -> Result<(), CliError> {
    let ttl = expires
        .map(human_duration::parse)
        .transpose()
        .map_err(|e| {
            CliError::Config(crate::config::ConfigError::from(format!("--expires: {e}")))
        })?;
    let (config, db, _vault) = super::open(path)?;
    let ttl = ttl.unwrap_or(config.controller.token_ttl);
    let token = enrolment::create_token(&mut *db.get()?, &who, ttl, OffsetDateTime::now_utc())
        .map_err(|e| CliError::Failed(e.to_string()))?;
    println!("{}", token.as_str());
    eprintln!(
        "One-time enrolment token for {} (client {}), valid for {}: run `outpost fleet enroll {} <token>` on the satellite.",
        who.name,
        who.client,
        humantime::format_duration(ttl),
        config.controller.public_url,
    );
    Ok(())
}

/// `fleet operator create --email E`: an operator account in the controller's own
/// database, through the same code and setup link as the dashboard's first Owner.
pub fn create_operator(path: Option<&Path>, email: &str) -> Result<(), CliError> {
    let (config, db, _vault) = super::open(path)?;
    let ttl = config.session.setup_link_ttl;
    let outcome = owner::ensure_operator(&mut *db.get()?, email, ttl)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let base = config.controller.public_url.trim_end_matches('/');
    let minutes = ttl.as_secs() / 60;
    match outcome {
        OwnerSetup::Created { user, link_token } | OwnerSetup::Reissued { user, link_token } => {
            println!("{base}/setup/{}", link_token.expose());
            eprintln!(
                "Setup link for operator {} (single use, valid {minutes} minutes; earlier links no longer work).",
                user.email
            );
        }
        OwnerSetup::AlreadyActive { user } => {
            println!(
                "Operator {} is already set up; sign in at {base}/login",
                user.email
            );
        }
    }
    Ok(())
}

/// `fleet maintenance SATELLITE --until WHEN`: a duration from now (`2h`) or an RFC
/// 3339 time; a time in the past ends the window.
pub fn maintenance(path: Option<&Path>, satellite: &str, until: &str) -> Result<(), CliError> {
    let now = OffsetDateTime::now_utc();
    let until = human_duration::parse(until)
        .map(|d| now + d)
        .or_else(|_| OffsetDateTime::parse(until.trim(), &Rfc3339))
        .map_err(|_| {
            CliError::Config(crate::config::ConfigError::from(format!(
                "--until: `{until}` is neither a duration like 2h nor an RFC 3339 time"
            )))
        })?;
    let (_config, db, _vault) = super::open(path)?;
    let updated = satellites::set_maintenance(&mut *db.get()?, satellite, until)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let until = until.format(&Rfc3339).unwrap_or_default();
    println!("{} is in maintenance until {until}", updated.name);
    Ok(())
}

/// `fleet serve`: the controller's HTTP app, the status sweep every half interval,
/// and retention every hour.
pub fn serve(path: Option<&Path>) -> Result<(), CliError> {
    telemetry::init();
    let (config, db, vault) = super::open(path)?;
    let vault = Arc::new(vault);
    let settings = Arc::new(config.controller.clone());
    let failed = |what: &str, e: &dyn std::fmt::Display| CliError::Failed(format!("{what}: {e}"));
    let mailer = Mailer::from_config(&config.smtp)
        .map_err(|e| failed("smtp", &e))?
        .with_credential_lookup(vault_lookup(db.clone(), Arc::clone(&vault)));
    let notifier = Notifier {
        slack: Slack::new(settings.slack_webhooks.clone()).map_err(|e| failed("slack", &e))?,
        mailer: Arc::new(mailer),
        recipients: settings.alert_emails.clone(),
    };
    let listener = super::serve::listener(settings.listen, &config.tls)?;
    let scheme = match listener {
        crate::web::Listener::Tls(..) => "https",
        crate::web::Listener::Plain(_) => "http",
    };
    let operators = http::operators_state(config.clone(), db.clone(), Arc::clone(&vault))
        .map_err(|e| failed("operators' sign-in", &e))?;
    let state = ControllerState {
        db: db.clone(),
        vault,
        settings: Arc::clone(&settings),
        operators: Arc::new(operators),
    };
    actix_web::rt::System::new().block_on(async move {
        let (server, addr) =
            http::serve(state, listener, config.workers).map_err(|e| failed("cannot serve", &e))?;
        tracing::info!(%addr, "fleet controller listening on {scheme}://{addr}");
        actix_web::rt::spawn(sweep_forever(db.clone(), notifier, Arc::clone(&settings)));
        actix_web::rt::spawn(retain_forever(db, settings));
        server.await.map_err(|e| failed("controller stopped", &e))
    })
}

async fn sweep_forever(
    db: crate::db::Db,
    notifier: Notifier,
    settings: Arc<crate::fleet::controller::settings::ControllerSettings>,
) {
    let mut tick = tokio::time::interval(settings.interval / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) =
            sweeper::sweep(&db, &notifier, &settings, OffsetDateTime::now_utc()).await
        {
            tracing::error!(%error, "fleet sweep failed");
        }
    }
}

async fn retain_forever(
    db: crate::db::Db,
    settings: Arc<crate::fleet::controller::settings::ControllerSettings>,
) {
    let mut tick = tokio::time::interval(RETENTION_EVERY);
    loop {
        tick.tick().await;
        let (raw, rollups) = (settings.raw_retention, settings.rollup_retention);
        let pruned = db
            .run(move |conn| {
                retention::run(conn, raw, rollups, OffsetDateTime::now_utc())
                    .map_err(crate::db::DbError::from)
            })
            .await;
        match pruned {
            Ok(p) => tracing::info!(
                heartbeats = p.heartbeats,
                rollups = p.rollups,
                report_ids = p.report_ids,
                "fleet retention ran"
            ),
            Err(error) => tracing::error!(%error, "fleet retention failed"),
        }
    }
}
