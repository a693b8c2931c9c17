//! Kernel settings: one file under /etc/sysctl.d, loaded with `sysctl -p`.
//!
//! IP forwarding is left alone where Docker is installed (its networking needs it);
//! IPv6 router advertisements are only turned off when the baseline asks, since many
//! VPS providers address IPv6 by SLAAC.

use std::path::Path;

use askama::Template;

use super::files::{self, Format, ManagedFile};
use super::report::Drift;
use super::{Baseline, Control, Host, HostError};

pub const FILE: &str = "etc/sysctl.d/90-outpost-hardening.conf";

#[derive(Template)]
#[template(path = "host/sysctl.conf", escape = "none")]
struct SysctlConf {
    disable_router_advertisements: bool,
    forbid_forwarding: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Sysctl;

impl Sysctl {
    fn file(host: &Host, baseline: &Baseline) -> Result<ManagedFile, HostError> {
        let conf = SysctlConf {
            disable_router_advertisements: baseline.ipv6_disable_router_advertisements,
            forbid_forwarding: !super::docker::installed(host),
        };
        Ok(ManagedFile {
            path: FILE.into(),
            contents: files::render(&conf, FILE)?,
            mode: 0o644,
            format: Format::Equals,
        })
    }
}

/// Where the running kernel shows `key` (`net.ipv4.tcp_syncookies` →
/// `/proc/sys/net/ipv4/tcp_syncookies`).
fn proc_path(key: &str) -> std::path::PathBuf {
    Path::new("/proc/sys").join(key.replace('.', "/"))
}

impl Control for Sysctl {
    fn name(&self) -> &'static str {
        "sysctl"
    }

    fn desired(&self, host: &Host, baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        Ok(vec![Self::file(host, baseline)?])
    }

    /// Every line must be `key = integer` with a key this kernel knows: `sysctl -p`
    /// would otherwise stop at the first bad line. (On a scratch root the running
    /// kernel is only read, never changed.)
    fn validate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        let written = files::read(host, Path::new(FILE))?
            .ok_or_else(|| HostError::Io(format!("{FILE} was not written")))?;
        for (key, value) in files::settings(Format::Equals, &written.contents) {
            let known = proc_path(&key).exists() || optional(&key);
            if !known || value.parse::<i64>().is_err() {
                return Err(HostError::Invalid {
                    tool: "sysctl".into(),
                    detail: format!("`{key} = {value}` is not a setting this kernel has"),
                });
            }
        }
        Ok(())
    }

    fn steps(&self, host: &Host) -> Vec<String> {
        let file = host.path(FILE);
        vec![
            "validate: every key is one this kernel has, every value an integer".into(),
            format!(
                "activate (live host only): sysctl -e -q -p {}",
                file.display()
            ),
        ]
    }

    fn activate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        let file = host.path(FILE);
        // -e: a module-provided key absent from this kernel (Yama) is skipped, not fatal.
        host.run_ok("sysctl", &["-e", "-q", "-p", &file.to_string_lossy()])
            .map(drop)
    }

    /// On the machine itself, the running values must match the file: a setting
    /// written but never loaded, or changed at run time, is drift.
    fn observe(&self, host: &Host, baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        if !host.is_live() {
            return Ok(Vec::new());
        }
        let wanted = Self::file(host, baseline)?;
        let mut drift = Vec::new();
        for (key, value) in files::settings(Format::Equals, &wanted.contents) {
            let Ok(running) = std::fs::read_to_string(proc_path(&key)) else {
                continue;
            };
            let running = running.trim();
            let ok = match key.as_str() {
                // "at least 1": 2 and 3 are stricter still.
                "kernel.yama.ptrace_scope" => running.parse::<i64>().is_ok_and(|v| v >= 1),
                _ => running == value,
            };
            if !ok {
                drift.push(Drift::live(
                    &key,
                    Some(&value),
                    Some(running),
                    "the running kernel differs from the file",
                ));
            }
        }
        Ok(drift)
    }
}

/// Keys that exist only when their module is loaded (Yama for ptrace_scope): their
/// absence from this kernel is not an error in the file.
fn optional(key: &str) -> bool {
    key.starts_with("kernel.yama.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{SystemRunner, engine};

    #[test]
    fn forwarding_is_left_to_docker_and_router_advertisements_are_opt_in() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path(), Box::new(SystemRunner));
        let plain = Sysctl::file(&host, &Baseline::default()).unwrap();
        assert!(plain.contents.contains("net.ipv4.ip_forward = 0"));
        assert!(!plain.contents.contains("accept_ra"));

        std::fs::create_dir_all(dir.path().join("etc/docker")).unwrap();
        let baseline = Baseline {
            ipv6_disable_router_advertisements: true,
            ..Baseline::default()
        };
        let with_docker = Sysctl::file(&host, &baseline).unwrap();
        assert!(!with_docker.contents.contains("ip_forward"));
        assert!(
            with_docker
                .contents
                .contains("net.ipv6.conf.all.accept_ra = 0")
        );
    }

    #[test]
    fn apply_then_check_is_clean_and_drift_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path(), Box::new(SystemRunner));
        let baseline = Baseline::default();
        assert_eq!(engine::check(&host, &Sysctl, &baseline).drift.len(), 1);
        let changed = engine::apply(&host, &Sysctl, &baseline).unwrap();
        assert_eq!(changed, vec![format!("/{FILE}")]);
        assert!(engine::check(&host, &Sysctl, &baseline).drift.is_empty());
        assert!(engine::apply(&host, &Sysctl, &baseline).unwrap().is_empty());

        let path = dir.path().join(FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("kptr_restrict = 2", "kptr_restrict = 0"),
        )
        .unwrap();
        let report = engine::check(&host, &Sysctl, &baseline);
        assert_eq!(report.drift.len(), 1);
        assert_eq!(report.drift[0].key.as_deref(), Some("kernel.kptr_restrict"));
    }

    /// The validator refuses a key this kernel lacks; the apply is then undone and the
    /// file the operator had is back, byte for byte.
    #[test]
    fn a_refused_file_is_rolled_back() {
        struct Typo;
        impl Control for Typo {
            fn name(&self) -> &'static str {
                "sysctl"
            }
            fn desired(&self, host: &Host, b: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
                let mut file = Sysctl::file(host, b)?;
                file.contents.push_str("net.ipv4.tcp_syncookiez = 1\n");
                Ok(vec![file])
            }
            fn validate(&self, host: &Host, b: &Baseline) -> Result<(), HostError> {
                Sysctl.validate(host, b)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path(), Box::new(SystemRunner));
        let path = dir.path().join(FILE);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "kernel.kptr_restrict = 1\n").unwrap();
        let err = engine::apply(&host, &Typo, &Baseline::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("tcp_syncookiez"), "{message}");
        assert!(
            message.contains("previous files were restored"),
            "{message}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "kernel.kptr_restrict = 1\n"
        );
    }
}
