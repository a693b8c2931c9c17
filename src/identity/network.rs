//! The network an address belongs to, as far as habits go: people and scripts move
//! between the addresses of one provider's block, seldom between providers.

use std::net::{IpAddr, Ipv6Addr};

/// The /24 of an IPv4 address (an IPv4-mapped IPv6 one included), or the first
/// `v6_prefix` bits of an IPv6 one, as CIDR text; nothing for text that is no address.
pub fn of(ip: &str, v6_prefix: u8) -> Option<String> {
    let ip = match ip.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    Some(match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let prefix = v6_prefix.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            format!("{}/{prefix}", Ipv6Addr::from(u128::from(v6) & mask))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::of;

    #[test]
    fn networks_are_a_slash_24_or_the_asked_ipv6_prefix() {
        assert_eq!(of("203.0.113.77", 48).as_deref(), Some("203.0.113.0/24"));
        assert_eq!(
            of("::ffff:203.0.113.77", 64).as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            of("2001:db8:1:2::5", 48).as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(
            of("2001:db8:1:2:3::5", 64).as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(of("2001:db8::1", 0).as_deref(), Some("::/0"));
        assert_eq!(of("not an address", 64), None);
    }
}
