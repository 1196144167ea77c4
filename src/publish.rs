//! Published ports: `--publish [HOSTADDR:]HOSTPORT:PORT[/tcp|/udp]` (podman's
//! `-p` syntax) makes HOSTADDR:HOSTPORT on the host reach PORT inside. The
//! host's sockets are bound by wg-unshare before the unshare (as
//! rootlesskit's and pasta's port drivers do), passed down the chain, and
//! served inside by the relay (`relay.rs`), which the engine starts.

use crate::error::{Error, Result};
use rustix::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// One `--publish`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub host: SocketAddr,
    pub port: u16,
    pub proto: Proto,
}

fn bad(spec: &str, why: &str) -> Error {
    Error::new(format!("--publish {spec}: {why}"))
        .hint("write [HOSTADDR:]HOSTPORT:PORT[/tcp|/udp], e.g. 8080:80 or [::1]:5353:53/udp")
}

impl Spec {
    pub fn parse(spec: &str) -> Result<Spec> {
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, Proto::Tcp),
            Some((rest, "udp")) => (rest, Proto::Udp),
            Some(_) => return Err(bad(spec, "the protocol is tcp or udp")),
            None => (spec, Proto::Tcp),
        };
        let port = |text: &str| -> Result<u16> {
            text.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(spec, &format!("\"{text}\" is not a port (1 to 65535)")))
        };
        let (front, inner) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad(spec, "HOSTPORT:PORT is missing"))?;
        let (addr, host_port) = match front.rsplit_once(':') {
            Some((addr, host_port)) => (Some(addr), host_port),
            None => (None, front),
        };
        let ip = match addr {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(a) => a
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| bad(spec, &format!("\"{a}\" is not an IP address")))?,
        };
        Ok(Spec {
            host: SocketAddr::new(ip, port(host_port)?),
            port: port(inner)?,
            proto,
        })
    }

    fn name(&self) -> String {
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        format!("{}/{proto}", self.host)
    }
}

/// A published port's host socket, bound (and for TCP, listening).
pub struct Published {
    pub socket: OwnedFd,
    pub port: u16,
    pub proto: Proto,
}

/// Binds every spec's host socket, on the host side: a port in use is one
/// line before anything starts.
pub fn bind(specs: &[Spec]) -> Result<Vec<Published>> {
    specs
        .iter()
        .map(|spec| {
            let fail = |e: std::io::Error| {
                Error::sys(format_args!("publish {}", spec.name()), e)
                    .hint("pick another HOSTPORT, or end what uses it")
            };
            let socket: OwnedFd = match spec.proto {
                Proto::Tcp => std::net::TcpListener::bind(spec.host).map_err(fail)?.into(),
                Proto::Udp => std::net::UdpSocket::bind(spec.host).map_err(fail)?.into(),
            };
            Ok(Published {
                socket,
                port: spec.port,
                proto: spec.proto,
            })
        })
        .collect()
}

/// `FD:tcp:PORT,...`, for `chain::PUBLISH`.
pub fn to_chain(published: &[Published]) -> String {
    let items: Vec<String> = published
        .iter()
        .map(|p| {
            let proto = if p.proto == Proto::Tcp { "tcp" } else { "udp" };
            format!("{}:{proto}:{}", p.socket.as_raw_fd(), p.port)
        })
        .collect();
    items.join(",")
}

/// Passes the sockets down the chain (`chain::PUBLISH`); they must stay
/// open until the exec.
pub fn pass(published: &[Published]) -> Result<()> {
    for p in published {
        rustix::io::fcntl_setfd(&p.socket, rustix::io::FdFlags::empty())
            .map_err(|e| Error::sys("pass a published port on", e))?;
    }
    crate::chain::PUBLISH.set(to_chain(published));
    Ok(())
}

/// Takes the sockets named by `chain::PUBLISH` (CLOEXEC from now on).
pub fn from_chain(text: &str) -> Result<Vec<Published>> {
    let bad = || Error::new(format!("WG_WRAP_PUBLISH={text} is not FD:PROTO:PORT,..."));
    text.split(',')
        .filter(|item| !item.is_empty())
        .map(|item| {
            let mut parts = item.split(':');
            let (Some(fd), Some(proto), Some(port), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            let fd: RawFd = fd.parse().ok().filter(|fd| *fd > 2).ok_or_else(bad)?;
            let proto = match proto {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                _ => return Err(bad()),
            };
            let port = port.parse().map_err(|_| bad())?;
            // SAFETY: wg-unshare passed this fd down the chain for this link
            // alone; it is checked open before it is owned.
            let borrowed = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
            rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC)
                .map_err(|e| Error::sys("take a published port's socket", e))?;
            // SAFETY: as above: open, and owned by nobody else here.
            let socket = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(Published {
                socket,
                port,
                proto,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_in_podmans_syntax() {
        let spec = |s: &str| Spec::parse(s).unwrap();
        assert_eq!(
            spec("8080:80"),
            Spec {
                host: "127.0.0.1:8080".parse().unwrap(),
                port: 80,
                proto: Proto::Tcp
            }
        );
        assert_eq!(
            spec("0.0.0.0:53:5353/udp").host,
            "0.0.0.0:53".parse().unwrap()
        );
        assert_eq!(spec("0.0.0.0:53:5353/udp").proto, Proto::Udp);
        assert_eq!(spec("[::1]:9091:9091").host, "[::1]:9091".parse().unwrap());
        for wrong in [
            "80",
            "x:80",
            "8080:80/sctp",
            "8080:0",
            "nohost:1:2",
            "70000:80",
        ] {
            assert!(Spec::parse(wrong).is_err(), "{wrong}");
        }
    }
}
