//! Docker, where installed: daemon.json with the daemon-wide protections, merged into
//! whatever the file already sets, and no running container privileged or on the
//! host's network.
//!
//! daemon.json is compared whole (JSON has no line format), and the drift that names a
//! key comes from comparing the parsed file with the keys the baseline needs. A file
//! that already has them is left byte for byte as it is.

use serde_json::{Map, Value};

use super::files::{self, Format, ManagedFile};
use super::report::Drift;
use super::{Baseline, Control, Host, HostError};

pub const DAEMON_JSON: &str = "etc/docker/daemon.json";

/// The keys the baseline sets, and their values.
const REQUIRED: [(&str, bool); 4] = [
    // Containers cannot gain privileges through setuid binaries.
    ("no-new-privileges", true),
    // Containers on the default bridge cannot reach each other unless linked.
    ("icc", false),
    // Published ports are forwarded by iptables, not a userland proxy per port.
    ("userland-proxy", false),
    // Containers keep running while the daemon restarts (for upgrades).
    ("live-restore", true),
];

/// Docker is installed under the root (its daemon, or its configuration directory).
pub fn installed(host: &Host) -> bool {
    ["usr/bin/dockerd", "usr/sbin/dockerd", "etc/docker"]
        .iter()
        .any(|p| host.path(p).exists())
}

fn parse(text: &str) -> Result<Map<String, Value>, HostError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(HostError::Refused(format!(
            "/{DAEMON_JSON} is not a JSON object; fix it by hand first"
        ))),
        Err(e) => Err(HostError::Refused(format!(
            "/{DAEMON_JSON} is not valid JSON ({e}); fix it by hand first"
        ))),
    }
}

/// The required keys whose value differs, as (key, expected, actual).
fn differing(map: &Map<String, Value>) -> Vec<(&'static str, bool, Option<String>)> {
    REQUIRED
        .iter()
        .filter(|(key, want)| map.get(*key) != Some(&Value::Bool(*want)))
        .map(|(key, want)| (*key, *want, map.get(*key).map(Value::to_string)))
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub struct Docker;

impl Docker {
    fn file(host: &Host) -> Result<Option<ManagedFile>, HostError> {
        if !installed(host) {
            return Ok(None);
        }
        let current = files::read(host, DAEMON_JSON.as_ref())?;
        let contents = match &current {
            Some(now) => {
                let mut map = parse(&now.contents)?;
                if differing(&map).is_empty() {
                    now.contents.clone()
                } else {
                    for (key, want) in REQUIRED {
                        map.insert(key.into(), Value::Bool(want));
                    }
                    render(&map)
                }
            }
            None => render(
                &REQUIRED
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Value::Bool(*v)))
                    .collect(),
            ),
        };
        Ok(Some(ManagedFile {
            path: DAEMON_JSON.into(),
            contents,
            mode: 0o644,
            format: Format::Whole,
        }))
    }

    /// The daemon that would read the file, when it is there to validate it.
    fn daemon(host: &Host) -> Option<String> {
        ["usr/bin/dockerd", "usr/sbin/dockerd"]
            .iter()
            .map(|p| host.path(p))
            .find(|p| p.exists())
            .map(|p| p.to_string_lossy().into_owned())
    }
}

fn render(map: &Map<String, Value>) -> String {
    let mut text = serde_json::to_string_pretty(map).expect("a JSON map always serialises");
    text.push('\n');
    text
}

impl Control for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn desired(&self, host: &Host, _baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        Ok(Self::file(host)?.into_iter().collect())
    }

    /// `dockerd --validate` where the daemon is installed (it knows every key and
    /// conflicts between them); otherwise the file must at least parse and hold the keys.
    fn validate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        let path = host.path(DAEMON_JSON);
        if let Some(dockerd) = Self::daemon(host) {
            let out = host.run(
                &dockerd,
                &["--validate", "--config-file", &path.to_string_lossy()],
            )?;
            if !out.success {
                return Err(HostError::Invalid {
                    tool: "dockerd --validate".into(),
                    detail: out.detail(),
                });
            }
            return Ok(());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| HostError::io(path.display(), e))?;
        let missing = differing(&parse(&text)?);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(HostError::Invalid {
                tool: "json".into(),
                detail: format!("{} still differs", missing[0].0),
            })
        }
    }

    /// A reload applies live-restore; the other keys wait for the daemon's next
    /// restart (with live-restore on, containers keep running through it).
    fn activate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        if host
            .run("systemctl", &["is-active", "--quiet", "docker"])?
            .success
        {
            host.run_ok("systemctl", &["reload", "docker"])?;
        }
        Ok(())
    }

    fn steps(&self, host: &Host) -> Vec<String> {
        if !installed(host) {
            return vec!["nothing: Docker is not installed".into()];
        }
        vec![
            match Self::daemon(host) {
                Some(d) => format!(
                    "validate: {d} --validate --config-file {}",
                    host.path(DAEMON_JSON).display()
                ),
                None => "validate: the file parses as JSON and holds the keys".into(),
            },
            "activate (live host only, if running): systemctl reload docker; icc, \
             userland-proxy and no-new-privileges take effect at the next \
             `systemctl restart docker` (containers keep running: live-restore)"
                .into(),
        ]
    }

    fn observe(&self, host: &Host, _baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        if !installed(host) {
            return Ok(Vec::new());
        }
        let mut drift = Vec::new();
        if let Some(now) = files::read(host, DAEMON_JSON.as_ref())? {
            for (key, want, actual) in differing(&parse(&now.contents)?) {
                drift.push(Drift::setting(
                    DAEMON_JSON,
                    key,
                    Some(&want.to_string()),
                    actual.as_deref(),
                ));
            }
        }
        if host.is_live() {
            drift.extend(containers(host)?);
        }
        Ok(drift)
    }
}

/// Running containers that are privileged or share the host's network namespace.
fn containers(host: &Host) -> Result<Vec<Drift>, HostError> {
    // No socket, no daemon running: no containers either.
    if !host.path("run/docker.sock").exists() {
        return Ok(Vec::new());
    }
    let ids = host.run_ok("docker", &["ps", "--quiet", "--no-trunc"])?;
    let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect"];
    args.extend(ids);
    let inspected = host.run_ok("docker", &args)?;
    risky(&inspected.stdout)
}

/// The drift in `docker inspect` output (a JSON array of containers).
fn risky(inspect: &str) -> Result<Vec<Drift>, HostError> {
    let containers: Vec<Value> = serde_json::from_str(inspect)
        .map_err(|e| HostError::Io(format!("docker inspect printed no JSON list: {e}")))?;
    let mut drift = Vec::new();
    for c in &containers {
        let name = c["Name"].as_str().unwrap_or("?").trim_start_matches('/');
        let key = format!("container {name}");
        if c["HostConfig"]["Privileged"] == Value::Bool(true) {
            drift.push(Drift::live(
                &key,
                Some("unprivileged"),
                Some("privileged"),
                "a privileged container has every capability and device of the host",
            ));
        }
        if c["HostConfig"]["NetworkMode"] == "host" {
            drift.push(Drift::live(
                &key,
                Some("own network"),
                Some("host network"),
                "its ports bypass Docker's forwarding rules and are bound on the host itself",
            ));
        }
    }
    Ok(drift)
}

#[cfg(test)]
mod tests;
