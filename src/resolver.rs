//! Endpoint names resolved again while a namespace lives. Names whose
//! addresses change (dynamic DNS, load-balanced endpoints) are resolved
//! once at the start; when a peer with such a name has had no handshake for
//! [`AFTER`] (the rule of wireguard-tools' reresolve-dns), the engine asks
//! again. Not from inside — the namespace's DNS goes through the very
//! tunnel that is down — but from a helper wg-unshare leaves on the host
//! side before the unshare: it knows the names, resolves on request, and
//! ends when the engine does (its socket closes).
//!
//! Protocol, one line each way: `INDEX` → `INDEX ADDR:PORT` or `INDEX -`.

use crate::conf::{Conf, Endpoint};
use crate::error::Result;
use rustix::fd::{AsFd, OwnedFd};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// No handshake for this long: resolve again (and at most this often).
pub const AFTER: Duration = Duration::from_secs(120);

/// A name's addresses, IPv4 first (as wg(8) prefers them).
pub fn resolve(host: &str, port: u16) -> std::io::Result<Option<SocketAddr>> {
    let mut addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    addrs.sort_by_key(|a| a.is_ipv6());
    Ok(addrs.first().copied())
}

/// The peers (by index) whose endpoint is a name, and the names.
pub fn names(conf: &Conf) -> Vec<(usize, String, u16)> {
    (conf.peers.iter().enumerate())
        .filter_map(|(i, p)| match &p.endpoint {
            Some(Endpoint::Name { host, port }) => Some((i, host.clone(), *port)),
            _ => None,
        })
        .collect()
}

/// On the host side, before the unshare (single-threaded): forks the helper
/// for `names` and returns the engine's end of its socket.
pub fn spawn_helper(names: Vec<(usize, String, u16)>) -> Result<OwnedFd> {
    crate::process::spawn_helper("the endpoint resolver", move |socket| {
        serve(socket, &names);
    })
}

fn serve(socket: OwnedFd, names: &[(usize, String, u16)]) {
    let mut stream = std::fs::File::from(socket);
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else {
            return;
        };
        let Ok(index) = line.trim().parse::<usize>() else {
            continue;
        };
        let answer = names
            .iter()
            .find(|(i, _, _)| *i == index)
            .and_then(|(_, host, port)| resolve(host, *port).ok().flatten())
            .map_or_else(|| "-".to_string(), |addr| addr.to_string());
        if writeln!(stream, "{index} {answer}").is_err() {
            return;
        }
    }
}

/// The engine's side: asks for due peers, reads the answers.
pub struct Client {
    socket: std::fs::File,
    named: Vec<usize>,
    asked: Vec<(usize, Instant)>,
    started: Instant,
    pending: Vec<u8>,
}

impl Client {
    /// `socket` from the chain; `named` the indices of peers with a name.
    pub fn new(socket: OwnedFd, named: Vec<usize>) -> std::io::Result<Client> {
        rustix::io::ioctl_fionbio(&socket, true)?;
        Ok(Client {
            socket: std::fs::File::from(socket),
            named,
            asked: Vec::new(),
            started: Instant::now(),
            pending: Vec::new(),
        })
    }

    pub fn fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Asks for every named peer whose last handshake (`age(index)`, None:
    /// never) is older than [`AFTER`], at most once per [`AFTER`] each.
    pub fn ask_due(&mut self, age: impl Fn(usize) -> Option<Duration>) {
        let now = Instant::now();
        for &index in &self.named {
            let stale = age(index).map_or(self.started.elapsed() >= AFTER, |a| a >= AFTER);
            let recently = self
                .asked
                .iter()
                .any(|(i, at)| *i == index && now.duration_since(*at) < AFTER);
            if stale && !recently {
                self.asked.retain(|(i, _)| *i != index);
                self.asked.push((index, now));
                let _ = writeln!(self.socket, "{index}");
            }
        }
    }

    /// The answers that have come: (peer index, address).
    pub fn answers(&mut self) -> Vec<(usize, SocketAddr)> {
        let mut buf = [0u8; 1024];
        while let Ok(n) = self.socket.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
        let mut found = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            let mut parts = text.split_whitespace();
            if let (Some(Ok(index)), Some(Ok(addr))) = (
                parts.next().map(str::parse::<usize>),
                parts.next().map(str::parse::<SocketAddr>),
            ) {
                found.push((index, addr));
            }
        }
        found
    }
}
