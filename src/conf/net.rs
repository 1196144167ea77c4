//! Addresses, networks and endpoints as written in a profile.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An address with a prefix length: `10.0.0.2/32`, `fd00::2/128`, `0.0.0.0/0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        (prefix <= max_prefix(addr)).then_some(IpNet { addr, prefix })
    }

    /// The same network with the host bits cleared (`10.1.2.3/8` → `10.0.0.0/8`).
    pub fn network(self) -> Self {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.prefix))),
        };
        IpNet { addr, ..self }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                (u32::from(net) ^ u32::from(ip)) & mask32(self.prefix) == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                (u128::from(net) ^ u128::from(ip)) & mask128(self.prefix) == 0
            }
            _ => false,
        }
    }

    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpNet {
    type Err = String;

    /// `ADDR/PREFIX`, or a bare address meaning a single host.
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{text}\" is not an IP address"))?;
        let max = max_prefix(addr);
        let prefix = match prefix {
            None => max,
            Some(text_prefix) => match text_prefix.parse::<u8>() {
                Ok(p) if p <= max && !text_prefix.starts_with('+') => p,
                _ => return Err(format!("\"{text}\": prefix length must be 0 to {max}")),
            },
        };
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Where a peer is: an address, or a host name still to be resolved on the host side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Addr(SocketAddr),
    Name { host: String, port: u16 },
}

impl FromStr for Endpoint {
    type Err = String;

    /// `1.2.3.4:51820`, `[2001:db8::1]:51820` or `vpn.example.com:51820`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("\"{text}\" is not HOST:PORT");
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
            let ip: Ipv6Addr = host
                .parse()
                .map_err(|_| format!("\"{host}\" is not an IPv6 address"))?;
            (IpAddr::V6(ip).to_string(), port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
            if host.contains(':') {
                return Err(format!(
                    "\"{text}\": an IPv6 endpoint needs brackets, as in [2001:db8::1]:51820"
                ));
            }
            (host.to_string(), port)
        };
        let port = parse_port(port)?;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Endpoint::Addr(SocketAddr::new(ip, port)));
        }
        if !is_host_name(&host) {
            return Err(format!(
                "\"{host}\" is neither an IP address nor a host name"
            ));
        }
        Ok(Endpoint::Name { host, port })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Addr(addr) => write!(f, "{addr}"),
            Endpoint::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// A UDP port, 1 to 65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && !text.starts_with('+') => Ok(port),
        _ => Err(format!("\"{text}\" is not a port (1 to 65535)")),
    }
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens.
pub fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        // An all-numeric name would be a mistyped IPv4 address.
        && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_contain_and_normalise() {
        let net: IpNet = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.network().to_string(), "10.0.0.0/8");
        assert!(net.contains("10.200.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("198.18.0.1".parse().unwrap()));
        let v6: IpNet = "fd00:1::5".parse().unwrap();
        assert_eq!(v6.prefix, 128);
        assert!(v6.contains("fd00:1::5".parse().unwrap()));
        assert!(
            "::/0"
                .parse::<IpNet>()
                .unwrap()
                .contains("fd00::1".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("fd00::/129".parse::<IpNet>().is_err());
        assert!("10.0.0.0/-1".parse::<IpNet>().is_err());
        assert!("10.0.0.0/+8".parse::<IpNet>().is_err());
        assert!("300.0.0.0/8".parse::<IpNet>().is_err());
    }

    #[test]
    fn endpoints_of_every_form() {
        assert_eq!(
            "198.18.0.1:51820".parse::<Endpoint>().unwrap(),
            Endpoint::Addr("198.18.0.1:51820".parse().unwrap())
        );
        assert_eq!(
            "[fd00::1]:51820".parse::<Endpoint>().unwrap(),
            Endpoint::Addr("[fd00::1]:51820".parse().unwrap())
        );
        assert_eq!(
            "vpn.example.com:443".parse::<Endpoint>().unwrap(),
            Endpoint::Name {
                host: "vpn.example.com".into(),
                port: 443
            }
        );
        for bad in [
            "198.18.0.1",
            "198.18.0.1:0",
            "198.18.0.1:65536",
            "fd00::1:51820",
            "[fd00::1]51820",
            "[nope]:1",
            "bad host:1",
            "1.2.3:80",
            ":80",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad} accepted");
        }
    }
}
