//! The `settings` table: one row per key changed on the dashboard, layered over the
//! file's configuration. A change is written, audited and checked against the whole
//! configuration in one transaction, so a combination that would not start (or not
//! send mail) is refused and nothing of it stays.

use diesel::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::{self, Key};
use super::{FieldError, SettingsError};
use crate::audit::{self, Actor, Event, Outcome};
use crate::backup::settings::{DEFAULT_TARGET, TargetSettings};
use crate::config::Config;
use crate::credentials;
use crate::db::schema::settings;
use crate::identity::ClientInfo;
use crate::notify::Mailer;
use crate::vault::Vault;
use crate::vault::location::SETTING_VALUE;

pub const CHANGED: &str = "settings.changed";
pub const REVERTED: &str = "settings.reverted";
/// The key of the targets defined on the dashboard.
pub const TARGETS: &str = "backup.targets";

/// A stored override.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settings)]
pub struct Row {
    pub id: Uuid,
    pub key: String,
    pub value: Option<Value>,
    pub value_sealed: Option<String>,
    pub changed_by: Option<Uuid>,
    pub changed_at: OffsetDateTime,
}

/// One requested change: a new canonical value, or back to the file's (`None`).
#[derive(Debug, Clone)]
pub struct Change {
    pub key: &'static Key,
    pub to: Option<Value>,
}

pub fn load(conn: &mut PgConnection) -> QueryResult<Vec<Row>> {
    settings::table
        .order(settings::key.asc())
        .select(Row::as_select())
        .load(conn)
}

/// `file` with every stored override applied (secrets opened by `vault`). A row for a
/// key this version no longer knows is skipped.
pub fn layered(file: &Config, rows: &[Row], vault: &Vault) -> Result<Config, SettingsError> {
    let mut config = file.clone();
    for row in rows {
        let Some(key) = keys::find(&row.key) else {
            tracing::warn!(key = %row.key, "a stored setting names no known key: ignored");
            continue;
        };
        let value = match (&row.value, &row.value_sealed) {
            (_, Some(sealed)) => {
                let plain = vault.open(&SETTING_VALUE.at(row.id), sealed)?;
                let text = String::from_utf8(plain.to_vec())
                    .map_err(|_| SettingsError::Corrupt(row.key.clone()))?;
                Value::String(text)
            }
            (Some(value), None) => value.clone(),
            (None, None) => return Err(SettingsError::Corrupt(row.key.clone())),
        };
        key.apply(&mut config, &value);
    }
    Ok(config)
}

/// The configuration in force: `file` with the stored overrides.
pub fn effective(
    conn: &mut PgConnection,
    file: &Config,
    vault: &Vault,
) -> Result<Config, SettingsError> {
    layered(file, &load(conn)?, vault)
}

/// Applies `changes` by `by`, audits each (a secret by name only), and returns the
/// configuration now in force; nothing is kept if the result does not hold together.
pub fn change(
    conn: &mut PgConnection,
    vault: &Vault,
    file: &Config,
    changes: &[Change],
    by: Uuid,
    client: &ClientInfo,
) -> Result<Config, SettingsError> {
    conn.transaction(|conn| {
        let before = effective(conn, file, vault)?;
        let mut events = Vec::new();
        for change in changes {
            let key = change.key;
            let action = match &change.to {
                Some(value) => {
                    upsert(conn, vault, key, value, by)?;
                    CHANGED
                }
                None => {
                    let deleted = diesel::delete(settings::table)
                        .filter(settings::key.eq(key.name))
                        .execute(conn)?;
                    if deleted == 0 {
                        continue;
                    }
                    REVERTED
                }
            };
            let after = effective(conn, file, vault)?;
            let details = if key.secret {
                json!({ "key": key.name, "message": format!("{} changed", key.name) })
            } else {
                json!({ "key": key.name, "from": key.read(&before), "to": key.read(&after) })
            };
            events.push(
                Event::new(Actor::User(by), action, Outcome::Success)
                    .target(key.name)
                    .client(client)
                    .details(details),
            );
        }
        let after = effective(conn, file, vault)?;
        if changes.iter().any(|c| c.key.name == TARGETS) {
            check_targets(conn, &before, &after)?;
        }
        check_whole(&after)?;
        audit::record_all(conn, &events)?;
        Ok(after)
    })
}

fn upsert(
    conn: &mut PgConnection,
    vault: &Vault,
    key: &Key,
    value: &Value,
    by: Uuid,
) -> Result<(), SettingsError> {
    let existing: Option<Uuid> = settings::table
        .filter(settings::key.eq(key.name))
        .select(settings::id)
        .first(conn)
        .optional()?;
    // A row keeps its id: a sealed value is bound to it (`settings.value_sealed:<id>`).
    let id = existing.unwrap_or_else(Uuid::new_v4);
    let (plain, sealed) = if key.secret {
        let text = value.as_str().unwrap_or_default();
        (
            None,
            Some(vault.seal(conn, &SETTING_VALUE.at(id), text.as_bytes())?),
        )
    } else {
        (Some(value.clone()), None)
    };
    diesel::insert_into(settings::table)
        .values((
            settings::id.eq(id),
            settings::key.eq(key.name),
            settings::value.eq(&plain),
            settings::value_sealed.eq(&sealed),
            settings::changed_by.eq(Some(by)),
        ))
        .on_conflict(settings::key)
        .do_update()
        .set((
            settings::value.eq(&plain),
            settings::value_sealed.eq(&sealed),
            settings::changed_by.eq(Some(by)),
            settings::changed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The scheduled target must still exist, and a target defined or changed on the
/// dashboard must name stored credentials.
fn check_targets(
    conn: &mut PgConnection,
    before: &Config,
    after: &Config,
) -> Result<(), SettingsError> {
    let invalid = |message: String| {
        SettingsError::Invalid(vec![FieldError {
            field: TARGETS.into(),
            message,
        }])
    };
    let scheduled = &after.backup.target;
    if scheduled != DEFAULT_TARGET && !after.backup.targets.contains_key(scheduled) {
        return Err(invalid(format!(
            "cannot remove `{scheduled}`: scheduled backups go to it (backup.target); \
             choose another target first"
        )));
    }
    for (name, target) in &after.backup.dashboard_targets {
        if before.backup.dashboard_targets.get(name) == Some(target) {
            continue;
        }
        if let TargetSettings::S3 {
            access_key_id_credential,
            secret_access_key_credential,
            ..
        } = target
        {
            for credential in [access_key_id_credential, secret_access_key_credential] {
                if !credentials::exists(conn, credential)? {
                    return Err(invalid(format!(
                        "target `{name}` names the credential `{credential}`, and no stored \
                         credential has that name"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The whole configuration must still validate, and its relay must be one the mailer
/// can use (sender address, TLS name), or the change is refused.
fn check_whole(config: &Config) -> Result<(), SettingsError> {
    if let Err(e) = config.validate() {
        let text = e.to_string();
        let field = text
            .split('`')
            .nth(1)
            .filter(|k| keys::find(k).is_some())
            .unwrap_or("")
            .to_owned();
        return Err(SettingsError::Invalid(vec![FieldError {
            field,
            message: text,
        }]));
    }
    if let Err(e) = Mailer::from_config(&config.smtp) {
        return Err(SettingsError::Invalid(vec![FieldError {
            field: "smtp.host".into(),
            message: e.to_string(),
        }]));
    }
    Ok(())
}
