//! Settings changed on the dashboard: the domain, the SMTP relay, backup schedules,
//! targets and the scheduled target, and who hears about alerts. The config file stays the default; the
//! `settings` table holds what the dashboard changed (`store`), `keys` says which keys
//! may change and how each is checked, and [`Settings`] applies the result to the
//! running server (the mailer, the scheduler's backup jobs) without a restart.

pub mod keys;
pub mod live;
pub mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use crate::backup::jobs::BackupJobs;
use crate::config::Config;
use crate::db::Db;
use crate::identity::ClientInfo;
use crate::notify::Mailer;
use crate::notify::email::vault_lookup;
use crate::vault::Vault;
use live::LiveConfig;
use store::Change;

/// What one field got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The config key (`smtp.port`); empty when the problem is not one field's.
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid settings: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("the stored setting {0} is unreadable")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] crate::db::DbError),
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error("the relay cannot be used: {0}")]
    Mail(#[from] crate::notify::EmailError),
}

/// Where a key's value in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    File,
    Dashboard,
}

/// The running server's settings: the file's configuration, the one in force, and
/// what must follow a change.
#[derive(Debug)]
pub struct Settings {
    file: Arc<Config>,
    config: LiveConfig,
    mailer: Arc<Mailer>,
    db: Db,
    vault: Arc<Vault>,
    /// The scheduler's backup jobs, once `outpost serve` has started them.
    backup_jobs: OnceLock<Arc<BackupJobs>>,
    stored_loaded: AtomicBool,
}

impl Settings {
    /// The file's configuration with the stored settings over it, and a mailer for it.
    /// With the database unreachable the server still starts, on the file's
    /// configuration alone (so it can say it is not ready rather than not run);
    /// [`Settings::load_stored`] brings the stored settings in once it is back.
    pub fn open(file: Config, db: Db, vault: Arc<Vault>) -> Result<Self, SettingsError> {
        let (config, stored_loaded) = match db.get() {
            Ok(mut conn) => (store::effective(&mut conn, &file, &vault)?, true),
            Err(error) => {
                tracing::warn!(%error, "stored settings not loaded yet: the database is unreachable");
                (file.clone(), false)
            }
        };
        let mailer = mailer_for(&config, &db, &vault)?;
        Ok(Self {
            file: Arc::new(file),
            config: LiveConfig::new(config),
            mailer: Arc::new(mailer),
            db,
            vault,
            backup_jobs: OnceLock::new(),
            stored_loaded: AtomicBool::new(stored_loaded),
        })
    }

    /// Whether the stored settings are in force (false after a start without the
    /// database, until [`Settings::load_stored`] succeeds).
    pub fn stored_loaded(&self) -> bool {
        self.stored_loaded.load(Ordering::Acquire)
    }

    /// Reads the stored settings again and puts the result in force (after a start
    /// without the database).
    pub async fn load_stored(&self) -> Result<(), SettingsError> {
        let (file, vault) = (Arc::clone(&self.file), Arc::clone(&self.vault));
        let config = self
            .db
            .run(move |conn| store::effective(conn, &file, &vault))
            .await?;
        let before = self.config();
        self.apply(config, &before).await?;
        self.stored_loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// A handle that follows every change (for the scheduler).
    pub fn live(&self) -> LiveConfig {
        self.config.clone()
    }

    /// The configuration from the file and the environment alone.
    pub fn file(&self) -> &Config {
        &self.file
    }

    pub fn mailer(&self) -> &Arc<Mailer> {
        &self.mailer
    }

    /// Lets a change re-register the scheduler's backup jobs.
    pub fn attach_backup_jobs(&self, jobs: Arc<BackupJobs>) {
        let _ = self.backup_jobs.set(jobs);
    }

    pub fn backup_jobs(&self) -> Option<&Arc<BackupJobs>> {
        self.backup_jobs.get()
    }

    /// The stored overrides (no secret values: `value` is `None` for them).
    pub async fn overrides(&self) -> Result<Vec<store::Row>, SettingsError> {
        let rows = self
            .db
            .run(|conn| store::load(conn).map_err(SettingsError::from))
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| store::Row {
                value_sealed: None,
                ..row
            })
            .collect())
    }

    /// Checks `inputs` (key name, submitted value; `None` reverts to the file's),
    /// stores and audits them, and applies the result. Every field's problem is
    /// reported at once; nothing changes unless all are good.
    pub async fn change(
        &self,
        inputs: Vec<(String, Option<Value>)>,
        by: uuid::Uuid,
        client: ClientInfo,
    ) -> Result<Arc<Config>, SettingsError> {
        let current = self.config();
        let mut changes = Vec::new();
        let mut problems = Vec::new();
        for (name, input) in inputs {
            let Some(key) = keys::find(&name) else {
                problems.push(FieldError {
                    message: "is not a setting the dashboard can change".into(),
                    field: name,
                });
                continue;
            };
            // Against the targets in force, the dashboard's included.
            match input.map(|v| key.parse(&v, &current)).transpose() {
                Ok(to) => changes.push(Change { key, to }),
                Err(message) => problems.push(FieldError {
                    field: key.name.into(),
                    message,
                }),
            }
        }
        if !problems.is_empty() {
            return Err(SettingsError::Invalid(problems));
        }
        let (file, vault) = (Arc::clone(&self.file), Arc::clone(&self.vault));
        let config = self
            .db
            .run(move |conn| store::change(conn, &vault, &file, &changes, by, &client))
            .await?;
        self.apply(config, &current).await?;
        Ok(self.config())
    }

    /// Puts `config` in force: the mailer rebuilt, the backup jobs re-registered when
    /// their schedules or target changed.
    async fn apply(&self, config: Config, before: &Config) -> Result<(), SettingsError> {
        self.mailer
            .replace(mailer_for(&config, &self.db, &self.vault)?);
        let backups_changed = keys::Section::Backups
            .keys()
            .any(|k| k.read(&config) != k.read(before));
        self.config.set(Arc::new(config));
        if backups_changed && let Some(jobs) = self.backup_jobs.get() {
            if let Err(error) = jobs.reschedule().await {
                tracing::error!(%error, "backup schedules not re-registered");
            } else {
                tracing::info!("backup schedules re-registered");
            }
        }
        Ok(())
    }

    /// Where the value in force of each key comes from.
    pub fn source(rows: &[store::Row], key: &keys::Key) -> Source {
        if rows.iter().any(|r| r.key == key.name) {
            Source::Dashboard
        } else {
            Source::File
        }
    }
}

fn mailer_for(config: &Config, db: &Db, vault: &Arc<Vault>) -> Result<Mailer, SettingsError> {
    Ok(Mailer::from_config(&config.smtp)?
        .with_credential_lookup(vault_lookup(db.clone(), Arc::clone(vault))))
}
