//! The entries of `server.trusted_proxies`: IPv4 and IPv6 networks, parsed and checked at start
//! into [`IpNet`], the type the web layer matches client addresses with
//! (`nidan_web::extract::is_trusted_proxy`).
//!
//! Why the `ipnet` crate: prefix arithmetic (masks, families, containment) is easy to get subtly
//! wrong by hand, and `ipnet` is the network type the HTTP stack already builds (hyper-util
//! depends on it), so config and web layer share one tested implementation at no extra build
//! cost. What stays here is what its parser does not say: which part of an entry is wrong, a
//! plain address taken as a network of one (`/32` or `/128`), and bits set below the prefix
//! refused as a likely typo.

use std::net::IpAddr;

use ipnet::IpNet;

/// Why a text is not a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    #[error("`{0}` is not an IP address or CIDR network like 10.0.0.0/8 or fd00::/8")]
    BadAddress(String),
    /// The part after `/` is not a number within the address family's width.
    #[error("`{text}` has a bad prefix length: it must be a number from 0 to {max}")]
    BadPrefix {
        /// The whole entry as written.
        text: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// Bits are set below the prefix, which usually means a typo (`10.0.0.1/8`).
    #[error("`{text}` has bits set below the prefix; did you mean {network}?")]
    HostBits {
        /// The whole entry as written.
        text: String,
        /// The network the entry most likely meant.
        network: IpNet,
    },
}

/// An IPv4 or IPv6 network such as `10.0.0.0/8` or `fd00::/8`; a plain address is a network of
/// one. Bits below the prefix must be zero.
pub fn parse_network(text: &str) -> Result<IpNet, CidrError> {
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| CidrError::BadAddress(text.to_owned()))?;
    let host = IpNet::from(addr);
    let Some(prefix_text) = prefix_text else {
        return Ok(host);
    };
    let max = host.max_prefix_len();
    let bad_prefix = || CidrError::BadPrefix {
        text: text.to_owned(),
        max,
    };
    if prefix_text.is_empty() || !prefix_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_prefix());
    }
    let prefix_len = prefix_text.parse::<u8>().map_err(|_| bad_prefix())?;
    let net = IpNet::new(addr, prefix_len).map_err(|_| bad_prefix())?;
    if net.network() != addr {
        return Err(CidrError::HostBits {
            text: text.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_plain_addresses() {
        let n = parse_network("10.0.0.0/8").unwrap();
        assert_eq!((n.addr(), n.prefix_len()), (ip("10.0.0.0"), 8));
        let one = parse_network("192.0.2.7").unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        let v6 = parse_network("fd00::/8").unwrap();
        assert_eq!(v6.to_string(), "fd00::/8");
        assert_eq!(parse_network("::1").unwrap().prefix_len(), 128);
        assert_eq!(parse_network("0.0.0.0/0").unwrap().prefix_len(), 0);
    }

    #[test]
    fn refuses_bad_entries() {
        assert!(matches!(
            parse_network("nope"),
            Err(CidrError::BadAddress(_))
        ));
        assert!(matches!(
            parse_network("10.0.0.0/33"),
            Err(CidrError::BadPrefix { max: 32, .. })
        ));
        assert!(matches!(
            parse_network("10.0.0.0/"),
            Err(CidrError::BadPrefix { .. })
        ));
        assert!(matches!(
            parse_network("10.0.0.0/+8"),
            Err(CidrError::BadPrefix { .. })
        ));
        assert!(matches!(
            parse_network("10.0.0.0/300"),
            Err(CidrError::BadPrefix { max: 32, .. })
        ));
        assert!(matches!(
            parse_network("::/129"),
            Err(CidrError::BadPrefix { max: 128, .. })
        ));
        let err = parse_network("10.0.0.1/8").unwrap_err();
        assert!(err.to_string().contains("did you mean 10.0.0.0/8"), "{err}");
        let err = parse_network("fd00::1/8").unwrap_err();
        assert!(err.to_string().contains("did you mean fd00::/8"), "{err}");
    }
}
