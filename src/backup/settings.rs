//! The `[backup]` section of the configuration: when backups run, how many are kept,
//! what goes into them and where they are stored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::human_duration;

/// The name of the target used when none is configured: `<data_dir>/backups`.
pub const DEFAULT_TARGET: &str = "local";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSettings {
    /// Cron expressions (with seconds: `sec min hour day month weekday`); blank disables.
    pub daily: String,
    pub weekly: String,
    pub monthly: String,
    /// Grandfather-father-son retention: the newest backup of each of the last
    /// `keep_daily` days, `keep_weekly` ISO weeks and `keep_monthly` months that have one.
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    /// The target scheduled backups go to (a key of `targets`, or `local`).
    pub target: String,
    /// A restore drill into a scratch database after every scheduled backup.
    pub drill: bool,
    /// Directories of the client's files, stored as a tar stream beside the dump.
    pub data_directories: Vec<PathBuf>,
    /// An `outpost-recipient-…` public key (`outpost backup keygen`): backups are then
    /// sealed to it and only its identity file, kept off the server, reads them.
    /// Empty: backups are under the server's own backup key (from the vault keyring).
    pub recipient: String,
    /// Directory of `pg_dump`/`pg_restore`; found automatically when empty.
    pub pg_bin: Option<PathBuf>,
    /// zstd level of the stored streams (1 fastest, 19 smallest).
    pub zstd_level: i32,
    /// A backup without a manifest whose newest object is older than this is an
    /// abandoned upload, removed before each run and by `prune`.
    #[serde(with = "human_duration")]
    pub partial_grace: Duration,
    pub targets: BTreeMap<String, TargetSettings>,
    /// The targets defined on the Settings page (`backup.targets`), already layered
    /// into `targets` over the file's: never read from or written to the file.
    #[serde(skip)]
    pub dashboard_targets: BTreeMap<String, TargetSettings>,
}

/// Where backups are stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum TargetSettings {
    /// A directory; keep it on another disk or mount if you can.
    Local { path: PathBuf },
    /// An S3-compatible bucket. The keys are stored credentials (sealed in the vault),
    /// named here, read at every run.
    S3 {
        bucket: String,
        #[serde(default = "default_region")]
        region: String,
        /// `https://s3.example.net`; empty for AWS.
        #[serde(default)]
        endpoint: String,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        path_style: bool,
        /// Plain HTTP to the endpoint: only for a store on this host.
        #[serde(default)]
        allow_http: bool,
        access_key_id_credential: String,
        secret_access_key_credential: String,
        #[serde(default = "default_request_timeout", with = "human_duration")]
        request_timeout: Duration,
    },
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(300)
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            daily: "0 30 2 * * *".into(),
            weekly: "0 30 3 * * Sun".into(),
            monthly: "0 30 4 1 * *".into(),
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 12,
            target: DEFAULT_TARGET.into(),
            drill: true,
            data_directories: Vec::new(),
            recipient: String::new(),
            pg_bin: None,
            zstd_level: crate::backup::pipeline::DEFAULT_ZSTD_LEVEL,
            partial_grace: Duration::from_secs(6 * 3600),
            targets: BTreeMap::new(),
            dashboard_targets: BTreeMap::new(),
        }
    }
}

impl BackupSettings {
    /// One line naming the bad key, or nothing.
    pub fn problem(&self) -> Option<(String, String)> {
        let bad = |key: &str, why: String| Some((format!("backup.{key}"), why));
        for (key, cron) in [
            ("daily", &self.daily),
            ("weekly", &self.weekly),
            ("monthly", &self.monthly),
        ] {
            if !cron.trim().is_empty()
                && let Err(e) = crate::backup::schedule::parse(cron)
            {
                return bad(key, e);
            }
        }
        if !self.recipient.trim().is_empty()
            && let Err(e) = crate::backup::recipient::Recipient::parse(&self.recipient)
        {
            return bad("recipient", e.to_string());
        }
        if !(1..=19).contains(&self.zstd_level) {
            return bad("zstd_level", "must be 1 to 19".into());
        }
        if self.target != DEFAULT_TARGET && !self.targets.contains_key(&self.target) {
            return bad(
                "target",
                format!("no target named {:?} in [backup.targets]", self.target),
            );
        }
        for (name, target) in &self.targets {
            if let Err(why) = check_target(name, target) {
                return bad(&format!("targets.{name}"), why);
            }
        }
        None
    }
}

/// Whether `name` can name a target: letters, digits, `-` and `_`.
pub fn target_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// What is wrong with target `name`, if anything (credentials are checked where the
/// database is at hand; the dashboard also wants absolute paths).
pub fn check_target(name: &str, target: &TargetSettings) -> Result<(), String> {
    if !target_name_ok(name) {
        return Err("target names are letters, digits, - and _".into());
    }
    match target {
        TargetSettings::Local { .. } => Ok(()),
        TargetSettings::S3 {
            bucket,
            access_key_id_credential,
            secret_access_key_credential,
            ..
        } if bucket.is_empty()
            || access_key_id_credential.is_empty()
            || secret_access_key_credential.is_empty() =>
        {
            Err("an S3 target needs bucket, access_key_id_credential and secret_access_key_credential".into())
        }
        TargetSettings::S3 { .. } => Ok(()),
    }
}
