//! Who listens on a public address: TCP and UDP sockets from the kernel's tables
//! (`/proc/net/tcp`, `tcp6`, `udp`, `udp6`), and ports Docker publishes, which reach
//! containers through Docker's own iptables chains without passing UFW.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::path::Path;

use super::ufw_rules::Proto;

/// A socket bound for incoming traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub proto: Proto,
    pub address: IpAddr,
    pub port: u16,
    /// The socket's inode, which names it in `/proc/PID/fd`.
    pub inode: u64,
}

impl Listener {
    /// Reachable from outside: anything but loopback (the wildcard included).
    pub fn is_public(&self) -> bool {
        let mapped = match self.address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            v4 => Some(v4),
        };
        !self.address.is_loopback() && !mapped.is_some_and(|a| a.is_loopback())
    }
}

/// TCP state LISTEN, and UDP state CLOSE (a bound socket not connected anywhere), as
/// the kernel numbers them in `include/net/tcp_states.h`.
const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// The listeners in one of the kernel's socket tables: `table` is the text of
/// `/proc/net/{tcp,tcp6,udp,udp6}`, whose addresses are hex in the kernel's byte order.
pub fn parse(table: &str, proto: Proto) -> Vec<Listener> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state, inode) = (
                fields.get(1)?,
                fields.get(2)?,
                fields.get(3)?,
                fields.get(9)?,
            );
            let listening = match proto {
                Proto::Tcp => *state == TCP_LISTEN,
                Proto::Udp => *state == UDP_UNCONNECTED && remote.ends_with(":0000"),
            };
            if !listening {
                return None;
            }
            let (address, port) = local.split_once(':')?;
            Some(Listener {
                proto,
                address: parse_address(address)?,
                port: u16::from_str_radix(port, 16).ok()?,
                inode: inode.parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F` → 127.0.0.1; 32 hex digits → an IPv6 address. Each 32-bit word is
/// printed as a native-endian integer.
fn parse_address(hex: &str) -> Option<IpAddr> {
    let word = |chunk: &str| u32::from_str_radix(chunk, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, out) in bytes.chunks_mut(4).enumerate() {
                out.copy_from_slice(&word(hex.get(i * 8..i * 8 + 8)?)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// Every listener in a `/proc/net`-style directory (`/proc/net` for this process's
/// network namespace, `/proc/PID/net` for another's).
pub fn read(net_dir: &Path) -> std::io::Result<Vec<Listener>> {
    let mut all = Vec::new();
    for (file, proto) in [
        ("tcp", Proto::Tcp),
        ("tcp6", Proto::Tcp),
        ("udp", Proto::Udp),
        ("udp6", Proto::Udp),
    ] {
        match fs::read_to_string(net_dir.join(file)) {
            Ok(text) => all.extend(parse(&text, proto)),
            // No IPv6 in this kernel: no tcp6/udp6 table.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(all)
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`).
pub fn ephemeral_ports() -> RangeInclusive<u16> {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some(parts.next()??..=parts.next()??)
        })
        .unwrap_or(32768..=60999)
}

/// The command name of the process holding each socket inode, from `/proc/PID/fd`.
pub fn owners() -> HashMap<u64, String> {
    let mut owners = HashMap::new();
    let Ok(processes) = fs::read_dir("/proc") else {
        return owners;
    };
    for process in processes.flatten() {
        let pid = process.path();
        let Ok(fds) = fs::read_dir(pid.join("fd")) else {
            continue;
        };
        let name = fs::read_to_string(pid.join("comm"))
            .map(|c| c.trim().to_owned())
            .unwrap_or_default();
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let inode = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok());
            if let Some(inode) = inode {
                owners.entry(inode).or_insert_with(|| name.clone());
            }
        }
    }
    owners
}

/// Public listeners on a port nothing lets in, one entry per port: `(port/proto,
/// addresses, owners)`. `allowed` says whether the firewall lets a port in. An
/// unconnected UDP socket on an ephemeral port is a client waiting for replies (a DNS
/// lookup), not a service, and comes and goes between two checks: it is left out.
pub fn exposed(
    listeners: &[Listener],
    allowed: impl Fn(u16, Proto) -> bool,
    ephemeral: &RangeInclusive<u16>,
    owners: &HashMap<u64, String>,
) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut ports: BTreeMap<(Proto, u16), (Vec<String>, Vec<String>)> = BTreeMap::new();
    for listener in listeners {
        if !listener.is_public()
            || allowed(listener.port, listener.proto)
            || (listener.proto == Proto::Udp && ephemeral.contains(&listener.port))
        {
            continue;
        }
        let (addresses, names) = ports.entry((listener.proto, listener.port)).or_default();
        let address = listener.address.to_string();
        if !addresses.contains(&address) {
            addresses.push(address);
        }
        if let Some(name) = owners.get(&listener.inode)
            && !names.contains(name)
        {
            names.push(name.clone());
        }
    }
    ports
        .into_iter()
        .map(|((proto, port), (addresses, names))| {
            (format!("{port}/{}", proto.as_str()), addresses, names)
        })
        .collect()
}

/// A port a container publishes on a public address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub container: String,
    /// As Docker shows it: `0.0.0.0:8080->80/tcp`.
    pub mapping: String,
    pub low: u16,
    pub high: u16,
    pub proto: Proto,
}

/// The published ports in `docker ps --format '{{.Names}}\t{{.Ports}}'` output
/// (`web\t0.0.0.0:8080->80/tcp, :::8080->80/tcp, 443/tcp`), leaving out ports bound
/// to loopback and ports only exposed (no `->`).
pub fn parse_docker_ps(text: &str) -> Vec<Published> {
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((container, ports)) = line.split_once('\t') else {
            continue;
        };
        for mapping in ports.split(',').map(str::trim) {
            let Some((host, target)) = mapping.split_once("->") else {
                continue;
            };
            let proto = match target.rsplit_once('/').map(|(_, p)| p) {
                Some("udp") => Proto::Udp,
                Some("tcp") => Proto::Tcp,
                _ => continue,
            };
            let Some((address, ports)) = host.rsplit_once(':') else {
                continue;
            };
            let address = address.trim_start_matches('[').trim_end_matches(']');
            let loopback = match address {
                "" | "::" => false,
                a => a.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
            };
            let (low, high) = ports.split_once('-').unwrap_or((ports, ports));
            let (Ok(low), Ok(high)) = (low.parse(), high.parse()) else {
                continue;
            };
            if !loopback {
                found.push(Published {
                    container: container.to_owned(),
                    mapping: mapping.to_owned(),
                    low,
                    high,
                    proto,
                });
            }
        }
    }
    found
}

#[cfg(test)]
#[path = "listeners_tests.rs"]
mod tests;
