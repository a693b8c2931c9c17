//! The keys the Settings page may change: for each, how a submitted value is checked
//! and written in its one canonical JSON form, and how it lands in a [`Config`].
//! Everything else stays file-only (listeners, database, keys: changing those needs
//! a restart anyway, and a mistake there would lock the dashboard out of itself).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::backup::settings::{DEFAULT_TARGET, TargetSettings, check_target};
use crate::config::{Config, SmtpSecurity};
use crate::notify::settings::{check_address, check_slack_webhook};
use crate::secret::SecretString;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Domain,
    Smtp,
    Backups,
    Notifications,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Domain,
        Section::Smtp,
        Section::Backups,
        Section::Notifications,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Section::Domain => "domain",
            Section::Smtp => "smtp",
            Section::Backups => "backups",
            Section::Notifications => "notifications",
        }
    }

    pub fn parse(name: &str) -> Option<Section> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn keys(self) -> impl Iterator<Item = &'static Key> {
        KEYS.iter().filter(move |k| k.section == self)
    }
}

/// One changeable key.
#[derive(Debug, PartialEq, Eq)]
pub struct Key {
    /// The config key, as in `outpost.toml` (`smtp.port`).
    pub name: &'static str,
    pub section: Section,
    pub label: &'static str,
    /// Sealed by the vault, never shown, never audited by value.
    pub secret: bool,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Domain,
    Host,
    Port,
    Security,
    Line,
    Mailbox,
    Cron,
    Target,
    Targets,
    Addresses,
    SlackUrl,
}

const fn key(name: &'static str, section: Section, label: &'static str, kind: Kind) -> Key {
    Key {
        name,
        section,
        label,
        secret: matches!(kind, Kind::SlackUrl),
        kind,
    }
}

pub const KEYS: &[Key] = &[
    key(
        "public_url",
        Section::Domain,
        "Public address",
        Kind::Domain,
    ),
    key("smtp.host", Section::Smtp, "SMTP host", Kind::Host),
    key("smtp.port", Section::Smtp, "Port", Kind::Port),
    key("smtp.security", Section::Smtp, "Security", Kind::Security),
    key("smtp.username", Section::Smtp, "User name", Kind::Line),
    Key {
        name: "smtp.password",
        section: Section::Smtp,
        label: "Password",
        secret: true,
        kind: Kind::Line,
    },
    key("smtp.from", Section::Smtp, "Sender", Kind::Mailbox),
    key("backup.daily", Section::Backups, "Daily backup", Kind::Cron),
    key(
        "backup.weekly",
        Section::Backups,
        "Weekly backup",
        Kind::Cron,
    ),
    key(
        "backup.monthly",
        Section::Backups,
        "Monthly backup",
        Kind::Cron,
    ),
    key("backup.target", Section::Backups, "Target", Kind::Target),
    key(
        "backup.targets",
        Section::Backups,
        "Targets defined here",
        Kind::Targets,
    ),
    key(
        "notify.alert_emails",
        Section::Notifications,
        "Also email alerts to",
        Kind::Addresses,
    ),
    key(
        "notify.slack_webhook",
        Section::Notifications,
        "Slack webhook",
        Kind::SlackUrl,
    ),
];

pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

