//! One typed configuration: `/etc/outpost/outpost.toml` (or `--config`), overridden by
//! `OUTPOST_*` environment variables (`__` separates nested keys:
//! `OUTPOST_SESSION__IDLE_TIMEOUT=10m`).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

use crate::secret::{MASK, SecretString};

pub const DEFAULT_PATH: &str = "/etc/outpost/outpost.toml";

/// Environment variables with the `OUTPOST_` prefix that steer the process or carry a
/// command-line value (kept out of the process list), not the config.
const PROCESS_VARS: &[&str] = &[
    "LOG",
    "LOG_FORMAT",
    "CONFIG",
    "FLEET_TOKEN",
    "WEBHOOK_SECRET",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Shown in the dashboard header and page titles.
    pub server_name: String,
    /// Base of every link Outpost hands out (setup links, emails).
    pub public_url: String,
    /// Address of the plain-HTTP listener, for development on loopback; unused once
    /// `[tls]` serves HTTPS.
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub pool_size: u32,
    #[serde(with = "human_duration")]
    pub db_connect_timeout: Duration,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// The vault keyring: the versioned keys that seal stored secrets (owner-only file;
    /// `outpost keys init`). Under systemd, the credential `vault-keyring` replaces it.
    pub vault_key_file: PathBuf,
    /// How old the newest vault key may get before rotation is due (reminders follow).
    #[serde(with = "human_duration")]
    pub vault_rotation_interval: Duration,
    /// The Ed25519 key that signs audit checkpoints (owner-only; `outpost keys init`).
    pub audit_signing_key_file: PathBuf,
    /// Every signed checkpoint is also appended here, outside the database.
    pub audit_checkpoint_file: PathBuf,
    /// If set, every entry is appended here as a JSON line as it enters the log, for
    /// SIEM forwarders (Splunk, Datadog, CloudTrail-style shippers) to tail.
    pub audit_stream_file: Option<PathBuf>,
    /// How long entries stay in the database before `outpost audit compact` may
    /// archive them.
    #[serde(with = "human_duration")]
    pub audit_retention: Duration,
    /// Outpost's own files: backups (unless a target says otherwise), exports.
    pub data_dir: PathBuf,
    pub session: SessionConfig,
    pub login: LoginConfig,
    pub smtp: SmtpConfig,
    /// Who hears about alerts besides the Owners and Admins.
    pub notify: crate::notify::settings::NotifySettings,
    /// The host baseline `outpost harden` applies and checks.
    pub harden: crate::host::Baseline,
    pub backup: crate::backup::settings::BackupSettings,
    pub scan: crate::scan::settings::ScanSettings,
    /// HTTPS: listener, certificate files, and the HTTP listener that redirects.
    pub tls: crate::tls::TlsSettings,
    /// The fleet controller (`outpost fleet serve`); unused on a satellite.
    pub controller: crate::fleet::controller::settings::ControllerSettings,
    /// Health reports to the operators' fleet controller.
    pub fleet: crate::fleet::settings::FleetSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    #[serde(with = "human_duration")]
    pub idle_timeout: Duration,
    #[serde(with = "human_duration")]
    pub absolute_timeout: Duration,
    #[serde(with = "human_duration")]
    pub setup_link_ttl: Duration,
    /// Time between a correct password and the second factor.
    #[serde(with = "human_duration")]
    pub mfa_challenge_ttl: Duration,
    #[serde(with = "human_duration")]
    pub invitation_ttl: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    /// Password hashes computed at once; each Argon2id run holds 19 MiB.
    pub max_concurrent_hashes: usize,
    /// How long a sign-in waits for a hashing slot before getting 503.
    #[serde(with = "human_duration")]
    pub hash_queue_timeout: Duration,
    /// Failed sign-ins allowed before back-off starts (per account and per address).
    pub backoff_after_failures: u32,
    /// Longest wait imposed on one source address.
    #[serde(with = "human_duration")]
    pub max_address_backoff: Duration,
    /// Longest wait imposed on one account: short, so nobody can lock a victim out.
    #[serde(with = "human_duration")]
    pub max_account_backoff: Duration,
    /// Failures older than this are forgotten.
    #[serde(with = "human_duration")]
    pub failure_window: Duration,
}

