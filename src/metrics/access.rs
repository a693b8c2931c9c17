//! Who may scrape `/metrics` without an API key: a process on this server (a local
//! Prometheus or node agent) talking to it directly. Anyone else presents a key with
//! `metrics.view`.

use std::net::IpAddr;

/// Whether a request from `peer` may scrape without credentials. `relayed` is whether
/// it carries a proxy's forwarding header (`Forwarded`, `X-Forwarded-For`): a reverse
/// proxy on this server connects from loopback on behalf of someone elsewhere, so its
/// requests must not inherit the loopback exemption.
pub fn loopback_exempt(peer: Option<IpAddr>, relayed: bool) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    let local = match peer {
        IpAddr::V4(v4) => v4.is_loopback(),
        // `::ffff:127.0.0.1` is IPv4 loopback reaching a dual-stack socket.
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    local && !relayed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn only_direct_loopback_peers_are_exempt() {
        for local in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(loopback_exempt(ip(local), false), "{local}");
            assert!(!loopback_exempt(ip(local), true), "{local} relayed");
        }
        for remote in [
            "10.0.0.5",
            "192.168.1.1",
            "203.0.113.7",
            "0.0.0.0",
            "::",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "fe80::1",
        ] {
            assert!(!loopback_exempt(ip(remote), false), "{remote}");
        }
        // A peer actix could not name (a unix socket, a test request) is not local.
        assert!(!loopback_exempt(None, false));
    }
}