impl Key {
    /// `input` checked and put in canonical form (`config` names the backup targets
    /// that exist), or why not, worded to follow the field's label.
    pub fn parse(&self, input: &Value, config: &Config) -> Result<Value, String> {
        match self.kind {
            Kind::Addresses => return parse_addresses(input),
            Kind::Targets => return parse_targets(input),
            _ => {}
        }
        let text = match input {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) if self.kind == Kind::Port => n.to_string(),
            _ => return Err("must be a string".into()),
        };
        if text.contains(['\r', '\n']) {
            return Err("must be one line".into());
        }
        match self.kind {
            Kind::Domain => parse_domain(&text).map(Value::String),
            Kind::Host if text.is_empty() => Ok(Value::String(text)),
            Kind::Host => url::Host::parse(&text)
                .map(|_| Value::String(text.to_ascii_lowercase()))
                .map_err(|_| format!("`{text}` is not a host name or IP address")),
            Kind::Port => match text.parse::<u16>() {
                Ok(port) if port > 0 => Ok(Value::from(port)),
                _ => Err("must be a port number from 1 to 65535".into()),
            },
            Kind::Security => match text.as_str() {
                "starttls" | "tls" | "none" => Ok(Value::String(text)),
                _ => Err("must be starttls, tls or none".into()),
            },
            Kind::Line if self.secret && text.is_empty() => Err("must not be empty".into()),
            Kind::Line => Ok(Value::String(text)),
            Kind::Mailbox => text
                .parse::<lettre::message::Mailbox>()
                .map(|_| Value::String(text.clone()))
                .map_err(|e| {
                    format!("`{text}` is not an address like `Outpost <outpost@example.com>` ({e})")
                }),
            Kind::Cron if text.is_empty() => Ok(Value::String(text)),
            Kind::Cron => crate::backup::schedule::parse(&text).map(|_| Value::String(text)),
            Kind::Target => {
                let known = text == DEFAULT_TARGET || config.backup.targets.contains_key(&text);
                if known {
                    Ok(Value::String(text))
                } else {
                    Err(format!("no backup target is named `{text}`"))
                }
            }
            Kind::SlackUrl => check_slack_webhook(&text).map(|()| Value::String(text)),
            Kind::Addresses | Kind::Targets => unreachable!("handled above"),
        }
    }

    /// The value in force in `config`, as JSON; for a secret, whether one is set.
    pub fn read(&self, config: &Config) -> Value {
        match self.name {
            "public_url" => config.public_url.clone().into(),
            "smtp.host" => config.smtp.host.clone().into(),
            "smtp.port" => config.smtp.port.into(),
            "smtp.security" => security_name(config.smtp.security).into(),
            "smtp.username" => config.smtp.username.clone().into(),
            "smtp.password" => (!config.smtp.password.is_empty()
                || !config.smtp.password_credential.is_empty())
            .into(),
            "smtp.from" => config.smtp.from.clone().into(),
            "backup.daily" => config.backup.daily.clone().into(),
            "backup.weekly" => config.backup.weekly.clone().into(),
            "backup.monthly" => config.backup.monthly.clone().into(),
            "backup.target" => config.backup.target.clone().into(),
            "backup.targets" => {
                serde_json::to_value(&config.backup.dashboard_targets).unwrap_or_default()
            }
            "notify.alert_emails" => config.notify.alert_emails.clone().into(),
            "notify.slack_webhook" => (!config.notify.slack_webhook.is_empty()).into(),
            other => unreachable!("key {other} is in KEYS but not read"),
        }
    }

    /// Puts a canonical `value` (from [`Key::parse`], or the opened secret) into `config`.
    pub fn apply(&self, config: &mut Config, value: &Value) {
        let text = || value.as_str().unwrap_or_default().to_owned();
        match self.name {
            "public_url" => config.public_url = text(),
            "smtp.host" => config.smtp.host = text(),
            "smtp.port" => {
                config.smtp.port = value
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(config.smtp.port)
            }
            "smtp.security" => {
                config.smtp.security = match value.as_str() {
                    Some("tls") => SmtpSecurity::Tls,
                    Some("none") => SmtpSecurity::None,
                    _ => SmtpSecurity::Starttls,
                }
            }
            "smtp.username" => config.smtp.username = text(),
            "smtp.password" => {
                // The dashboard's password replaces the file's, inline or stored.
                config.smtp.password = SecretString::new(text());
                config.smtp.password_credential.clear();
            }
            "smtp.from" => config.smtp.from = text(),
            "backup.daily" => config.backup.daily = text(),
            "backup.weekly" => config.backup.weekly = text(),
            "backup.monthly" => config.backup.monthly = text(),
            "backup.target" => config.backup.target = text(),
            "backup.targets" => {
                // Over the file's targets: a name defined in both is the dashboard's.
                let targets: BTreeMap<String, TargetSettings> =
                    serde_json::from_value(value.clone()).unwrap_or_default();
                config.backup.targets.extend(targets.clone());
                config.backup.dashboard_targets = targets;
            }
            "notify.alert_emails" => {
                config.notify.alert_emails =
                    serde_json::from_value(value.clone()).unwrap_or_default()
            }
            "notify.slack_webhook" => config.notify.slack_webhook = SecretString::new(text()),
            other => unreachable!("key {other} is in KEYS but not applied"),
        }
    }
}

fn security_name(security: SmtpSecurity) -> &'static str {
    match security {
        SmtpSecurity::Starttls => "starttls",
        SmtpSecurity::Tls => "tls",
        SmtpSecurity::None => "none",
    }
}

/// `https://host[:port]` from a bare host name or an https URL with nothing after
/// the authority: links in emails must reach the dashboard over TLS.
fn parse_domain(text: &str) -> Result<String, String> {
    let candidate = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let url = url::Url::parse(&candidate)
        .map_err(|_| format!("`{text}` is not a host name or https:// URL"))?;
    if url.scheme() != "https" {
        return Err("must be an https:// address".into());
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("must name a host")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be the address alone, with no path".into());
    }
    Ok(match url.port() {
        Some(port) => format!("https://{host}:{port}"),
        None => format!("https://{host}"),
    })
}

