//! The SSH daemon: a drop-in under /etc/ssh/sshd_config.d (key-only logins, no
//! forwarding, modern algorithms, the accounts allowed), the authorised keys from
//! `[harden].ssh_users`, DH moduli of at least 3072 bits, and checks of what sshd will
//! really use (`sshd -T`) and of the host's own keys.
//!
//! Never locks the operator out: an apply that turns password login off is refused
//! unless some account that can log in has a valid key in the baseline.

mod config;
mod effective;
mod keys;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use askama::Template;

pub use config::{Flattened, flatten};
pub use effective::differences;
pub use keys::{PublicKey, inspect};

use super::accounts::{self, Accounts};
use super::files::{self, Format, ManagedFile};
use super::{Baseline, Control, Drift, Host, HostError};

pub const DROPIN: &str = "etc/ssh/sshd_config.d/10-outpost-hardening.conf";
pub const MAIN: &str = "etc/ssh/sshd_config";
pub const MODULI: &str = "etc/ssh/moduli";
pub const KEYS_DIR: &str = "etc/ssh/authorized_keys";
/// The moduli file's size column is the bit length minus one: 3071 is a 3072-bit group.
const MIN_MODULUS_SIZE: u32 = 3071;

#[derive(Template)]
#[template(path = "host/sshd_hardening.conf", escape = "none")]
struct DropIn<'a> {
    port: u16,
    permit_root_login: &'a str,
    allow_users: Vec<&'a str>,
    allow_groups: &'a [String],
    required_rsa_size: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Sshd;

impl Sshd {
    /// The drop-in the baseline asks for. `RequiredRSASize` only where this sshd knows
    /// it (OpenSSH 9.1 and later): an unknown keyword would stop sshd from starting.
    pub fn dropin(host: &Host, baseline: &Baseline) -> Result<ManagedFile, HostError> {
        check_baseline(baseline)?;
        let contents = DropIn {
            port: baseline.ssh_port,
            permit_root_login: &baseline.permit_root_login,
            allow_users: baseline.ssh_users.iter().map(|u| u.name.as_str()).collect(),
            allow_groups: &baseline.ssh_allow_groups,
            required_rsa_size: config::knows(host, "requiredrsasize"),
        }
        .render()
        .map_err(|e| HostError::Io(format!("rendering the sshd drop-in: {e}")))?
            + "\n";
        Ok(ManagedFile {
            path: DROPIN.into(),
            contents,
            mode: 0o644,
            format: Format::Keyword,
        })
    }
}

/// Values that would make sshd refuse the file or weaken it, refused before anything
/// is written.
fn check_baseline(baseline: &Baseline) -> Result<(), HostError> {
    let refuse = |why: String| Err(HostError::Refused(format!("[harden].{why}")));
    if !matches!(
        baseline.permit_root_login.as_str(),
        "no" | "prohibit-password"
    ) {
        return refuse(format!(
            "permit_root_login must be \"no\" or \"prohibit-password\", not {:?}",
            baseline.permit_root_login
        ));
    }
    if baseline.ssh_port == 0 {
        return refuse("ssh_port must not be 0".into());
    }
    for name in baseline.ssh_users.iter().map(|u| &u.name) {
        if !valid_name(name) {
            return refuse(format!("ssh_users: {name:?} is not an account name"));
        }
    }
    for name in &baseline.ssh_allow_groups {
        if !valid_name(name) {
            return refuse(format!("ssh_allow_groups: {name:?} is not a group name"));
        }
    }
    Ok(())
}

/// A POSIX-portable account name: it goes into sshd_config and into a file name.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c))
}

