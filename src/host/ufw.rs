//! The firewall: UFW denying everything incoming but SSH (always, on the baseline's
//! port), HTTP, HTTPS, the baseline's extra ports and loopback; outgoing allowed.
//!
//! The control owns UFW's settings (`/etc/default/ufw`, `/etc/ufw/ufw.conf`) and the
//! rule files `ufw allow` writes (`user.rules`, `user6.rules`), rendered exactly as
//! ufw writes them. On the machine itself it also checks the running firewall and
//! reports every listener on a public address that the firewall would not let in:
//! closed ports today are open ones the day UFW is off, and ports Docker publishes
//! bypass UFW altogether.

use std::path::Path;

use askama::Template;

use super::files::{self, Format, ManagedFile};
use super::listeners::{self, Listener};
use super::report::Drift;
use super::ufw_rules::{self, Allow, Proto};
use super::{Baseline, Control, Host, HostError};

pub const DEFAULTS: &str = "etc/default/ufw";
pub const CONF: &str = "etc/ufw/ufw.conf";
pub const RULES: &str = "etc/ufw/user.rules";
pub const RULES6: &str = "etc/ufw/user6.rules";
/// UFW's stock rules, which let loopback in before any user rule.
const BEFORE_RULES: &str = "etc/ufw/before.rules";
const LOOPBACK_RULE: &str = "-A ufw-before-input -i lo -j ACCEPT";
/// The DHCP client port: UFW's stock before.rules let the server's replies in.
const DHCP_CLIENT: u16 = 68;

#[derive(Template)]
#[template(path = "host/ufw-default", escape = "none")]
struct Defaults;

#[derive(Template)]
#[template(path = "host/ufw.conf", escape = "none")]
struct Conf;

#[derive(Debug, Clone, Copy)]
pub struct Ufw;

/// What the baseline opens.
pub fn rules(baseline: &Baseline) -> Result<Vec<Allow>, HostError> {
    ufw_rules::allowed(baseline.ssh_port, &baseline.firewall_allow)
}

/// Whether the firewall the baseline describes lets `port/proto` in from anywhere.
pub fn opens(rules: &[Allow], port: u16, proto: Proto) -> bool {
    rules.iter().any(|r| r.covers(port, proto)) || (proto == Proto::Udp && port == DHCP_CLIENT)
}

fn file(path: &str, contents: String, mode: u32, format: Format) -> ManagedFile {
    ManagedFile {
        path: path.into(),
        contents,
        mode,
        format,
    }
}

/// A rule present in a file or the running firewall that the baseline does not have,
/// or the other way round.
fn rule_drift(path: Option<&str>, rule: &str, note: &str) -> Drift {
    Drift {
        path: path.map(str::to_owned),
        key: Some(format!("rule `{rule}`")),
        expected: None,
        actual: None,
        note: Some(note.to_owned()),
    }
}

fn compare_rules(
    path: Option<&str>,
    wanted: &[String],
    have: &[String],
    place: &str,
) -> Vec<Drift> {
    let extra = have
        .iter()
        .filter(|r| !wanted.contains(r))
        .map(|r| rule_drift(path, r, "is not in the baseline"));
    let missing = wanted
        .iter()
        .filter(|r| !have.contains(r))
        .map(|r| rule_drift(path, r, &format!("is missing from {place}")));
    extra.chain(missing).collect()
}

/// How the running firewall (`ufw status verbose`) differs from the baseline.
pub fn status_drift(status_text: &str, rules: &[Allow]) -> Vec<Drift> {
    let status = ufw_rules::parse_status(status_text);
    if !status.active {
        return vec![Drift::live(
            "ufw",
            Some("active"),
            Some("inactive"),
            "the firewall is not running",
        )];
    }
    let mut drift = Vec::new();
    let wanted_default = "deny (incoming), allow (outgoing)";
    if !status.default.starts_with(wanted_default) {
        drift.push(Drift::live(
            "ufw default policy",
            Some(wanted_default),
            Some(&status.default),
            "the running firewall's defaults differ",
        ));
    }
    let wanted = ufw_rules::status_rows(rules);
    drift.extend(compare_rules(
        None,
        &wanted,
        &status.rules,
        "the running firewall",
    ));
    drift
}