/// The targets defined on the dashboard: a map of name to definition, read as the
/// config file's `[backup.targets.NAME]` is, with absolute paths for local ones.
fn parse_targets(input: &Value) -> Result<Value, String> {
    let targets: BTreeMap<String, TargetSettings> = serde_json::from_value(input.clone())
        .map_err(|e| format!("must be a map of target names to definitions ({e})"))?;
    for (name, target) in &targets {
        check_target(name, target).map_err(|why| format!("target `{name}`: {why}"))?;
        if let TargetSettings::Local { path } = target
            && !path.is_absolute()
        {
            return Err(format!(
                "target `{name}`: the path must be absolute, not `{}`",
                path.display()
            ));
        }
    }
    serde_json::to_value(&targets).map_err(|e| e.to_string())
}

/// A list of addresses: a JSON array, or a string separated by commas or lines.
fn parse_addresses(input: &Value) -> Result<Value, String> {
    let items: Vec<String> = match input {
        Value::String(s) => s
            .split([',', '\n'])
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(|s| s.trim().to_owned()))
            .collect::<Option<_>>()
            .ok_or("must be a list of addresses")?,
        _ => return Err("must be a list of addresses".into()),
    };
    for address in &items {
        check_address(address)?;
    }
    Ok(items.into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_key_reads_and_applies() {
        let mut config = Config::default();
        for key in KEYS {
            let value = key.read(&config);
            if !key.secret {
                key.apply(&mut config, &value);
                assert_eq!(key.read(&config), value, "{}", key.name);
            }
        }
    }

    #[test]
    fn values_are_checked_and_made_canonical() {
        let config = Config::default();
        let parse = |name: &str, v: Value| find(name).unwrap().parse(&v, &config);
        assert_eq!(
            parse("public_url", json!("Outpost.Example.com")),
            Ok(json!("https://outpost.example.com"))
        );
        assert_eq!(
            parse("public_url", json!("https://a.example:8443/")),
            Ok(json!("https://a.example:8443"))
        );
        assert!(parse("public_url", json!("http://a.example")).is_err());
        assert!(parse("public_url", json!("https://a.example/x")).is_err());
        assert_eq!(parse("smtp.port", json!("2525")), Ok(json!(2525)));
        assert!(parse("smtp.port", json!(0)).is_err());
        assert!(parse("smtp.port", json!("70000")).is_err());
        assert!(parse("smtp.security", json!("ssl")).is_err());
        assert!(parse("smtp.from", json!("not an address")).is_err());
        assert!(parse("backup.daily", json!("every night")).is_err());
        assert_eq!(parse("backup.daily", json!("")), Ok(json!("")));
        assert!(parse("backup.target", json!("nowhere")).is_err());
        assert_eq!(parse("backup.target", json!("local")), Ok(json!("local")));
        assert_eq!(
            parse("notify.alert_emails", json!("a@example.com, b@example.com")),
            Ok(json!(["a@example.com", "b@example.com"]))
        );
        assert!(parse("notify.alert_emails", json!("a@example.com, nope")).is_err());
        assert!(parse("notify.slack_webhook", json!("http://hooks.example/x")).is_err());
        assert!(parse("smtp.host", json!("bad host!")).is_err());
        assert!(parse("smtp.username", json!("a\nb")).is_err());
        assert_eq!(
            parse(
                "backup.targets",
                json!({"nas": {"type": "local", "path": "/srv/b"}})
            ),
            Ok(json!({"nas": {"type": "local", "path": "/srv/b"}}))
        );
        assert!(
            parse(
                "backup.targets",
                json!({"nas": {"type": "local", "path": "b"}})
            )
            .is_err()
        );
        assert!(
            parse(
                "backup.targets",
                json!({"a b": {"type": "local", "path": "/b"}})
            )
            .is_err()
        );
        assert!(parse("backup.targets", json!({"x": {"type": "ftp"}})).is_err());
        assert!(parse("backup.targets", json!("nas")).is_err());
        let s3 = parse(
            "backup.targets",
            json!({"off": {"type": "s3", "bucket": "b", "access_key_id_credential": "k",
                "secret_access_key_credential": "s"}}),
        )
        .unwrap();
        assert_eq!(s3["off"]["region"], "us-east-1");
        assert!(
            parse(
                "backup.targets",
                json!({"off": {"type": "s3", "bucket": "", "access_key_id_credential": "k",
                    "secret_access_key_credential": "s"}})
            )
            .is_err()
        );
    }
}
