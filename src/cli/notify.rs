//! `outpost email test` and `outpost notify breach`: the mail relay checked from the
//! shell, and the breach notice an Owner sends to every member.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::CliError;
use crate::audit::{self, Actor, Event, Outcome};
use crate::config::{Config, ConfigError};
use crate::db::Db;
use crate::identity::{Role, user};
use crate::notify::breach::{self, Breach};
use crate::notify::email::vault_lookup;
use crate::notify::{Email, Mailer, messages};
use crate::vault::Vault;

fn mailer(config: &Config, db: &Db, vault: Vault) -> Result<Mailer, CliError> {
    let mailer = Mailer::from_config(&config.smtp)
        .map_err(|e| CliError::Failed(format!("the mail relay is misconfigured: {e}")))?
        .with_credential_lookup(vault_lookup(db.clone(), Arc::new(vault)));
    if !mailer.is_enabled() {
        return Err(CliError::Config(ConfigError::from(
            "no mail relay is configured ([smtp] host)".to_owned(),
        )));
    }
    Ok(mailer)
}

/// Sends each email in turn; the first SMTP error ends the run.
fn send_all(mailer: &Mailer, emails: &[Email]) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the mail client: {e}")))?;
    runtime.block_on(async {
        for email in emails {
            mailer.send(email).await.map_err(|e| {
                CliError::Failed(format!("the email to {} was not sent: {e}", email.to))
            })?;
        }
        Ok(())
    })
}

pub fn test_email(config_path: Option<&Path>, to: &str) -> Result<(), CliError> {
    let (config, db, vault) = super::open(config_path)?;
    let mailer = mailer(&config, &db, vault)?;
    let email = messages::test_email(to, &config.server_name, "the server's command line");
    let sent = send_all(&mailer, &[email]);
    let outcome = if sent.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    audit::record(
        &mut *db.get()?,
        &Event::new(Actor::Cli, "email.test_sent", outcome).details(json!({ "to": to })),
    )
    .map_err(|e| CliError::Failed(e.to_string()))?;
    sent?;
    println!("test email sent to {to}");
    Ok(())
}

#[derive(Debug)]
pub struct BreachArgs<'a> {
    pub owner: &'a str,
    pub summary: &'a str,
    pub data: &'a str,
    pub actions: &'a str,
    pub detected_at: &'a str,
}

pub fn breach(config_path: Option<&Path>, args: BreachArgs<'_>) -> Result<(), CliError> {
    let detected_at = OffsetDateTime::parse(args.detected_at, &Rfc3339).map_err(|e| {
        CliError::Config(ConfigError::from(format!(
            "--detected-at: not an RFC 3339 time (e.g. 2026-12-06T21:30:00Z): {e}"
        )))
    })?;
    for (flag, text) in [
        ("--summary", args.summary),
        ("--data", args.data),
        ("--actions", args.actions),
    ] {
        if text.trim().is_empty() {
            return Err(CliError::Config(ConfigError::from(format!(
                "{flag} must not be empty"
            ))));
        }
    }
    let (config, db, vault) = super::open(config_path)?;
    let mut conn = db.get()?;
    let owner = user::find_by_email(&mut conn, args.owner)
        .map_err(|e| CliError::Failed(e.to_string()))?
        .filter(|u| u.role == Role::Owner && u.active)
        .ok_or_else(|| {
            CliError::Failed(format!("{} is not an Owner of this server", args.owner))
        })?;
    let members: Vec<_> = user::all(&mut conn)
        .map_err(|e| CliError::Failed(e.to_string()))?
        .into_iter()
        .filter(|u| u.active)
        .collect();
    let notice = Breach {
        summary: args.summary.trim().to_owned(),
        data: args.data.trim().to_owned(),
        actions: args.actions.trim().to_owned(),
        detected_at,
    };
    let emails: Vec<Email> = members
        .iter()
        .map(|m| breach::notice(&m.email, &config.server_name, &owner.email, &notice))
        .collect();
    let mailer = mailer(&config, &db, vault)?;
    let sent = send_all(&mailer, &emails);
    let deadline = notice.deadline().format(&Rfc3339).unwrap_or_default();
    let outcome = if sent.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    audit::record(
        &mut conn,
        &Event::new(Actor::User(owner.id), "breach.notified", outcome).details(json!({
            "summary": notice.summary,
            "data": notice.data,
            "actions": notice.actions,
            "detected_at": args.detected_at,
            "regulator_deadline": deadline,
            "recipients": members.len(),
        })),
    )
    .map_err(|e| CliError::Failed(e.to_string()))?;
    sent?;
    println!(
        "breach notice sent to {} members; report to the regulator by {deadline}",
        members.len()
    );
    Ok(())
}
