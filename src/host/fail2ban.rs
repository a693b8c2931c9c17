//! fail2ban: an sshd jail read from the systemd journal (Debian 12 has no auth.log),
//! a jail for Outpost's own failed dashboard sign-ins, and recidive for repeat
//! offenders. Bans go through fail2ban's own iptables chains, which live beside
//! UFW's without touching the rule files the firewall control owns.
//!
//! Two files: the jails in `jail.d/outpost.conf`, and the filter that reads the line
//! every failed sign-in logs (`identity::sign_in::log_failure`) in
//! `filter.d/outpost.conf`. The rest is Debian's stock configuration.

use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use askama::Template;

use super::files::{self, Format, ManagedFile};
use super::report::Drift;
use super::{Baseline, Control, Host, HostError};

pub const JAIL: &str = "etc/fail2ban/jail.d/outpost.conf";
pub const FILTER: &str = "etc/fail2ban/filter.d/outpost.conf";
/// fail2ban's own log on Debian (`logtarget`), which the recidive jail reads.
const RECIDIVE_LOG: &str = "var/log/fail2ban.log";
/// The jails the baseline runs, as `fail2ban-client status` lists them.
pub const JAILS: [&str; 3] = ["sshd", "outpost", "recidive"];

/// A failed sign-in as Outpost logs it (the tests check this shape against the
/// formatter itself), for checking the installed filter.
const SAMPLE_LINE: &str = "2026-01-01T00:00:00.000000Z  WARN request{request_id=0}: \
    outpost::identity::sign_in: authentication failure client_ip=192.0.2.1 account=x@example.com";
const SAMPLE_ADDRESS: &str = "192.0.2.1";

#[derive(Template)]
#[template(path = "host/fail2ban-jail.conf", escape = "none")]
struct JailConf<'a> {
    ssh_port: u16,
    ignore: &'a [String],
    /// Empty: the journal of outpost.service.
    outpost_log: &'a str,
}

#[derive(Template)]
#[template(path = "host/fail2ban-filter.conf", escape = "none")]
struct FilterConf;

#[derive(Debug, Clone, Copy)]
pub struct Fail2ban;

impl Fail2ban {
    fn jail(baseline: &Baseline) -> Result<ManagedFile, HostError> {
        check_baseline(baseline)?;
        let jail = JailConf {
            ssh_port: baseline.ssh_port,
            ignore: &baseline.fail2ban_ignore,
            outpost_log: &baseline.fail2ban_outpost_log,
        };
        let contents = files::render(&jail, JAIL)?;
        Ok(ManagedFile {
            path: JAIL.into(),
            contents,
            mode: 0o644,
            format: Format::Ini,
        })
    }

    fn filter() -> ManagedFile {
        ManagedFile {
            path: FILTER.into(),
            contents: files::render(&FilterConf, FILTER)
                .expect("the filter template is fixed text"),
            mode: 0o644,
            format: Format::Whole,
        }
    }
}

