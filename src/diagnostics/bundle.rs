//! The support bundle: one `.tar.gz`, built in memory, that an Owner or Admin sends to
//! whoever helps them. It carries what a diagnosis needs and never a secret: the
//! effective configuration as `outpost config check` prints it (every secret field is
//! a `SecretString` or `DatabaseUrl`, which serialise as the mask), the diagnostics,
//! the migrations, the host's hardening record, and a summary of recent audit entries
//! (who did what when, without their free-form details or source addresses). Stored
//! credentials, API keys, webhook secrets and vault keys are never read to build it.
//!
//! As a last guard, the finished archive is searched for the configuration's own
//! secret values and refused if one is found.

use std::collections::BTreeMap;

use diesel::prelude::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use time::OffsetDateTime;

use super::Diagnostics;
use crate::audit::query::{self, Filter};
use crate::config::Config;
use crate::host::status::HostCheck;

/// Secrets shorter than this are not searched for: they would match by chance.
const SHORTEST_SEARCHED: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot write the support bundle: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot encode {file}: {error}")]
    Encode {
        file: &'static str,
        error: serde_json::Error,
    },
    #[error("the support bundle would carry a secret from `{0}`; it was not built")]
    Secret(&'static str),
}

/// One audit entry, as summarised: no details, no source address.
#[derive(Debug, Clone, Serialize)]
pub struct AuditLine {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
}

/// The newest audit entries (one page of the audit log), summarised.
pub fn recent_audit(conn: &mut PgConnection) -> QueryResult<Vec<AuditLine>> {
    Ok(query::search(conn, &Filter::default())?
        .into_iter()
        .map(|e| AuditLine {
            id: e.id,
            occurred_at: e.occurred_at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
        })
        .collect())
}

/// What goes into a bundle, gathered by the caller.
#[derive(Debug)]
pub struct Contents<'a> {
    pub config: &'a Config,
    pub diagnostics: &'a Diagnostics,
    pub audit: &'a [AuditLine],
    pub hardening: &'a [HostCheck],
}

#[derive(Debug)]
pub struct Bundle {
    /// `outpost-support-<server>-<UTC time>.tar.gz`
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// The paths inside, for the audit entry.
    pub files: Vec<String>,
}

const README: &str = "\
Outpost support bundle

config.toml         the effective configuration, every secret masked (as `outpost config check`)
versions.json       Outpost, compiler, target, operating system, kernel, PostgreSQL
diagnostics.json    the database, the scheduler's jobs, the clock, as on the Diagnostics page
migrations.json     the migrations this build carries and whether each is applied
hardening.json      the latest `outpost harden` result of every control
audit-summary.json  the newest audit entries (time, actor, action, target, outcome) and counts
";

fn json(file: &'static str, value: &impl Serialize) -> Result<Vec<u8>, BundleError> {
    serde_json::to_vec_pretty(value).map_err(|error| BundleError::Encode { file, error })
}

/// Builds the archive.
pub fn build(contents: &Contents<'_>) -> Result<Bundle, BundleError> {
    let taken = contents.diagnostics.taken_at;
    let stamp = taken
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let server: String = contents
        .config
        .server_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let folder = format!("outpost-support-{server}-{stamp}");
    let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
    for line in contents.audit {
        *by_action.entry(line.action.as_str()).or_default() += 1;
    }
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("README.txt", README.as_bytes().to_vec()),
        ("config.toml", contents.config.to_masked_toml().into_bytes()),
        (
            "versions.json",
            json("versions.json", &contents.diagnostics.versions)?,
        ),
        (
            "diagnostics.json",
            json("diagnostics.json", contents.diagnostics)?,
        ),
        (
            "migrations.json",
            json("migrations.json", &contents.diagnostics.database.migrations)?,
        ),
        (
            "hardening.json",
            json("hardening.json", &contents.hardening)?,
        ),
        (
            "audit-summary.json",
            json(
                "audit-summary.json",
                &serde_json::json!({ "entries": contents.audit, "by_action": by_action }),
            )?,
        ),
    ];
    for (_, data) in &files {
        refuse_secrets(contents.config, data)?;
    }
    let mut archive = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    let mtime = u64::try_from(taken.unix_timestamp()).unwrap_or(0);
    let mut names = Vec::with_capacity(files.len());
    for (name, data) in &files {
        let path = format!("{folder}/{name}");
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, &path, data.as_slice())?;
        names.push(path);
    }
    let bytes = archive.into_inner()?.finish()?;
    Ok(Bundle {
        file_name: format!("{folder}.tar.gz"),
        bytes,
        files: names,
    })
}

/// The configuration's own secret values, by the key that holds them.
fn config_secrets(config: &Config) -> Vec<(&'static str, &str)> {
    let mut secrets = vec![
        ("smtp.password", config.smtp.password.expose()),
        (
            "controller.operator_token",
            config.controller.operator_token.expose(),
        ),
    ];
    for hook in &config.controller.slack_webhooks {
        secrets.push(("controller.slack_webhooks", hook.expose()));
    }
    if let Some(password) = url_password(config.database_url.expose()) {
        secrets.push(("database_url", password));
    }
    secrets
}

/// The password in a connection string, URL form or `password=` parameter.
fn url_password(url: &str) -> Option<&str> {
    let param = url
        .split(['?', '&', ' '])
        .find_map(|part| part.trim().strip_prefix("password="));
    let userinfo = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password);
    userinfo.or(param).filter(|p| !p.is_empty())
}

fn refuse_secrets(config: &Config, data: &[u8]) -> Result<(), BundleError> {
    for (key, secret) in config_secrets(config) {
        if secret.len() >= SHORTEST_SEARCHED
            && data
                .windows(secret.len())
                .any(|window| window == secret.as_bytes())
        {
            return Err(BundleError::Secret(key));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_password_in_every_url_form() {
        assert_eq!(
            url_password("postgres://app:s3cret-pw@db/x"),
            Some("s3cret-pw")
        );
        assert_eq!(
            url_password("postgres:///x?host=/tmp&password=s3cret-pw"),
            Some("s3cret-pw")
        );
        assert_eq!(
            url_password("host=/tmp password=s3cret-pw dbname=x"),
            Some("s3cret-pw")
        );
        assert_eq!(url_password("postgres://app@db/x"), None);
    }

    #[test]
    fn a_secret_in_the_data_is_refused() {
        let mut config = Config::default();
        config.smtp.password = crate::secret::SecretString::new("relay-password-123");
        assert!(refuse_secrets(&config, b"nothing here").is_ok());
        let err = refuse_secrets(&config, b"x relay-password-123 y").unwrap_err();
        assert!(err.to_string().contains("smtp.password"), "{err}");
        // The masked configuration itself passes.
        assert!(refuse_secrets(&config, config.to_masked_toml().as_bytes()).is_ok());
    }
}
