//! Host-side preparation, done by wg-unshare before it leaves the host's
//! namespaces: resolve endpoints, find the MTU, bind the UDP socket.

use crate::conf::{Conf, Endpoint};
use crate::error::{Error, Result};
use rustix::fd::OwnedFd;
use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Default tunnel MTU when neither the profile nor the route gives one.
pub const DEFAULT_MTU: u16 = 1420;
/// WireGuard's overhead over IPv6 (40 + 8 + 32), as wg-quick subtracts.
const OVERHEAD: u32 = 80;

/// Replaces every endpoint host name by an address, with the host's resolver.
pub fn resolve_endpoints(conf: &mut Conf) -> Result<()> {
    for peer in &mut conf.peers {
        if let Some(Endpoint::Name { host, port }) = &peer.endpoint {
            let shown = format!("{host}:{port}");
            let addr = crate::resolver::resolve(host, *port).map_err(|e| {
                Error::sys(format_args!("resolve endpoint \"{shown}\""), e)
                    .hint("check the name and the host's DNS, or put an IP address in Endpoint")
            })?;
            let addr = addr.ok_or_else(|| {
                Error::new(format!("cannot resolve endpoint \"{shown}\": no address"))
                    .hint("check the name, or put an IP address in Endpoint")
            })?;
            crate::log::info(format_args!("endpoint {shown} is {addr}"));
            peer.endpoint = Some(Endpoint::Addr(addr));
        }
    }
    Ok(())
}

/// The host route's MTU towards `to`, minus WireGuard's overhead.
pub fn path_mtu(to: SocketAddr) -> Option<u16> {
    let socket = std::net::UdpSocket::bind(match to {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    })
    .ok()?;
    socket.connect(to).ok()?;
    let mtu = match to {
        SocketAddr::V4(_) => sockopt::ip_mtu(&socket),
        SocketAddr::V6(_) => sockopt::ipv6_mtu(&socket),
    }
    .ok()?;
    u16::try_from(mtu.checked_sub(OVERHEAD)?).ok()
}

/// The MTU for the TUN: the profile's, else the route's, else 1420; never
/// below what the tunnel's address families need.
pub fn choose_mtu(conf: &Conf) -> u16 {
    if let Some(mtu) = conf.interface.mtu {
        crate::log::info(format_args!("MTU {mtu}: the profile's"));
        return mtu;
    }
    let first = conf.peers.iter().find_map(|p| match p.endpoint {
        Some(Endpoint::Addr(addr)) => Some(addr),
        _ => None,
    });
    let floor = if conf.uses_ipv6() { 1280 } else { 576 };
    let route = first.and_then(path_mtu);
    let mtu = route
        .unwrap_or(DEFAULT_MTU)
        .clamp(floor, DEFAULT_MTU.max(floor));
    match (route, first) {
        (Some(path), Some(to)) => crate::log::info(format_args!(
            "MTU {mtu}: the route to {to} carries {} bytes, less WireGuard's {OVERHEAD} (at most {DEFAULT_MTU})",
            u32::from(path) + OVERHEAD
        )),
        _ => crate::log::info(format_args!("MTU {mtu}: the default (no route MTU known)")),
    }
    mtu
}

/// Binds the WireGuard UDP socket in the host namespace: ListenPort or an
/// ephemeral port, dual-stack, falling back to IPv4 where IPv6 is off.
pub fn bind_udp(port: Option<u16>) -> Result<OwnedFd> {
    let port = port.unwrap_or(0);
    let v6 = (|| {
        let fd = rustix::net::socket_with(
            AddressFamily::INET6,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        sockopt::set_ipv6_v6only(&fd, false)?;
        rustix::net::bind(
            &fd,
            &SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        )?;
        Ok::<_, rustix::io::Errno>(fd)
    })();
    let result = match v6 {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::ADDRINUSE) => Err(rustix::io::Errno::ADDRINUSE),
        Err(_) => (|| {
            let fd = rustix::net::socket_with(
                AddressFamily::INET,
                SocketType::DGRAM,
                SocketFlags::CLOEXEC,
                None,
            )?;
            rustix::net::bind(
                &fd,
                &SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            )?;
            Ok(fd)
        })(),
    };
    result.map_err(|e| {
        let err = Error::sys(format_args!("bind UDP port {port}"), e);
        if e == rustix::io::Errno::ADDRINUSE {
            err.hint("another program (or wg-wrap with the same profile) uses this ListenPort; change or remove ListenPort")
        } else {
            err
        }
    })
}