/// Outgoing email. An empty `host` disables sending (links are then shown on screen
/// to the person who asked for them, and logged as undeliverable).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: String,
    /// Prefer `password_credential`: a password here sits in the config file in clear.
    pub password: SecretString,
    /// The name of a stored credential (sealed by the vault) holding the password,
    /// read at every send, so replacing it on the dashboard takes effect at once.
    pub password_credential: String,
    /// Sender, e.g. `Outpost <outpost@example.com>`.
    pub from: String,
    #[serde(with = "human_duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this host or in tests.
    None,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: "outpost".into(),
            public_url: "http://127.0.0.1:8080".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: DatabaseUrl::new(
                "postgres://outpost@localhost/outpost?host=/var/run/postgresql",
            ),
            pool_size: 8,
            db_connect_timeout: Duration::from_secs(5),
            workers: 0,
            vault_key_file: PathBuf::from("/etc/outpost/vault.keyring"),
            vault_rotation_interval: Duration::from_secs(90 * 86_400),
            audit_signing_key_file: PathBuf::from("/etc/outpost/audit-signing.key"),
            audit_checkpoint_file: PathBuf::from("/var/lib/outpost/audit-checkpoints.log"),
            audit_stream_file: None,
            audit_retention: Duration::from_secs(7 * 365 * 86_400 + 2 * 86_400),
            data_dir: PathBuf::from("/var/lib/outpost"),
            session: SessionConfig::default(),
            login: LoginConfig::default(),
            smtp: SmtpConfig::default(),
            notify: Default::default(),
            harden: crate::host::Baseline::default(),
            backup: crate::backup::settings::BackupSettings::default(),
            scan: crate::scan::settings::ScanSettings::default(),
            tls: crate::tls::TlsSettings::default(),
            controller: Default::default(),
            fleet: crate::fleet::settings::FleetSettings::default(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            setup_link_ttl: Duration::from_secs(30 * 60),
            mfa_challenge_ttl: Duration::from_secs(5 * 60),
            invitation_ttl: Duration::from_secs(72 * 3600),
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, usize::from),
            hash_queue_timeout: Duration::from_secs(5),
            backoff_after_failures: 5,
            max_address_backoff: Duration::from_secs(15 * 60),
            max_account_backoff: Duration::from_secs(60),
            failure_window: Duration::from_secs(3600),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: SecretString::default(),
            password_credential: String::new(),
            from: "Outpost <outpost@localhost>".into(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A configuration (or argument) problem, worded as one line that names the culprit.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl From<String> for ConfigError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl Config {
    /// Loads `path` (or the default path, which may be absent) and the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_adjusted(path, |_| {})
    }

    /// Like [`Config::load`], with `adjust` (command-line flags) applied before the
    /// whole is validated.
    pub fn load_adjusted(
        path: Option<&Path>,
        adjust: impl FnOnce(&mut Config),
    ) -> Result<Self, ConfigError> {
        // An explicit file must exist; the default one is optional.
        let file = match path {
            Some(p) if !p.exists() => {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    p.display()
                )));
            }
            Some(p) => Toml::file_exact(p),
            None => Toml::file(DEFAULT_PATH),
        };
        let env = Env::prefixed("OUTPOST_").ignore(PROCESS_VARS).split("__");
        let mut config: Config = Figment::new()
            .merge(file)
            .merge(env)
            .extract()
            .map_err(|e| ConfigError(describe(e)))?;
        adjust(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Checks the whole configuration (the file's, or with the dashboard's settings).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, why: &str| Err(ConfigError(format!("invalid `{key}`: {why}")));
        if self.pool_size == 0 {
            return fail("pool_size", "must be at least 1");
        }
        if self.login.max_concurrent_hashes == 0 {
            return fail("login.max_concurrent_hashes", "must be at least 1");
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return fail("public_url", "must start with http:// or https://");
        }
        if !self.smtp.password.is_empty() && !self.smtp.password_credential.trim().is_empty() {
            return fail(
                "smtp.password_credential",
                "set either smtp.password or smtp.password_credential, not both",
            );
        }
        if let Some((key, why)) = (self.backup.problem())
            .or_else(|| self.scan.problem())
            .or_else(|| self.tls.problem())
            .or_else(|| self.controller.problem())
            .or_else(|| self.fleet.problem())
            .or_else(|| self.notify.problem())
        {
            return fail(&key, &why);
        }
        if self.session.idle_timeout.is_zero() {
            return fail("session.idle_timeout", "must be longer than zero");
        }
        if self.session.idle_timeout > self.session.absolute_timeout {
            return fail(
                "session.idle_timeout",
                "must not be longer than session.absolute_timeout",
            );
        }
        Ok(())
    }

    /// The effective configuration as TOML, every secret masked.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// The audit log's name in its checkpoints: this server's host and `/audit`.
    pub fn audit_origin(&self) -> String {
        let host = self
            .public_url
            .split_once("://")
            .map_or(self.public_url.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or("outpost");
        format!("{host}/audit")
    }

    /// `public_url`, parsed (validation guarantees its scheme, not its whole shape).
    pub fn public_url(&self) -> Option<reqwest::Url> {
        reqwest::Url::parse(&self.public_url).ok()
    }

    /// `public_url` without a trailing slash, ready to have a path appended.
    pub fn base_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

/// Turns figment's error into one line: where, which key, what is wrong.
fn describe(error: figment::Error) -> String {
    use figment::error::Kind;
    let mut path = error.path.clone();
    if let Kind::UnknownField(field, _) = &error.kind
        && path.last() != Some(field)
    {
        path.push(field.clone());
    }
    let key = path.join(".");
    let source = match &error.metadata {
        Some(meta) => match &meta.source {
            Some(figment::Source::File(file)) => file.display().to_string(),
            _ => format!(
                "environment variable OUTPOST_{}",
                path.join("__").to_uppercase()
            ),
        },
        None => "config".into(),
    };
    match &error.kind {
        Kind::UnknownField(..) => format!("{source}: unknown key `{key}`"),
        kind => format!("{source}: invalid `{key}`: {kind}"),
    }
}

/// A PostgreSQL connection string whose password never prints.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::new(url))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL with any password replaced by a mask: URL form
    /// (`postgres://user:pw@host/db`) and key-value form (`password=pw`) alike.
    pub fn masked(&self) -> String {
        let url = self.0.expose();
        if let Some((scheme, rest)) = url.split_once("://") {
            let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if let Some((userinfo, host)) = authority.rsplit_once('@') {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                let masked_user = if userinfo.contains(':') {
                    format!("{user}:{MASK}")
                } else {
                    user.to_string()
                };
                return mask_password_params(&format!("{scheme}://{masked_user}@{host}{tail}"));
            }
        }
        mask_password_params(url)
    }
}