/// The baseline's values go into an INI file line by line: each must be one value,
/// not a way to add lines (or `%(…)s` interpolations) of its own.
fn check_baseline(baseline: &Baseline) -> Result<(), HostError> {
    for entry in &baseline.fail2ban_ignore {
        let (address, prefix) = entry.split_once('/').unwrap_or((entry, ""));
        let Ok(ip) = address.parse::<IpAddr>() else {
            return Err(refused(format!(
                "harden.fail2ban_ignore: `{entry}` is not an address or network"
            )));
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if !prefix.is_empty() && !prefix.parse::<u8>().is_ok_and(|p| p <= max) {
            return Err(refused(format!(
                "harden.fail2ban_ignore: `{entry}` has no valid prefix length"
            )));
        }
    }
    let log = &baseline.fail2ban_outpost_log;
    if !log.is_empty()
        && (!log.starts_with('/') || log.chars().any(|c| c.is_whitespace() || c == '%'))
    {
        return Err(refused(format!(
            "harden.fail2ban_outpost_log: `{log}` is not an absolute path without spaces"
        )));
    }
    Ok(())
}

fn refused(message: String) -> HostError {
    HostError::Refused(message)
}

fn invalid(tool: &str, detail: String) -> HostError {
    HostError::Invalid {
        tool: tool.into(),
        detail,
    }
}

/// fail2ban's configuration directory under the host's root.
fn config_dir(host: &Host) -> String {
    host.path("etc/fail2ban").to_string_lossy().into_owned()
}

impl Control for Fail2ban {
    fn name(&self) -> &'static str {
        "fail2ban"
    }

    fn desired(&self, _host: &Host, baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        Ok(vec![Self::jail(baseline)?, Self::filter()])
    }

    /// `fail2ban-client -t` reads the whole configuration directory (stock files and
    /// ours) as the server would. It does not compile filters, so `fail2ban-regex`
    /// then runs the installed filter over a sign-in failure line and must find the
    /// address in it.
    fn validate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        let dir = config_dir(host);
        let out = host.run("fail2ban-client", &["-c", &dir, "-t"])?;
        if !out.success {
            return Err(invalid("fail2ban-client -t", out.detail()));
        }
        let filter = host.path(FILTER);
        let out = host.run(
            "fail2ban-regex",
            &[
                "-c",
                &dir,
                "-o",
                "ip",
                SAMPLE_LINE,
                &filter.to_string_lossy(),
            ],
        )?;
        if !out.success || out.stdout.trim() != SAMPLE_ADDRESS {
            return Err(invalid(
                "fail2ban-regex",
                format!(
                    "the outpost filter does not find {SAMPLE_ADDRESS} in a sign-in failure \
                     line ({})",
                    out.detail()
                ),
            ));
        }
        Ok(())
    }

    fn steps(&self, host: &Host) -> Vec<String> {
        vec![
            format!("validate: fail2ban-client -c {} -t", config_dir(host)),
            format!(
                "validate: fail2ban-regex finds the address in a sign-in failure line with {}",
                host.path(FILTER).display()
            ),
            "activate (live host only): fail2ban-client reload, or start fail2ban.service \
             if it is not running"
                .into(),
        ]
    }

    /// On the machine itself, a log file the outpost jail is told to read must exist:
    /// fail2ban refuses to start a jail without its file (and then every jail).
    fn preflight(&self, host: &Host, baseline: &Baseline) -> Result<(), HostError> {
        check_baseline(baseline)?;
        let log = &baseline.fail2ban_outpost_log;
        if host.is_live() && !log.is_empty() && !Path::new(log).exists() {
            return Err(refused(format!(
                "harden.fail2ban_outpost_log: {log} does not exist, and fail2ban would not \
                 start without it"
            )));
        }
        Ok(())
    }

    /// A running server reloads its jails; a stopped one is started (the baseline
    /// wants fail2ban running, and `reload` needs a server to talk to).
    fn activate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        // recidive reads fail2ban's own log, which does not exist until fail2ban has
        // run once; without it fail2ban would not start at all.
        let own_log = host.path(RECIDIVE_LOG);
        if !own_log.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(&own_log)
                .map_err(|e| HostError::io(own_log.display(), e))?;
        }
        if host.run("fail2ban-client", &["ping"])?.success {
            host.run_ok("fail2ban-client", &["reload"]).map(drop)
        } else {
            host.run_ok("systemctl", &["enable", "--now", "fail2ban.service"])
                .map(drop)
        }
    }

    /// On the machine itself, every jail of the baseline must be running.
    fn observe(&self, host: &Host, _baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        if !host.is_live() {
            return Ok(Vec::new());
        }
        let out = host.run("fail2ban-client", &["status"])?;
        if !out.success {
            return Ok(vec![Drift::live(
                "fail2ban",
                Some("running"),
                Some("not running"),
                &out.detail(),
            )]);
        }
        let running = running_jails(&out.stdout);
        Ok(JAILS
            .iter()
            .filter(|jail| !running.iter().any(|r| r == *jail))
            .map(|jail| {
                Drift::live(
                    &format!("jail {jail}"),
                    Some("running"),
                    Some("not running"),
                    "fail2ban is running without it",
                )
            })
            .collect())
    }
}

/// The jail names in `fail2ban-client status` output (`Jail list:\tsshd, outpost`).
pub fn running_jails(status: &str) -> Vec<String> {
    status
        .lines()
        .find_map(|line| line.split_once("Jail list:").map(|(_, list)| list))
        .map(|list| {
            list.split(',')
                .map(|j| j.trim().to_owned())
                .filter(|j| !j.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The addresses a jail has banned now, from `fail2ban-client status JAIL`.
pub fn banned(status: &str) -> Vec<String> {
    status
        .lines()
        .find_map(|line| line.split_once("Banned IP list:").map(|(_, list)| list))
        .map(|list| list.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "fail2ban_tests.rs"]
mod tests;
