//! A client's address as the per-client limits count it.
//!
//! An IPv6 user is usually handed a whole /64 and can pick any address in it, so a limit keyed by
//! the exact address is no limit at all: IPv6 addresses are grouped by their /64 network. IPv4
//! addresses (and IPv4 mapped into IPv6) count one by one. Masking 64 bits is one line of integer
//! arithmetic, so no CIDR crate is needed here.

use std::net::{IpAddr, Ipv6Addr};

/// The network a limit counts `ip` in: IPv4 as it is, IPv6 by its /64 (`2001:db8:1:2::`).
pub fn client_net(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        },
    }
}

/// [`client_net`] of an address in text, as stored with what a client did (`2001:db8:1:2::/64`,
/// `203.0.113.7`); text that is no address is kept as it is, cut to 64 characters.
pub fn client_key(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(client_net) {
        Ok(IpAddr::V6(net)) => format!("{net}/64"),
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.chars().take(64).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_of_one_64_share_a_key() {
        assert_eq!(
            client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            client_key("2001:db8:1:2::1")
        );
        assert_eq!(client_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_ne!(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
    }

    #[test]
    fn ipv4_counts_address_by_address_also_when_mapped() {
        assert_eq!(client_key("203.0.113.7"), "203.0.113.7");
        assert_ne!(client_key("203.0.113.7"), client_key("203.0.113.8"));
        assert_eq!(client_key("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn text_that_is_no_address_is_kept_cut() {
        assert_eq!(client_key("unknown"), "unknown");
        assert_eq!(client_key(&"x".repeat(100)).len(), 64);
    }
}
