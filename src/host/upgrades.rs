//! Unattended upgrades: the apt periodic settings (`20auto-upgrades`, the file the
//! package itself writes) and Outpost's own `52outpost-unattended-upgrades`, which adds
//! the security origins to the distribution's list and sets the reboot policy; and a
//! drop-in that takes a backup (`outpost-backup.service`) before each upgrade run.
//!
//! Both files are apt syntax, which none of the key formats reads, so they are compared
//! whole; what names the key is the check of the *effective* configuration: `apt-config
//! dump` over the root's whole `apt.conf.d`, which also catches a later file that
//! overrides a setting. The same dump is the validation: apt-config refuses a file it
//! cannot parse.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use askama::Template;

use super::files::{self, Format, ManagedFile};
use super::report::Drift;
use super::{Baseline, Control, Host, HostError};

pub const PERIODIC: &str = "etc/apt/apt.conf.d/20auto-upgrades";
pub const ORIGINS: &str = "etc/apt/apt.conf.d/52outpost-unattended-upgrades";
/// A backup before each unattended upgrade run: a drop-in for the unit that runs them.
pub const BACKUP_FIRST: &str =
    "etc/systemd/system/apt-daily-upgrade.service.d/50-outpost-backup.conf";
const PARTS: &str = "etc/apt/apt.conf.d";

/// The security origins the baseline needs, as apt-config lists them.
const DEBIAN_SECURITY: [&str; 2] = [
    "origin=Debian,codename=${distro_codename},label=Debian-Security",
    "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
];
const UBUNTU_SECURITY: &str = "${distro_id}:${distro_codename}-security";

#[derive(Template)]
#[template(path = "host/52outpost-unattended-upgrades", escape = "none")]
struct OriginsConf<'a> {
    auto_reboot: bool,
    reboot_time: &'a str,
    mail: &'a str,
}

#[derive(Debug, Clone, Copy)]
pub struct Upgrades;

impl Upgrades {
    fn files(baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        check_values(baseline)?;
        let origins = OriginsConf {
            auto_reboot: baseline.auto_reboot,
            reboot_time: &baseline.reboot_time,
            mail: &baseline.upgrade_mail,
        };
        let origins = files::render(&origins, ORIGINS)?;
        Ok(vec![
            ManagedFile {
                path: PERIODIC.into(),
                contents: include_str!("../../templates/host/20auto-upgrades").into(),
                mode: 0o644,
                format: Format::Whole,
            },
            ManagedFile {
                path: ORIGINS.into(),
                contents: origins,
                mode: 0o644,
                format: Format::Whole,
            },
            ManagedFile {
                path: BACKUP_FIRST.into(),
                contents: include_str!("../../templates/host/outpost-backup-before-upgrade.conf")
                    .into(),
                mode: 0o644,
                format: Format::Ini,
            },
        ])
    }
}

/// The baseline's values go into quoted apt strings: refuse anything that could end
/// the string (or is not what the key means) instead of writing a broken file.
fn check_values(baseline: &Baseline) -> Result<(), HostError> {
    let time_ok = baseline.reboot_time.split_once(':').is_some_and(|(h, m)| {
        h.len() == 2
            && m.len() == 2
            && h.parse::<u8>().is_ok_and(|h| h < 24)
            && m.parse::<u8>().is_ok_and(|m| m < 60)
    });
    if !time_ok {
        return Err(HostError::Refused(format!(
            "harden.reboot_time `{}` is not a time of day like 02:00",
            baseline.reboot_time
        )));
    }
    let mail_ok = baseline
        .upgrade_mail
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@._+-".contains(c));
    if !mail_ok {
        return Err(HostError::Refused(format!(
            "harden.upgrade_mail `{}` is not a user name or an address",
            baseline.upgrade_mail
        )));
    }
    Ok(())
}

/// `apt-config dump` over the root's configuration only (not this machine's), as
/// `(key, value)` lines in the order apt resolved them.
pub fn effective(host: &Host) -> Result<Vec<(String, String)>, HostError> {
    let parts = host.path(PARTS);
    let main = host.path("etc/apt/apt.conf");
    let config = TempConfig::new(&format!(
        "Dir::Etc::Parts \"{}\";\nDir::Etc::Main \"{}\";\n",
        quotable(&parts)?,
        quotable(&main)?
    ))?;
    // APT_CONFIG is read before anything else, so it decides which directory of parts
    // is read; `-o` would come too late for that.
    let out = host.run(
        "env",
        &[
            &format!("APT_CONFIG={}", config.path.display()),
            "apt-config",
            "dump",
        ],
    )?;
    if !out.success {
        return Err(HostError::Invalid {
            tool: "apt-config".into(),
            detail: out.detail(),
        });
    }
    Ok(parse_dump(&out.stdout))
}

fn quotable(path: &Path) -> Result<String, HostError> {
    let text = path.to_string_lossy().into_owned();
    if text.contains('"') {
        return Err(HostError::Io(format!(
            "{text}: apt cannot be pointed at a path with a quote in it"
        )));
    }
    Ok(text)
}