/// Public listeners on ports the firewall does not open, one drift per port.
pub fn listener_drift(
    listeners: &[Listener],
    owners: &std::collections::HashMap<u64, String>,
    rules: &[Allow],
) -> Vec<Drift> {
    let ephemeral = listeners::ephemeral_ports();
    listeners::exposed(
        listeners,
        |p, proto| opens(rules, p, proto),
        &ephemeral,
        owners,
    )
    .into_iter()
    .map(|(port, addresses, names)| {
        let who = if names.is_empty() {
            "a process".to_owned()
        } else {
            names.join(", ")
        };
        Drift::live(
            &format!("listener {port}"),
            None,
            None,
            &format!(
                "{who} listens on {}, a public address, on a port the firewall does not \
                     open: reachable the day the firewall is off",
                addresses.join(" and ")
            ),
        )
    })
    .collect()
}

/// Ports containers publish that the firewall would not open: Docker's own iptables
/// chains let them in ahead of UFW's.
pub fn docker_drift(docker_ps: &str, rules: &[Allow]) -> Vec<Drift> {
    listeners::parse_docker_ps(docker_ps)
        .into_iter()
        .filter(|p| (p.low..=p.high).any(|port| !opens(rules, port, p.proto)))
        .map(|p| {
            Drift::live(
                &format!("container {}", p.container),
                None,
                None,
                &format!(
                    "publishes {}, which Docker's iptables rules let in past UFW; bind it \
                     to 127.0.0.1 or open the port in harden.firewall_allow",
                    p.mapping
                ),
            )
        })
        .collect()
}

fn invalid(tool: &str, detail: String) -> HostError {
    HostError::Invalid {
        tool: tool.into(),
        detail,
    }
}

/// `ENABLED` in ufw.conf as it is now under the root.
fn enabled_in_file(host: &Host) -> Result<bool, HostError> {
    let conf = files::read(host, Path::new(CONF))?.map(|c| c.contents);
    Ok(conf.is_some_and(|text| {
        files::settings(Format::Equals, &text)
            .get("ENABLED")
            .is_some_and(|v| v == "yes")
    }))
}

