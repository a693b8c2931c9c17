//! PostgreSQL: every Debian-layout cluster under the root
//! (`etc/postgresql/<version>/<cluster>/`) listens on loopback only, and its pg_hba has
//! neither `trust` over TCP nor any entry for an address beyond this machine.
//!
//! - `conf.d/90-outpost.conf` sets `listen_addresses = 'localhost'`; postgresql.conf
//!   must include `conf.d` (Debian's does; one that does not gets the line appended).
//! - pg_hba.conf is not rewritten wholesale: `--apply` comments out the offending lines
//!   (with the reason, the original kept as `.outpost-bak`), leaving every other line,
//!   the unix-socket ones included, as it was.
//! - Validation is PostgreSQL's own parser: `postgres -C listen_addresses` reads the
//!   whole configuration (includes and `postgresql.auto.conf`) and exits without
//!   starting a server. The same gives the *effective* value the check compares.
//! - Activation reloads the cluster (pg_hba); `listen_addresses` only changes on a
//!   restart, done when `harden.postgres_restart` is on.

mod hba;

use std::path::{Path, PathBuf};

use super::files::{self, Format, ManagedFile};
use super::report::Drift;
use super::{Baseline, Control, Host, HostError};

pub const DROP_IN: &str = "conf.d/90-outpost.conf";
const DROP_IN_TEXT: &str = "\
# Written by `outpost harden`; edits are reported as drift and undone by --apply.
# Only this machine connects: over the unix socket, or TCP on loopback.
listen_addresses = 'localhost'
";

/// One cluster's configuration directory, relative to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub version: String,
    pub name: String,
    pub dir: PathBuf,
}

impl Cluster {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn label(&self) -> String {
        format!("{}/{}", self.version, self.name)
    }
}

/// The clusters under the root, in version then name order.
pub fn clusters(host: &Host) -> Result<Vec<Cluster>, HostError> {
    let base = Path::new("etc/postgresql");
    let mut found = Vec::new();
    for version in sorted_dirs(&host.path(base))? {
        for name in sorted_dirs(&host.path(base.join(&version)))? {
            let dir = base.join(&version).join(&name);
            if host.path(dir.join("postgresql.conf")).is_file() {
                found.push(Cluster {
                    version: version.clone(),
                    name,
                    dir,
                });
            }
        }
    }
    Ok(found)
}

fn sorted_dirs(path: &Path) -> Result<Vec<String>, HostError> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HostError::io(path.display(), e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The last value PostgreSQL would take for `key` from this one file (`key = 'v'`,
/// `key 'v'`, trailing comments), without following includes.
fn conf_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix(key)?;
            if !rest.starts_with([' ', '\t', '=']) {
                return None;
            }
            let rest = rest.trim_start().trim_start_matches('=').trim_start();
            let value = match rest.strip_prefix('\'') {
                Some(quoted) => quoted.split('\'').next().unwrap_or(""),
                None => rest.split(['#', ' ', '\t']).next().unwrap_or(""),
            };
            Some(value.to_owned())
        })
        .next_back()
}

