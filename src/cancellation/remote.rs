//! Backups stored elsewhere than the data directory (an S3 bucket, another disk) are
//! the client's data too, and go with the rest when the export window closes.
//!
//! They are surveyed before the database is emptied: an S3 target's keys are stored
//! credentials, which the destruction deletes.

use std::collections::BTreeMap;

use diesel::PgConnection;

use crate::backup::targets;
use crate::backup_target::Target;
use crate::config::Config;
use crate::vault::Vault;

/// Every configured target's objects, listed and ready to remove.
#[derive(Debug, Default)]
pub struct Remote {
    found: Vec<(String, Box<dyn Target>, Vec<String>)>,
    /// Targets that could not be opened or listed, with the reason.
    pub unreachable: Vec<String>,
}

/// Opens and lists every configured target (the implicit `local` one is the data
/// directory's, emptied as files).
pub fn survey(conn: &mut PgConnection, config: &Config, vault: &Vault) -> Remote {
    let mut remote = Remote::default();
    for name in config.backup.targets.keys() {
        let listed = targets::open(&config.backup, &config.data_dir, name, conn, vault)
            .map_err(|e| e.to_string())
            .and_then(|target| {
                let objects = target.list("").map_err(|e| e.to_string())?;
                Ok((target, objects.into_iter().map(|o| o.name).collect()))
            });
        match listed {
            Ok((target, objects)) => remote.found.push((name.clone(), target, objects)),
            Err(reason) => remote
                .unreachable
                .push(format!("backup target {name}: {reason}")),
        }
    }
    remote
}

impl Remote {
    /// Objects per target, for the audit entry.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.found
            .iter()
            .map(|(name, _, objects)| (name.clone(), objects.len() as u64))
            .collect()
    }

    /// Removes every object surveyed; what would not go is added to `left_behind`.
    pub fn remove(self, left_behind: &mut Vec<String>) {
        left_behind.extend(self.unreachable);
        for (name, target, objects) in self.found {
            for object in objects {
                if let Err(e) = target.delete(&object) {
                    left_behind.push(format!("backup target {name}: {object}: {e}"));
                }
            }
        }
    }
}
