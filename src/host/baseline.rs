//! The expected state of the host: `[harden]` in outpost.toml. Every control renders
//! its files from this, so the baseline is stored once, in the config, and what a
//! control wrote can always be compared with it again.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Baseline {
    /// The SSH port: always open in the firewall, whatever else is closed.
    pub ssh_port: u16,
    /// Accounts that may log in over SSH, each with its authorised public keys
    /// (the fleet's and the client's). With none, password login is never turned off.
    pub ssh_users: Vec<SshUser>,
    /// `no`, or `prohibit-password` when the fleet's key is root's.
    pub permit_root_login: String,
    /// Turn off IPv6 router advertisements. Off by default: many VPS providers hand out
    /// IPv6 addresses by SLAAC, which this breaks.
    pub ipv6_disable_router_advertisements: bool,
    /// Reboot after an unattended upgrade that needs it (a new kernel, libc). Off by
    /// default: a client's server should not restart unannounced.
    pub auto_reboot: bool,
    /// When such a reboot happens, `HH:MM` local time (only with `auto_reboot`).
    pub reboot_time: String,
    /// Who gets unattended-upgrades' report when a run goes wrong (`root`, an
    /// address); empty for no mail.
    pub upgrade_mail: String,
    /// Restart PostgreSQL on `--apply` when its files changed: `listen_addresses` only
    /// takes effect on a restart, which drops every connection. Off by default: the
    /// check reports a cluster still listening beyond loopback until it is restarted.
    pub postgres_restart: bool,
    /// Ports the firewall opens besides SSH (`ssh_port`, always), HTTP and HTTPS:
    /// `PORT/tcp`, `PORT/udp` or a range `LOW:HIGH/tcp`. None by default.
    pub firewall_allow: Vec<String>,
    /// Where fail2ban reads Outpost's failed sign-ins: empty for the systemd journal of
    /// `outpost.service` (the default), or the absolute path of a log file.
    pub fail2ban_outpost_log: String,
    /// Addresses or networks fail2ban never bans, besides loopback (the operator's
    /// office, the fleet controller): `203.0.113.7`, `198.51.100.0/24`, `2001:db8::/32`.
    pub fail2ban_ignore: Vec<String>,
    /// Groups whose members may log in over SSH (`AllowGroups`), on top of `ssh_users`:
    /// when set, an account must be listed in `ssh_users` AND be in one of these groups.
    pub ssh_allow_groups: Vec<String>,
    /// The account `outpost serve` runs as: no login shell, home `/var/lib/<name>`.
    pub service_user: String,
    /// The account agent workloads run as, apart from the daemon: no login shell either.
    pub agent_user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshUser {
    pub name: String,
    /// OpenSSH public keys (`ssh-ed25519 AAAA… comment`).
    #[serde(default)]
    pub keys: Vec<String>,
}

impl Default for Baseline {
    fn default() -> Self {
        Self {
            ssh_port: 22,
            ssh_users: Vec::new(),
            permit_root_login: "no".into(),
            ipv6_disable_router_advertisements: false,
            auto_reboot: false,
            reboot_time: "02:00".into(),
            upgrade_mail: String::new(),
            postgres_restart: false,
            firewall_allow: Vec::new(),
            fail2ban_outpost_log: String::new(),
            fail2ban_ignore: Vec::new(),
            ssh_allow_groups: Vec::new(),
            service_user: "outpost".into(),
            agent_user: "outpost-agent".into(),
        }
    }
}
