//! The configured backup targets, opened by name. `local` (`<data_dir>/backups`)
//! always exists unless `[backup.targets.local]` says where else it is.

use std::path::Path;
use std::time::Duration;

use diesel::PgConnection;

use super::error::BackupError;
use super::settings::{BackupSettings, DEFAULT_TARGET, TargetSettings};
use crate::backup_target::{LocalDir, S3, S3Config, Target};
use crate::credentials;
use crate::secret::SecretString;
use crate::vault::Vault;

/// Every target's name: `local` first, then the configured ones.
pub fn names(settings: &BackupSettings) -> Vec<String> {
    let mut names = vec![DEFAULT_TARGET.to_owned()];
    names.extend(
        settings
            .targets
            .keys()
            .filter(|n| *n != DEFAULT_TARGET)
            .cloned(),
    );
    names
}

/// Opens target `name` and writes, reads back and removes a small object on it: a
/// target that passes can take a backup now (the Settings page's "Test target").
pub fn probe(
    settings: &BackupSettings,
    data_dir: &Path,
    name: &str,
    conn: &mut PgConnection,
    vault: &Vault,
) -> Result<(), BackupError> {
    const PROBE: &str = "outpost-target-check/probe";
    let target = open(settings, data_dir, name, conn, vault)?;
    let body = b"outpost target check\n";
    let stored = target.put(PROBE, &mut &body[..])?;
    let checked = target.verify(PROBE, &stored);
    target.delete(PROBE)?;
    checked?;
    Ok(())
}

/// Opens target `name`. S3 keys are read from the vault now, so a replaced
/// credential takes effect at the next run.
pub fn open(
    settings: &BackupSettings,
    data_dir: &Path,
    name: &str,
    conn: &mut PgConnection,
    vault: &Vault,
) -> Result<Box<dyn Target>, BackupError> {
    let configured = settings.targets.get(name);
    match configured {
        None if name == DEFAULT_TARGET => Ok(Box::new(LocalDir::in_data_dir(data_dir)?)),
        None => Err(BackupError::UnknownTarget(
            name.to_owned(),
            names(settings).join(", "),
        )),
        Some(TargetSettings::Local { path }) => Ok(Box::new(LocalDir::new(path)?)),
        Some(TargetSettings::S3 {
            bucket,
            region,
            endpoint,
            prefix,
            path_style,
            allow_http,
            access_key_id_credential,
            secret_access_key_credential,
            request_timeout,
        }) => {
            let mut secret = |credential: &str| -> Result<SecretString, BackupError> {
                credentials::named_in_config(conn, vault, credential).map_err(|reason| {
                    BackupError::Credential {
                        target: name.to_owned(),
                        name: credential.to_owned(),
                        reason,
                    }
                })
            };
            let mut config = S3Config::new(
                bucket.clone(),
                secret(access_key_id_credential)?,
                secret(secret_access_key_credential)?,
            );
            config.region = region.clone();
            config.endpoint = (!endpoint.is_empty()).then(|| endpoint.clone());
            config.prefix = prefix.clone();
            config.path_style = *path_style;
            config.allow_http = *allow_http;
            config.request_timeout = *request_timeout;
            config.connect_timeout = Duration::from_secs(10).min(*request_timeout);
            Ok(Box::new(S3::new(&config)?))
        }
    }
}
