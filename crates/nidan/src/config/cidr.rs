//! A tiny CIDR type for `server.trusted_proxies`: an IP network (address + prefix length), parsed
//! and checked at start. Whether an address belongs to one is decided in one place, the web layer
//! (`nidan_web::extract::is_trusted_proxy`), which receives these networks as pairs.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network such as `10.0.0.0/8` or `fd00::/8`; a plain address is a network of
/// one (`/32` or `/128`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpCidr {
    addr: IpAddr,
    prefix_len: u8,
}

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
        network: IpCidr,
    },
}

impl IpCidr {
    /// A network from its address and prefix length; bits below the prefix must be zero.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, CidrError> {
        let text = format!("{addr}/{prefix_len}");
        let max = max_prefix(addr);
        if prefix_len > max {
            return Err(CidrError::BadPrefix { text, max });
        }
        let network = Self {
            addr: mask(addr, prefix_len),
            prefix_len,
        };
        if network.addr != addr {
            return Err(CidrError::HostBits { text, network });
        }
        Ok(network)
    }

    /// The network address (all bits below the prefix are zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// How many leading bits of an address must match.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `addr` with every bit below `prefix_len` cleared (`prefix_len` is at most the family width).
fn mask(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX
                .checked_shl(32 - u32::from(prefix_len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX
                .checked_shl(128 - u32::from(prefix_len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & kept))
        }
    }
}

impl FromStr for IpCidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| CidrError::BadAddress(text.to_owned()))?;
        let max = max_prefix(addr);
        let prefix_len = match prefix_text {
            None => max,
            Some(p) => {
                let ok = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
                match p.parse::<u8>() {
                    Ok(n) if ok && n <= max => n,
                    _ => {
                        return Err(CidrError::BadPrefix {
                            text: text.to_owned(),
                            max,
                        });
                    }
                }
            }
        };
        Self::new(addr, prefix_len).map_err(|e| match e {
            CidrError::HostBits { network, .. } => CidrError::HostBits {
                text: text.to_owned(),
                network,
            },
            other => other,
        })
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl fmt::Debug for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
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
        let n: IpCidr = "10.0.0.0/8".parse().unwrap();
        assert_eq!((n.addr(), n.prefix_len()), (ip("10.0.0.0"), 8));
        let one: IpCidr = "192.0.2.7".parse().unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        let v6: IpCidr = "fd00::/8".parse().unwrap();
        assert_eq!(v6.to_string(), "fd00::/8");
        assert_eq!("::1".parse::<IpCidr>().unwrap().prefix_len(), 128);
        assert_eq!("0.0.0.0/0".parse::<IpCidr>().unwrap().prefix_len(), 0);
    }

    #[test]
    fn refuses_bad_entries() {
        assert!(matches!(
            "nope".parse::<IpCidr>(),
            Err(CidrError::BadAddress(_))
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<IpCidr>(),
            Err(CidrError::BadPrefix { max: 32, .. })
        ));
        assert!(matches!(
            "10.0.0.0/".parse::<IpCidr>(),
            Err(CidrError::BadPrefix { .. })
        ));
        assert!(matches!(
            "10.0.0.0/+8".parse::<IpCidr>(),
            Err(CidrError::BadPrefix { .. })
        ));
        assert!(matches!(
            "::/129".parse::<IpCidr>(),
            Err(CidrError::BadPrefix { max: 128, .. })
        ));
        let err = "10.0.0.1/8".parse::<IpCidr>().unwrap_err();
        assert!(err.to_string().contains("did you mean 10.0.0.0/8"), "{err}");
    }
}