impl Control for Ufw {
    fn name(&self) -> &'static str {
        "ufw"
    }

    fn desired(&self, _host: &Host, baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        let rules = rules(baseline)?;
        let fixed = "the template is fixed text";
        Ok(vec![
            file(
                DEFAULTS,
                files::render(&Defaults, DEFAULTS).expect(fixed),
                0o644,
                Format::Equals,
            ),
            file(
                CONF,
                files::render(&Conf, CONF).expect(fixed),
                0o644,
                Format::Equals,
            ),
            file(
                RULES,
                ufw_rules::render(&rules, false),
                0o640,
                Format::Whole,
            ),
            file(
                RULES6,
                ufw_rules::render(&rules, true),
                0o640,
                Format::Whole,
            ),
        ])
    }

    /// ufw reads the files back (`ufw --dry-run show added`, on the scratch tree with
    /// `--datadir`) and must list exactly the baseline's rules; the netfilter parser
    /// checks every rule line (`iptables-restore --test`, which loads nothing).
    fn validate(&self, host: &Host, baseline: &Baseline) -> Result<(), HostError> {
        let rules = rules(baseline)?;
        let datadir = format!("--datadir={}", host.root().display());
        let mut args: Vec<&str> = Vec::new();
        if !host.is_live() {
            args.push(&datadir);
        }
        args.extend(["--dry-run", "show", "added"]);
        let out = host.run("ufw", &args)?;
        if !out.success {
            return Err(invalid("ufw --dry-run show added", out.detail()));
        }
        if let Some(line) = out.stderr.lines().find(|l| l.contains("malformed")) {
            return Err(invalid("ufw --dry-run show added", line.to_owned()));
        }
        let shown = ufw_rules::rules_shown(&out.stdout);
        let wanted: Vec<String> = rules.iter().map(|r| format!("allow {r}")).collect();
        if shown != wanted {
            return Err(invalid(
                "ufw --dry-run show added",
                format!(
                    "ufw reads the rules as [{}], expected [{}]",
                    shown.join(", "),
                    wanted.join(", ")
                ),
            ));
        }
        for (tool, path) in [("iptables-restore", RULES), ("ip6tables-restore", RULES6)] {
            let path = host.path(path);
            let out = host.run(tool, &["--test", &path.to_string_lossy()])?;
            if !out.success {
                return Err(invalid(&format!("{tool} --test"), out.detail()));
            }
        }
        Ok(())
    }

    /// Makes the running firewall what the files say: started and reloaded when
    /// ufw.conf enables it, stopped when it does not (after a rollback to files that
    /// had it off, the firewall must not stay up with the old rules).
    fn activate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        if enabled_in_file(host)? {
            host.run_ok("ufw", &["--force", "enable"])?;
            host.run_ok("ufw", &["reload"]).map(drop)
        } else {
            host.run_ok("ufw", &["disable"]).map(drop)
        }
    }

    fn steps(&self, host: &Host) -> Vec<String> {
        let datadir = if host.is_live() {
            String::new()
        } else {
            format!("--datadir={} ", host.root().display())
        };
        vec![
            format!("validate: ufw {datadir}--dry-run show added (must list the baseline's rules)"),
            format!(
                "validate: iptables-restore --test {}; ip6tables-restore --test {}",
                host.path(RULES).display(),
                host.path(RULES6).display()
            ),
            "activate (live host only): ufw --force enable; ufw reload".into(),
        ]
    }

    /// Never locks the operator out: SSH is always in the rules, and on the machine
    /// itself an sshd listening on a port the rules would close stops the apply.
    fn preflight(&self, host: &Host, baseline: &Baseline) -> Result<(), HostError> {
        let rules = rules(baseline)?;
        if !host.is_live() {
            return Ok(());
        }
        let found =
            listeners::read(Path::new("/proc/net")).map_err(|e| HostError::io("/proc/net", e))?;
        let owners = listeners::owners();
        let sshd: Vec<Listener> = found
            .into_iter()
            .filter(|l| owners.get(&l.inode).is_some_and(|n| n.starts_with("sshd")))
            .collect();
        let ephemeral = listeners::ephemeral_ports();
        let closed = listeners::exposed(
            &sshd,
            |p, proto| opens(&rules, p, proto),
            &ephemeral,
            &owners,
        );
        if let Some((port, ..)) = closed.first() {
            return Err(HostError::Refused(format!(
                "sshd listens on {port}, which the firewall would close; set harden.ssh_port \
                 to it, or add it to harden.firewall_allow while moving SSH"
            )));
        }
        Ok(())
    }

    fn observe(&self, host: &Host, baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        let rules = rules(baseline)?;
        let mut drift = Vec::new();
        // Rule by rule, for rule files that differ (the file check only says they do).
        for (path, v6) in [(RULES, false), (RULES6, true)] {
            let Some(current) = files::read(host, Path::new(path))? else {
                continue;
            };
            let wanted = ufw_rules::render(&rules, v6);
            if current.contents != wanted {
                drift.extend(compare_rules(
                    Some(path),
                    &ufw_rules::rules_in_file(&wanted),
                    &ufw_rules::rules_in_file(&current.contents),
                    "the file",
                ));
            }
        }
        if let Some(before) = files::read(host, Path::new(BEFORE_RULES))?
            && !before.contents.lines().any(|l| l.trim() == LOOPBACK_RULE)
        {
            drift.push(Drift::setting(
                BEFORE_RULES,
                "loopback",
                Some(LOOPBACK_RULE),
                None,
            ));
        }
        if !host.is_live() {
            return Ok(drift);
        }
        let status = host.run_ok("ufw", &["status", "verbose"])?;
        drift.extend(status_drift(&status.stdout, &rules));
        let found =
            listeners::read(Path::new("/proc/net")).map_err(|e| HostError::io("/proc/net", e))?;
        drift.extend(listener_drift(&found, &listeners::owners(), &rules));
        if super::docker::installed(host) {
            // A docker CLI that cannot reach its daemon means no container is running,
            // so nothing is published.
            let format = "{{.Names}}\t{{.Ports}}";
            if let Ok(out) = host.run("docker", &["ps", "--format", format])
                && out.success
            {
                drift.extend(docker_drift(&out.stdout, &rules));
            }
        }
        Ok(drift)
    }
}

#[cfg(test)]
#[path = "ufw_tests.rs"]
mod tests;