/// `Key::Sub "value";` lines; list items come as `Key::List:: "item";`.
fn parse_dump(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(' ')?;
            let value = rest.trim().strip_suffix(';')?.trim();
            let value = value.strip_prefix('"')?.strip_suffix('"')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// How the effective configuration differs from the baseline, key by key.
fn effective_drift(dump: &[(String, String)], baseline: &Baseline) -> Vec<Drift> {
    let mut drift = scalar_drift(dump, baseline);
    drift.extend(origin_drift(dump));
    drift
}

fn scalar_drift(dump: &[(String, String)], baseline: &Baseline) -> Vec<Drift> {
    // The last occurrence is the one that counts: later files override earlier ones.
    let scalar = |key: &str| {
        dump.iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    let mut wanted: Vec<(&str, Option<&str>, String)> = vec![
        (
            "APT::Periodic::Update-Package-Lists",
            scalar("APT::Periodic::Update-Package-Lists"),
            "1".into(),
        ),
        (
            "APT::Periodic::Unattended-Upgrade",
            scalar("APT::Periodic::Unattended-Upgrade"),
            "1".into(),
        ),
        (
            "Unattended-Upgrade::Automatic-Reboot",
            // unattended-upgrade's own default is not to reboot.
            Some(scalar("Unattended-Upgrade::Automatic-Reboot").unwrap_or("false")),
            baseline.auto_reboot.to_string(),
        ),
    ];
    if baseline.auto_reboot {
        wanted.push((
            "Unattended-Upgrade::Automatic-Reboot-Time",
            scalar("Unattended-Upgrade::Automatic-Reboot-Time"),
            baseline.reboot_time.clone(),
        ));
    }
    let mut drift = Vec::new();
    for (key, actual, expected) in wanted {
        if actual != Some(expected.as_str()) {
            drift.push(effective_setting(key, Some(&expected), actual));
        }
    }
    drift
}

/// The security origins missing from the lists (other origins may be there too).
fn origin_drift(dump: &[(String, String)]) -> Vec<Drift> {
    let listed = |list: &str, item: &str| {
        let key = format!("{list}::");
        dump.iter().any(|(k, v)| k == &key && v == item)
    };
    let mut drift = Vec::new();
    for origin in DEBIAN_SECURITY {
        if !listed("Unattended-Upgrade::Origins-Pattern", origin) {
            drift.push(effective_setting(
                "Unattended-Upgrade::Origins-Pattern",
                Some(origin),
                None,
            ));
        }
    }
    if !listed("Unattended-Upgrade::Allowed-Origins", UBUNTU_SECURITY) {
        drift.push(effective_setting(
            "Unattended-Upgrade::Allowed-Origins",
            Some(UBUNTU_SECURITY),
            None,
        ));
    }
    drift
}

fn effective_setting(key: &str, expected: Option<&str>, actual: Option<&str>) -> Drift {
    Drift {
        note: Some("as apt-config reads all of apt.conf.d".into()),
        ..Drift::setting(&format!("{PARTS}/"), key, expected, actual)
    }
}

impl Control for Upgrades {
    fn name(&self) -> &'static str {
        "upgrades"
    }

    fn desired(&self, _host: &Host, baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        Self::files(baseline)
    }

    /// apt-config parses every file of the directory (a syntax error anywhere stops
    /// apt itself), and the security origins must be in the resulting lists. A scalar
    /// a later file overrides is left to the check to name: it is not this file's fault.
    fn validate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        let missing: Vec<String> = origin_drift(&effective(host)?)
            .iter()
            .map(ToString::to_string)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(HostError::Invalid {
                tool: "apt-config".into(),
                detail: missing.join("; "),
            })
        }
    }

    fn steps(&self, host: &Host) -> Vec<String> {
        vec![
            format!(
                "validate: APT_CONFIG=<Dir::Etc::Parts {}> apt-config dump parses every file, and the security origins are listed",
                host.path(PARTS).display()
            ),
            "activate: systemctl daemon-reload (the backup before each upgrade run); the apt timers read the apt files at their next run".into(),
        ]
    }

    /// systemd reads the backup drop-in only on a reload; apt reads its files at
    /// every run.
    fn activate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        host.run_ok("systemctl", &["daemon-reload"]).map(drop)
    }

    fn observe(&self, host: &Host, baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        check_values(baseline)?;
        let mut drift = match effective(host) {
            Ok(dump) => effective_drift(&dump, baseline),
            Err(HostError::Invalid { detail, .. }) => vec![Drift::file(
                &format!("{PARTS}/"),
                &format!("apt-config cannot read the configuration: {detail}"),
            )],
            Err(e) => return Err(e),
        };
        if host.is_live() {
            drift.extend(live_drift(host));
        }
        Ok(drift)
    }
}

/// On the machine itself: the program must be installed and its timer enabled, or the
/// files change nothing.
fn live_drift(host: &Host) -> Vec<Drift> {
    let mut drift = Vec::new();
    if !host.path("usr/bin/unattended-upgrade").exists() {
        drift.push(Drift::live(
            "unattended-upgrades",
            Some("installed"),
            Some("not installed"),
            "apt-get install unattended-upgrades",
        ));
    }
    let enabled = host
        .run("systemctl", &["is-enabled", "apt-daily-upgrade.timer"])
        .map(|o| o.stdout.trim().to_owned())
        .unwrap_or_else(|e| e.to_string());
    if enabled != "enabled" {
        drift.push(Drift::live(
            "apt-daily-upgrade.timer",
            Some("enabled"),
            Some(&enabled),
            "systemctl enable --now apt-daily.timer apt-daily-upgrade.timer",
        ));
    }
    drift
}

/// A private file removed when dropped: the APT_CONFIG that points apt at the root.
struct TempConfig {
    path: PathBuf,
}

impl TempConfig {
    fn new(contents: &str) -> Result<Self, HostError> {
        // Unique within the process (a counter) and among processes (the pid).
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "outpost-apt-{}-{}.conf",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(contents.as_bytes()))
            .map_err(|e| HostError::io(path.display(), e))?;
        Ok(Self { path })
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests;
