//! What the Settings page shows of each key: the value in force (or what was just
//! submitted, when it is shown back with its errors), where it comes from, and what
//! a change does to the running server.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::backup::targets;
use crate::config::Config;
use crate::settings::keys::{Key, Section};
use crate::settings::{FieldError, Settings, Source, store};
use crate::web::pages;

pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `password`, `number`, `select` or `textarea`.
    pub input: &'static str,
    pub value: String,
    pub options: Vec<(String, bool)>,
    pub from_dashboard: bool,
    /// For a value set on the dashboard: when.
    pub changed: String,
    /// The file's value (secrets: whether it has one), for the revert button.
    pub file_value: String,
    pub secret_set: bool,
    pub error: Option<String>,
}

pub struct SectionView {
    pub id: &'static str,
    pub title: &'static str,
    /// What happens to the running server when the section is saved.
    pub applies: String,
    pub fields: Vec<FieldView>,
}

pub struct Submitted<'a> {
    pub section: Section,
    pub values: &'a BTreeMap<String, String>,
}

pub fn sections(
    config: &Config,
    file: &Config,
    rows: &[store::Row],
    scheduler_attached: bool,
    submitted: Option<&Submitted<'_>>,
    errors: &[FieldError],
) -> Vec<SectionView> {
    Section::ALL
        .into_iter()
        .map(|section| SectionView {
            id: section.as_str(),
            title: title(section),
            applies: applies(section, scheduler_attached),
            fields: section
                .keys()
                // The targets have a list and forms of their own.
                .filter(|key| key.name != store::TARGETS)
                .map(|key| {
                    let shown = submitted
                        .filter(|s| s.section == section && !key.secret)
                        .and_then(|s| s.values.get(key.name).cloned());
                    field(key, config, file, rows, shown, errors)
                })
                .collect(),
        })
        .collect()
}

fn field(
    key: &'static Key,
    config: &Config,
    file: &Config,
    rows: &[store::Row],
    shown: Option<String>,
    errors: &[FieldError],
) -> FieldView {
    let row = rows.iter().find(|r| r.key == key.name);
    let in_force = key.read(config);
    let value = shown.unwrap_or_else(|| display(key, &in_force));
    let options = match key.name {
        "smtp.security" => ["starttls", "tls", "none"]
            .into_iter()
            .map(|o| (o.to_owned(), o == value))
            .collect(),
        "backup.target" => targets::names(&config.backup)
            .into_iter()
            .map(|o| {
                let selected = o == value;
                (o, selected)
            })
            .collect(),
        _ => Vec::new(),
    };
    FieldView {
        name: key.name,
        label: key.label,
        input: match key.name {
            _ if key.secret => "password",
            "smtp.port" => "number",
            "smtp.security" | "backup.target" => "select",
            "notify.alert_emails" => "textarea",
            _ => "text",
        },
        value: if key.secret { String::new() } else { value },
        options,
        from_dashboard: Settings::source(rows, key) == Source::Dashboard,
        changed: row.map(|r| pages::when(r.changed_at)).unwrap_or_default(),
        file_value: if key.secret {
            if key.read(file) == Value::Bool(true) {
                "set in the file".into()
            } else {
                "none".into()
            }
        } else {
            display(key, &key.read(file))
        },
        secret_set: key.secret && in_force == Value::Bool(true),
        error: errors
            .iter()
            .find(|e| e.field == key.name)
            .map(|e| e.message.clone()),
    }
}

/// A value as a form shows it: lists one per line.
fn display(key: &Key, value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if key.name == "notify.alert_emails" => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

fn title(section: Section) -> &'static str {
    match section {
        Section::Domain => "Domain",
        Section::Smtp => "Email (SMTP)",
        Section::Backups => "Backups",
        Section::Notifications => "Notification routing",
    }
}

fn applies(section: Section, scheduler_attached: bool) -> String {
    match section {
        Section::Domain => "Applies at once to every link Outpost sends and to the security scans. \
            The TLS certificate must name this host: with a certificate for another name, browsers \
            refuse the dashboard until a matching one is installed."
            .into(),
        Section::Smtp => {
            "Applies at once: the next email goes through the new relay. Send a test email to check it."
                .into()
        }
        Section::Backups if scheduler_attached => {
            "Applies at once: the scheduler's backup jobs are registered again with these schedules."
                .into()
        }
        Section::Backups => "Saved now; the scheduler is not running in this process, so the \
            schedules apply at its next start."
            .into(),
        Section::Notifications => {
            "Applies at once: the next alert goes to these addresses and to Slack as well as to \
             the Owners and Admins."
                .into()
        }
    }
}