fn mask_password_params(text: &str) -> String {
    text.split_inclusive(['&', ' ', '?'])
        .map(|part| match part.split_once('=') {
            Some((key, value)) if key.trim() == "password" => {
                let sep = value
                    .chars()
                    .last()
                    .filter(|c| matches!(c, '&' | ' ' | '?'))
                    .map(String::from)
                    .unwrap_or_default();
                format!("{key}={MASK}{sep}")
            }
            _ => part.to_string(),
        })
        .collect()
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

/// Durations written as people write them: `90s`, `15m`, `12h`, `90d`.
pub mod human_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn parse(text: &str) -> Result<Duration, String> {
        humantime::parse_duration(text.trim())
            .map_err(|e| format!("`{text}` is not a duration like 15m, 12h or 90d ({e})"))
    }

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_in_both_url_forms() {
        let url = DatabaseUrl::new("postgres://app:s3cret@db:5432/outpost?sslmode=disable");
        assert_eq!(
            url.masked(),
            "postgres://app:********@db:5432/outpost?sslmode=disable"
        );
        let kv = DatabaseUrl::new("host=/run/pg user=app password=s3cret dbname=outpost");
        assert_eq!(
            kv.masked(),
            "host=/run/pg user=app password=******** dbname=outpost"
        );
        let query = DatabaseUrl::new("postgres:///outpost?host=/tmp&password=s3cret&x=1");
        assert_eq!(
            query.masked(),
            "postgres:///outpost?host=/tmp&password=********&x=1"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn the_readme_example_is_a_valid_config() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").expect("a TOML example") + "```toml\n".len();
        let end = readme[start..].find("```").expect("end of the example") + start;
        let config: Config = Figment::new()
            .merge(Toml::string(&readme[start..end]))
            .extract()
            .unwrap_or_else(|e| panic!("README example: {}", describe(e)));
        config.validate().expect("README example validates");
        assert_eq!(config.server_name, "acme-prod");
        assert_eq!(config.smtp.security, SmtpSecurity::Starttls);
        assert_eq!(config.smtp.password_credential, "smtp relay");

        let both = Config {
            smtp: SmtpConfig {
                password: SecretString::new("inline"),
                ..config.smtp.clone()
            },
            ..config
        };
        let err = both.validate().unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn parses_human_durations() {
        assert_eq!(human_duration::parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(
            human_duration::parse("90d"),
            Ok(Duration::from_secs(90 * 86400))
        );
        assert!(human_duration::parse("fortnight").is_err());
    }
}
