//! The `[scan]` section: when the security loop runs and what its checks look at.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::human_duration;

/// DNS servers listen here unless an address names another port.
const DNS_PORT: u16 = 53;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanSettings {
    /// Cron with seconds, UTC; blank disables the nightly scan.
    pub nightly: String,
    /// More Owners than this is a finding.
    pub max_owners: u32,
    /// API keys and accounts unused this long are dormant.
    #[serde(with = "human_duration")]
    pub dormant_after: Duration,
    /// Revoke dormant API keys as the remedy (audited), rather than only report them.
    pub revoke_dormant_keys: bool,
    /// Ask the root timer to re-apply a drifted hardening control (outpost-harden-queue).
    pub reapply_drift: bool,
    /// Tighten Outpost's own secret files and directories to owner-only when they are
    /// found readable by others (the files the running user owns).
    pub tighten_file_modes: bool,
    /// Directories of the client's documents searched for leaked secrets.
    pub document_directories: Vec<PathBuf>,
    /// Log files searched for leaked secrets (Outpost's own, and any others).
    pub log_files: Vec<PathBuf>,
    /// Also search the systemd journal of outpost.service (`journalctl`).
    pub journal: bool,
    /// Where agents' skills are installed: each subdirectory is one skill, with its
    /// install manifest (`SHA256SUMS`).
    pub skill_directories: Vec<PathBuf>,
    /// Agents' memory: directories searched (or single files read) for injected
    /// instructions, hidden text and exfiltration links.
    pub memory_directories: Vec<PathBuf>,
    /// A change under a skill directory scans once nothing more changed for this long
    /// (an install writes many files; one scan covers them all).
    #[serde(with = "human_duration")]
    pub skill_change_quiet: Duration,
    /// The domain whose CAA, SPF and DMARC records are checked; blank: the host of
    /// `public_url`.
    pub domain: String,
    /// The DNS server asked (`address` or `address:port`); blank: the system's, from
    /// /etc/resolv.conf.
    pub dns_resolver: String,
    /// PEM certificates the TLS checks (and the HTTPS probes) trust besides the
    /// system's roots: a private CA's, for a dashboard whose certificate it issued.
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for ScanSettings {
    fn default() -> Self {
        Self {
            nightly: "0 15 3 * * *".into(),
            max_owners: 2,
            dormant_after: Duration::from_secs(90 * 86_400),
            revoke_dormant_keys: false,
            reapply_drift: true,
            tighten_file_modes: true,
            document_directories: Vec::new(),
            log_files: Vec::new(),
            journal: true,
            skill_directories: Vec::new(),
            memory_directories: Vec::new(),
            skill_change_quiet: Duration::from_secs(30),
            domain: String::new(),
            dns_resolver: String::new(),
            tls_ca_file: None,
        }
    }
}

impl ScanSettings {
    /// One line naming the bad key, or nothing.
    pub fn problem(&self) -> Option<(String, String)> {
        if !self.nightly.trim().is_empty()
            && let Err(e) = crate::backup::schedule::parse(&self.nightly)
        {
            return Some(("scan.nightly".into(), e));
        }
        if self.max_owners == 0 {
            return Some(("scan.max_owners".into(), "must be at least 1".into()));
        }
        for (key, paths) in [
            ("scan.skill_directories", &self.skill_directories),
            ("scan.memory_directories", &self.memory_directories),
        ] {
            // The service's working directory is nobody's choice: a relative path
            // would search somewhere no one meant.
            if let Some(path) = paths.iter().find(|p| !p.is_absolute()) {
                return Some((
                    key.into(),
                    format!("`{}` is not an absolute path", path.display()),
                ));
            }
        }
        if self.skill_change_quiet.is_zero() {
            return Some((
                "scan.skill_change_quiet".into(),
                "must be longer than zero".into(),
            ));
        }
        if !self.domain.trim().is_empty() && !is_domain_name(self.domain.trim()) {
            return Some((
                "scan.domain".into(),
                format!(
                    "`{}` is not a domain name like example.com",
                    self.domain.trim()
                ),
            ));
        }
        if let Err(e) = self.resolver() {
            return Some(("scan.dns_resolver".into(), e));
        }
        None
    }

    /// The DNS server to ask, or none for the system's.
    pub fn resolver(&self) -> Result<Option<SocketAddr>, String> {
        let text = self.dns_resolver.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if let Ok(address) = text.parse::<SocketAddr>() {
            return Ok(Some(address));
        }
        text.parse::<IpAddr>()
            .map(|ip| Some(SocketAddr::new(ip, DNS_PORT)))
            .map_err(|_| {
                format!("`{text}` is not an IP address, or an address and port like 127.0.0.1:53")
            })
    }
}

/// A name with at least two labels of letters, digits and inner hyphens (an IP
/// address has no record of its own to check).
pub fn is_domain_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && name.parse::<IpAddr>().is_err()
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(change: impl FnOnce(&mut ScanSettings)) -> Option<String> {
        let mut settings = ScanSettings::default();
        change(&mut settings);
        settings.problem().map(|(key, why)| format!("{key}: {why}"))
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(problem(|_| {}), None);
    }

    #[test]
    fn bad_values_name_their_key() {
        let relative = problem(|s| s.skill_directories = vec!["skills".into()]);
        assert_eq!(
            relative.as_deref(),
            Some("scan.skill_directories: `skills` is not an absolute path")
        );
        let memory = problem(|s| s.memory_directories = vec!["/ok".into(), "notes".into()]);
        assert!(memory.unwrap().starts_with("scan.memory_directories:"));
        let domain = problem(|s| s.domain = "acme..example".into());
        assert!(domain.unwrap().starts_with("scan.domain:"));
        let ip = problem(|s| s.domain = "192.0.2.1".into());
        assert!(ip.unwrap().starts_with("scan.domain:"));
        let resolver = problem(|s| s.dns_resolver = "dns.example:53".into());
        assert!(resolver.unwrap().starts_with("scan.dns_resolver:"));
        let quiet = problem(|s| s.skill_change_quiet = Duration::ZERO);
        assert!(quiet.unwrap().starts_with("scan.skill_change_quiet:"));
    }

    #[test]
    fn a_resolver_may_omit_the_port() {
        let resolver = |text: &str| {
            ScanSettings {
                dns_resolver: text.into(),
                ..ScanSettings::default()
            }
            .resolver()
        };
        assert_eq!(resolver(""), Ok(None));
        assert_eq!(
            resolver("192.0.2.53"),
            Ok(Some("192.0.2.53:53".parse().unwrap()))
        );
        assert_eq!(
            resolver("[::1]:5353"),
            Ok(Some("[::1]:5353".parse().unwrap()))
        );
        assert_eq!(resolver("::1"), Ok(Some("[::1]:53".parse().unwrap())));
    }

    #[test]
    fn domain_names() {
        for good in ["example.com", "mail.acme-corp.example", "acme.example."] {
            assert!(is_domain_name(good), "{good}");
        }
        for bad in [
            "localhost",
            "-a.example",
            "a_b.example",
            "10.0.0.1",
            "",
            "a..b",
        ] {
            assert!(!is_domain_name(bad), "{bad}");
        }
    }
}