/// `listen_addresses` that binds nothing beyond loopback (empty: unix socket only).
fn loopback_only(value: &str) -> bool {
    value.split(',').map(str::trim).all(|a| {
        a.is_empty()
            || a == "localhost"
            || a.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

#[derive(Debug, Clone, Copy)]
pub struct Postgres;

impl Postgres {
    fn files(host: &Host, cluster: &Cluster) -> Result<Vec<ManagedFile>, HostError> {
        let mut wanted = vec![ManagedFile {
            path: cluster.file(DROP_IN),
            contents: DROP_IN_TEXT.into(),
            mode: 0o644,
            format: Format::Equals,
        }];
        let conf_path = cluster.file("postgresql.conf");
        if let Some(conf) = files::read(host, &conf_path)?
            && !includes_conf_d(&conf.contents, &cluster.dir)
        {
            wanted.push(ManagedFile {
                path: conf_path,
                contents: format!(
                    "{}\n# Added by outpost harden: conf.d holds its settings.\ninclude_dir = 'conf.d'\n",
                    conf.contents.trim_end_matches('\n')
                ),
                mode: conf.mode,
                format: Format::Equals,
            });
        }
        let hba_path = cluster.file("pg_hba.conf");
        if let Some(hba_now) = files::read(host, &hba_path)? {
            let fixed = hba::disable(&hba_now.contents);
            if fixed != hba_now.contents {
                wanted.push(ManagedFile {
                    path: hba_path,
                    contents: fixed,
                    mode: hba_now.mode,
                    format: Format::Whole,
                });
            }
        }
        Ok(wanted)
    }

    /// PostgreSQL's value of `param` with this cluster's files, or none when that
    /// version's server is not installed on this machine.
    fn show(host: &Host, cluster: &Cluster, param: &str) -> Result<Option<String>, HostError> {
        let server = Path::new("/usr/lib/postgresql")
            .join(&cluster.version)
            .join("bin/postgres");
        if !server.exists() {
            return Ok(None);
        }
        let server = server.to_string_lossy().into_owned();
        let conf_path = host.path(cluster.file("postgresql.conf"));
        let conf_text = std::fs::read_to_string(&conf_path)
            .map_err(|e| HostError::io(conf_path.display(), e))?;
        let mut args: Vec<String> = vec![
            "-C".into(),
            param.into(),
            "-c".into(),
            format!("config_file={}", conf_path.display()),
        ];
        // On a scratch root the data directory (and its postgresql.auto.conf) is the
        // root's too, not this machine's.
        if !host.is_live()
            && let Some(data) = conf_value(&conf_text, "data_directory")
        {
            args.push("-c".into());
            args.push(format!("data_directory={}", host.path(&data).display()));
        }
        // The server refuses to run as root, even for -C.
        let (program, mut full) = if nix::unistd::geteuid().is_root() {
            (
                "runuser",
                vec!["-u".into(), "postgres".into(), "--".into(), server],
            )
        } else {
            (server.as_str(), Vec::new())
        };
        let program = program.to_owned();
        full.extend(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let out = host.run(&program, &refs)?;
        if !out.success {
            return Err(HostError::Invalid {
                tool: format!("postgres {}", cluster.version),
                detail: out.detail(),
            });
        }
        Ok(Some(out.stdout.trim().to_owned()))
    }
}

/// Whether postgresql.conf reads `conf.d` (relative, or by its absolute path).
fn includes_conf_d(text: &str, dir: &Path) -> bool {
    text.lines().any(|line| {
        conf_value(line, "include_dir").is_some_and(|v| {
            v == "conf.d" || Path::new(&v) == Path::new("/").join(dir).join("conf.d")
        })
    })
}

impl Control for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn desired(&self, host: &Host, _baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        let mut wanted = Vec::new();
        for cluster in clusters(host)? {
            wanted.extend(Self::files(host, &cluster)?);
        }
        Ok(wanted)
    }

    fn validate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        for cluster in clusters(host)? {
            if Self::show(host, &cluster, "listen_addresses")?.is_none() {
                return Err(HostError::Invalid {
                    tool: "postgres".into(),
                    detail: format!(
                        "PostgreSQL {} is not installed here, so its files cannot be checked",
                        cluster.version
                    ),
                });
            }
        }
        Ok(())
    }

    fn activate(&self, host: &Host, baseline: &Baseline) -> Result<(), HostError> {
        let action = if baseline.postgres_restart {
            "restart"
        } else {
            "reload"
        };
        for cluster in clusters(host)? {
            let status = host.run(
                "pg_ctlcluster",
                &[&cluster.version, &cluster.name, "status"],
            )?;
            // A cluster that is not running reads the files when it starts.
            if status.success {
                host.run_ok("pg_ctlcluster", &[&cluster.version, &cluster.name, action])?;
            }
        }
        Ok(())
    }

    fn steps(&self, host: &Host) -> Vec<String> {
        let Ok(found) = clusters(host) else {
            return Vec::new();
        };
        found
            .iter()
            .flat_map(|c| {
                [
                    format!(
                        "validate: postgres -C listen_addresses -c config_file={} (as postgres)",
                        host.path(c.file("postgresql.conf")).display()
                    ),
                    format!(
                        "activate (live host only, if running): pg_ctlcluster {v} {n} reload \
                         (pg_hba); listen_addresses needs pg_ctlcluster {v} {n} restart, \
                         done only with harden.postgres_restart = true",
                        v = c.version,
                        n = c.name
                    ),
                ]
            })
            .collect()
    }

    fn observe(&self, host: &Host, _baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        let mut drift = Vec::new();
        for cluster in clusters(host)? {
            let hba_path = cluster.file("pg_hba.conf");
            if let Some(hba_now) = files::read(host, &hba_path)? {
                for offence in hba::offences(&hba_now.contents) {
                    drift.push(Drift {
                        note: Some(format!("`{}`: {}", offence.text, offence.reason)),
                        ..Drift::setting(
                            &hba_path.display().to_string(),
                            &format!("line {}", offence.line),
                            None,
                            None,
                        )
                    });
                }
            }
            drift.extend(effective_listen(host, &cluster)?);
            if host.is_live() {
                drift.extend(listeners(host, &cluster)?);
            }
        }
        Ok(drift)
    }
}

/// The value the server would use, over every file (ALTER SYSTEM's included).
fn effective_listen(host: &Host, cluster: &Cluster) -> Result<Vec<Drift>, HostError> {
    let conf = cluster.file("postgresql.conf").display().to_string();
    match Postgres::show(host, cluster, "listen_addresses") {
        Ok(Some(value)) if !loopback_only(&value) => Ok(vec![Drift {
            note: Some("effective value (postgres -C); ALTER SYSTEM settings in postgresql.auto.conf win over the files".into()),
            ..Drift::setting(&conf, "listen_addresses", Some("localhost"), Some(&value))
        }]),
        // Without that version's server the file checks are all there is.
        Ok(_) => Ok(Vec::new()),
        Err(HostError::Invalid { detail, .. }) => Ok(vec![Drift::file(
            &conf,
            &format!("PostgreSQL cannot read its configuration: {detail}"),
        )]),
        Err(e) => Err(e),
    }
}

/// On the machine itself: sockets on the cluster's port bound beyond loopback (it was
/// started before the files changed, or a restart is still due).
fn listeners(host: &Host, cluster: &Cluster) -> Result<Vec<Drift>, HostError> {
    let port = Postgres::show(host, cluster, "port")
        .ok()
        .flatten()
        .unwrap_or_else(|| "5432".into());
    let out = host.run_ok("ss", &["-H", "-t", "-l", "-n"])?;
    Ok(public_listeners(&out.stdout, &port)
        .into_iter()
        .map(|address| {
            Drift::live(
                &format!("postgresql {} listener", cluster.label()),
                Some("loopback only"),
                Some(&address),
                &format!(
                    "the running server still listens beyond loopback: pg_ctlcluster {} {} restart",
                    cluster.version, cluster.name
                ),
            )
        })
        .collect())
}

/// Local addresses of `ss -H -tln` lines on `port` that are not loopback.
fn public_listeners(ss: &str, port: &str) -> Vec<String> {
    ss.lines()
        .filter_map(|line| line.split_whitespace().nth(3))
        .filter_map(|local| {
            let (address, p) = local.rsplit_once(':')?;
            (p == port).then_some(address)
        })
        .filter(|address| {
            let bare = address.trim_start_matches('[').trim_end_matches(']');
            let bare = bare.split('%').next().unwrap_or(bare);
            !bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
        })
        .map(|address| format!("{address}:{port}"))
        .collect()
}

#[cfg(test)]
mod tests;
