//! IPv4 prefixes (`10.42.0.0/16`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network: an address and a prefix length, the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// The network `addr/prefix_len`; `None` when the prefix is over 32 or host bits are set.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        if prefix_len > 32 || u32::from(addr) & !mask(prefix_len) != 0 {
            return None;
        }
        Some(Ipv4Cidr {
            network: addr,
            prefix_len,
        })
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `addr` lies inside.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix_len) == u32::from(self.network)
    }

    /// Whether `other` lies wholly inside.
    pub fn contains_net(&self, other: &Ipv4Cidr) -> bool {
        other.prefix_len >= self.prefix_len && self.contains(other.network)
    }

    /// The `n`th address of the network (`n = 1` is the usual gateway); `None` past its end.
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix_len));
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(self.network) + n))
    }
}

fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// Why a string is not an IPv4 network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an IPv4 network (a.b.c.d/len with the host bits zero)")]
pub struct ParseCidrError {
    input: String,
}

impl FromStr for Ipv4Cidr {
    type Err = ParseCidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseCidrError {
            input: s.to_string(),
        };
        let (addr, len) = s.split_once('/').ok_or_else(err)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| err())?;
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let len: u8 = len.parse().map_err(|_| err())?;
        Ipv4Cidr::new(addr, len).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let c: Ipv4Cidr = "10.42.0.0/16".parse().unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(10, 42, 0, 0));
        assert_eq!(c.prefix_len(), 16);
        assert_eq!(c.to_string(), "10.42.0.0/16");
        assert_eq!("0.0.0.0/0".parse::<Ipv4Cidr>().unwrap().prefix_len(), 0);
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "10.42.0.0",
            "10.42.0.1/16",
            "10.42.0.0/33",
            "10.42.0.0/",
            "10.42.0.0/+8",
            "x/8",
            "::/0",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn containment_and_nth() {
        let cluster: Ipv4Cidr = "10.42.0.0/16".parse().unwrap();
        let node: Ipv4Cidr = "10.42.3.0/24".parse().unwrap();
        assert!(cluster.contains_net(&node));
        assert!(!node.contains_net(&cluster));
        assert!(!cluster.contains_net(&"10.43.0.0/24".parse().unwrap()));
        assert!(node.contains(Ipv4Addr::new(10, 42, 3, 255)));
        assert!(!node.contains(Ipv4Addr::new(10, 42, 4, 0)));
        assert_eq!(node.nth(1), Some(Ipv4Addr::new(10, 42, 3, 1)));
        assert_eq!(node.nth(256), None);
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(8, 8, 8, 8)));
        assert_eq!(all.nth(u32::MAX), Some(Ipv4Addr::BROADCAST));
    }
}
