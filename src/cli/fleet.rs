//! `outpost fleet enroll`: enrols this server with the operators' fleet controller and
//! keeps its satellite id and signing secret (sealed) for `outpost serve` to report with.

use std::path::Path;

use super::CliError;
use crate::config::ConfigError;
use crate::fleet::enrolment;
use crate::fleet::protocol::EnrollRequest;
use crate::fleet::settings::check_controller_url;

pub fn enroll(config_path: Option<&Path>, controller: &str, token: &str) -> Result<(), CliError> {
    let controller = controller.trim().trim_end_matches('/');
    check_controller_url(controller)
        .map_err(|why| CliError::Config(ConfigError::from(format!("--controller: {why}"))))?;
    if token.trim().is_empty() {
        return Err(CliError::Config(ConfigError::from(
            "--token: must not be empty".to_owned(),
        )));
    }
    // The database first: a token is single-use, and spending it on an enrolment
    // that cannot be stored would leave the operator asking for another.
    let (config, db, vault) = super::open(config_path)?;
    crate::backup_target::s3::install_tls_provider();
    let request = EnrollRequest {
        token: token.trim().to_owned(),
        name: config.server_name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        region: config.fleet.region(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start: {e}")))?;
    let answer = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| CliError::Failed(format!("cannot build an HTTP client: {e}")))?;
        enrolment::request(&client, controller, &request)
            .await
            .map_err(|e| CliError::Failed(e.to_string()))
    })?;
    let replaced = enrolment::store(&mut *db.get()?, &vault, controller, &answer)
        .map_err(|e| CliError::Failed(format!("enrolled, but not stored: {e}")))?;
    println!(
        "enrolled with {controller} as satellite {}{}",
        answer.satellite_id,
        if replaced {
            " (the previous enrolment is replaced)"
        } else {
            ""
        }
    );
    if config.fleet.controller() != Some(controller) {
        println!(
            "to report, set `controller_url = \"{controller}\"` under [fleet] and restart outpost serve"
        );
    }
    let expected = answer.interval_secs;
    if expected > 0 && config.fleet.interval.as_secs() > expected {
        println!(
            "note: the controller expects a report every {expected} s; [fleet] interval is {} s",
            config.fleet.interval.as_secs()
        );
    }
    Ok(())
}