/// The moduli file without the groups under 3072 bits, from the one under the root;
/// none when there is none to start from (sshd then uses its built-in groups).
fn moduli(host: &Host) -> Result<Option<ManagedFile>, HostError> {
    let Some(current) = files::read(host, Path::new(MODULI))? else {
        return Ok(None);
    };
    let contents: String = current
        .contents
        .lines()
        .filter(|line| {
            let line = line.trim();
            line.is_empty()
                || line.starts_with('#')
                || line
                    .split_whitespace()
                    .nth(4)
                    .and_then(|size| size.parse::<u32>().ok())
                    .is_some_and(|size| size >= MIN_MODULUS_SIZE)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    Ok(Some(ManagedFile {
        path: MODULI.into(),
        contents,
        mode: 0o644,
        format: Format::Whole,
    }))
}

impl Control for Sshd {
    fn name(&self) -> &'static str {
        "sshd"
    }

    fn desired(&self, host: &Host, baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        let mut wanted = vec![Self::dropin(host, baseline)?];
        wanted.extend(keys::files(&keys::authorised(host, baseline)?));
        wanted.extend(moduli(host)?);
        Ok(wanted)
    }

    /// Refuses to turn password login off unless one account can still get in: listed
    /// in the baseline with a valid key, present on the host with a login shell, and
    /// not shut out by permit_root_login or ssh_allow_groups.
    fn preflight(&self, host: &Host, baseline: &Baseline) -> Result<(), HostError> {
        check_baseline(baseline)?;
        let users = keys::authorised(host, baseline)?;
        let accounts = Accounts::read(host)?;
        let mut why_not = Vec::new();
        for (name, keys) in &users {
            let account = accounts.user(name);
            let reason = if keys.is_empty() {
                "has no key"
            } else if account.is_none() {
                "has no account on this host"
            } else if account.is_some_and(|a| !accounts::is_login_shell(&a.shell)) {
                "has no login shell"
            } else if name == "root" && baseline.permit_root_login == "no" {
                "is root, and permit_root_login is \"no\""
            } else if !baseline.ssh_allow_groups.is_empty()
                && !baseline
                    .ssh_allow_groups
                    .iter()
                    .any(|g| accounts.in_group(name, g))
            {
                "is in none of ssh_allow_groups"
            } else {
                return Ok(());
            };
            why_not.push(format!("`{name}` {reason}"));
        }
        if why_not.is_empty() {
            why_not.push("[harden].ssh_users is empty".into());
        }
        Err(HostError::Refused(format!(
            "turning SSH password login off would lock everyone out: no account in [harden].ssh_users \
             can log in with a key ({}); add your public key there first",
            why_not.join("; ")
        )))
    }

    /// `sshd -t` on the configuration as written (on a scratch root, a copy with its
    /// paths moved under the root: see `config`).
    fn validate(&self, host: &Host, _baseline: &Baseline) -> Result<(), HostError> {
        let out = config::sshd(host, "-t")?;
        if out.success {
            Ok(())
        } else {
            Err(HostError::Invalid {
                tool: "sshd -t".into(),
                detail: out.detail(),
            })
        }
    }

    /// Reloads sshd (existing sessions stay up). `try-reload-or-restart` leaves a
    /// stopped or socket-activated sshd alone, which reads the files when it starts.
    fn activate(&self, host: &Host, baseline: &Baseline) -> Result<(), HostError> {
        self.validate(host, baseline)?;
        let systemd = host.run("systemctl", &["try-reload-or-restart", "ssh.service"]);
        if systemd.as_ref().is_ok_and(|o| o.success) {
            // Ubuntu 24.04 listens through ssh.socket, generated from sshd_config's
            // Port: regenerate it so a new port is listened on.
            if host
                .run("systemctl", &["is-active", "--quiet", "ssh.socket"])
                .is_ok_and(|o| o.success)
            {
                host.run_ok("systemctl", &["daemon-reload"])?;
                host.run_ok("systemctl", &["restart", "ssh.socket"])?;
            }
            return Ok(());
        }
        host.run_ok("service", &["ssh", "reload"]).map(drop)
    }

    fn steps(&self, host: &Host) -> Vec<String> {
        let main = host.path(MAIN);
        vec![
            if host.is_live() {
                format!("validate: sshd -t -f {}", main.display())
            } else {
                format!(
                    "validate: sshd -t on {} with its Includes and paths under {}",
                    main.display(),
                    host.root().display()
                )
            },
            "activate (live host only): sshd -t, then systemctl try-reload-or-restart ssh.service \
             (or service ssh reload)"
                .into(),
        ]
    }

    /// Beyond the files: that the main file reads the drop-in, that nothing read before
    /// it overrides it (`sshd -T`), the host keys, and keys the baseline does not list.
    fn observe(&self, host: &Host, baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        let mut found = Vec::new();
        let flat = config::flatten(host)?;
        let dropin_path = Path::new("/").join(DROPIN);
        if !flat.main_found {
            found.push(Drift::file(
                MAIN,
                "file is missing: sshd reads the drop-in through its Include",
            ));
        } else if !flat.included.contains(&dropin_path) {
            found.push(Drift::file(
                MAIN,
                "does not include /etc/ssh/sshd_config.d/*.conf, so sshd never reads the hardening \
                 drop-in: add `Include /etc/ssh/sshd_config.d/*.conf` as its first line",
            ));
        }
        let wanted = Self::dropin(host, baseline)?;
        let current = files::read(host, Path::new(DROPIN))?;
        if let Some(current) = &current
            && current.contents != wanted.contents
            && files::drift(&wanted, Some(current)).is_empty()
        {
            // A repeated keyword (the second HostKey) changed: the key-level comparison
            // only sees first occurrences.
            found.push(Drift::file(DROPIN, "contents differ from the baseline"));
        }
        // Only when the drop-in itself is as wanted and read: then any difference in
        // sshd's effective settings comes from elsewhere.
        if current.is_some_and(|c| c.contents == wanted.contents)
            && flat.included.contains(&dropin_path)
        {
            let dump = config::sshd(host, "-T")?;
            if !dump.success {
                return Err(HostError::Command {
                    command: "sshd -T".into(),
                    detail: dump.detail(),
                });
            }
            found.extend(effective::differences(host, &wanted.contents, &dump.stdout));
        }
        found.extend(effective::in_match_blocks(&flat.text, &wanted.contents));
        found.extend(keys::host_keys(host)?);
        found.extend(keys::unlisted(host, baseline, &Accounts::read(host)?)?);
        if let Ok(meta) = std::fs::metadata(host.path(KEYS_DIR))
            && meta.permissions().mode() & 0o7777 != 0o755
        {
            found.push(Drift::setting(
                KEYS_DIR,
                "mode",
                Some("0755"),
                Some(&format!("{:04o}", meta.permissions().mode() & 0o7777)),
            ));
        }
        Ok(found)
    }

    /// sshd ignores authorised keys in a directory others can write to (StrictModes):
    /// the keys directory must be exactly 0755.
    fn converge(
        &self,
        host: &Host,
        _baseline: &Baseline,
        dry_run: bool,
    ) -> Result<Vec<String>, HostError> {
        let dir = host.path(KEYS_DIR);
        match std::fs::metadata(&dir) {
            Ok(meta) if meta.permissions().mode() & 0o7777 != 0o755 => {
                if !dry_run {
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
                        .map_err(|e| HostError::io(dir.display(), e))?;
                }
                Ok(vec![format!("chmod 0755 /{KEYS_DIR}")])
            }
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SystemRunner;

    #[test]
    fn moduli_keep_only_groups_of_3072_bits_and_more() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path(), Box::new(SystemRunner));
        assert!(moduli(&host).unwrap().is_none());
        std::fs::create_dir_all(dir.path().join("etc/ssh")).unwrap();
        std::fs::write(
            dir.path().join(MODULI),
            "# header\n20230101 2 6 100 2047 2 AB\n20230101 2 6 100 3071 2 CD\n20230101 2 6 100 8191 5 EF\n",
        )
        .unwrap();
        let filtered = moduli(&host).unwrap().unwrap();
        assert_eq!(
            filtered.contents,
            "# header\n20230101 2 6 100 3071 2 CD\n20230101 2 6 100 8191 5 EF\n"
        );
    }

    #[test]
    fn names_and_root_login_values_are_checked_before_anything_is_written() {
        let mut baseline = Baseline::default();
        assert!(check_baseline(&baseline).is_ok());
        baseline.permit_root_login = "yes".into();
        assert!(
            check_baseline(&baseline)
                .unwrap_err()
                .to_string()
                .contains("permit_root_login")
        );
        baseline.permit_root_login = "prohibit-password".into();
        baseline.ssh_allow_groups = vec!["ops staff".into()];
        assert!(check_baseline(&baseline).is_err());
        assert!(valid_name("outpost-agent") && valid_name("_svc") && !valid_name("../x"));
    }
}
