//! The engine's status socket: WireGuard's cross-platform UAPI, `get=1`
//! only, never a private or preshared key. Served from the engine's event
//! loop without blocking it: each connection sends one request of at most
//! 64 bytes within a second, gets one reply, and is closed.

use super::core::Core;
use rustix::event::epoll;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// What a client may ask.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Get,
}

/// One UAPI request: `get=1` then an empty line. Anything else is answered
/// with an errno: EPERM for `set=1` (this socket never changes the engine),
/// EINVAL for the rest (a partial, unknown or trailing line, or not UTF-8).
pub fn parse_request(bytes: &[u8]) -> Result<Request, i32> {
    let text = std::str::from_utf8(bytes).map_err(|_| libc::EINVAL)?;
    let lines = text.strip_suffix("\n\n").ok_or(libc::EINVAL)?;
    let mut lines = lines.split('\n');
    match (lines.next(), lines.next()) {
        (Some("get=1"), None) => Ok(Request::Get),
        (Some("set=1"), _) => Err(libc::EPERM),
        _ => Err(libc::EINVAL),
    }
}

/// Connections served at once; more are closed unanswered.
const MAX_CLIENTS: usize = 8;
const MAX_REQUEST: usize = 64;
const DEADLINE: Duration = Duration::from_secs(1);

pub struct Server {
    listener: UnixListener,
    clients: Vec<Client>,
    /// The epoll token of the first client; each new client takes the next.
    first_token: u64,
    next_token: u64,
}

struct Client {
    stream: UnixStream,
    token: u64,
    request: Vec<u8>,
    since: Instant,
}

impl Server {
    /// Serves `listener`; clients get epoll tokens from `first_token` up.
    pub fn new(listener: UnixListener, first_token: u64) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            clients: Vec::new(),
            first_token,
            next_token: first_token,
        })
    }

    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// Whether `token` names one of this server's clients.
    pub fn owns(&self, token: u64) -> bool {
        token >= self.first_token
    }

    /// Takes the waiting connections.
    pub fn accept(&mut self, poll: &impl rustix::fd::AsFd) {
        while let Ok((stream, _)) = self.listener.accept() {
            if self.clients.len() >= MAX_CLIENTS || stream.set_nonblocking(true).is_err() {
                continue; // dropped: closed unanswered
            }
            let token = self.next_token;
            self.next_token += 1;
            let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP;
            if epoll::add(poll, &stream, epoll::EventData::new_u64(token), flags).is_ok() {
                self.clients.push(Client {
                    stream,
                    token,
                    request: Vec::with_capacity(MAX_REQUEST),
                    since: Instant::now(),
                });
            }
        }
    }

    /// Reads what client `token` sent; answers once its request is whole.
    pub fn serve(
        &mut self,
        token: u64,
        poll: &impl rustix::fd::AsFd,
        status: impl FnOnce() -> String,
    ) {
        let Some(index) = self.clients.iter().position(|c| c.token == token) else {
            return;
        };
        let client = &mut self.clients[index];
        let mut chunk = [0u8; MAX_REQUEST];
        let ended = loop {
            let room = MAX_REQUEST - client.request.len();
            match client.stream.read(&mut chunk[..room]) {
                Ok(0) => break true,
                Ok(n) => {
                    client.request.extend_from_slice(&chunk[..n]);
                    if client.request.len() >= MAX_REQUEST || client.request.ends_with(b"\n\n") {
                        break true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if !ended {
            return;
        }
        let client = self.clients.swap_remove(index);
        let reply = match parse_request(&client.request) {
            Ok(Request::Get) => status(),
            Err(errno) => format!("errno={errno}\n\n"),
        };
        // A reply fits the socket's buffer; a client that went away loses it.
        let _ = (&client.stream).write_all(reply.as_bytes());
        let _ = epoll::delete(poll, &client.stream);
    }

    /// Closes connections that did not send a whole request in time.
    pub fn expire(&mut self, poll: &impl rustix::fd::AsFd) {
        self.clients.retain(|client| {
            let keep = client.since.elapsed() < DEADLINE;
            if !keep {
                let _ = epoll::delete(poll, &client.stream);
            }
            keep
        });
    }
}

/// `get=1`'s answer, with the keys `wg show dump` uses.
pub fn status_text(core: &Core, listen: Option<SocketAddr>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(addr) = listen {
        let _ = writeln!(out, "listen_port={}", addr.port());
    }
    let now = std::time::SystemTime::now();
    for (index, peer) in core.peers().list.iter().enumerate() {
        let key: String = peer
            .public_key
            .bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(out, "public_key={key}");
        if let Some(endpoint) = peer.endpoint {
            let _ = writeln!(out, "endpoint={endpoint}");
        }
        let (rx, tx) = (peer.rx_bytes, peer.tx_bytes);
        let (sec, nsec) = (core.handshake_age(index))
            .and_then(|d| now.checked_sub(d))
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or((0, 0), |t| (t.as_secs(), t.subsec_nanos()));
        let _ = writeln!(
            out,
            "last_handshake_time_sec={sec}\nlast_handshake_time_nsec={nsec}"
        );
        let _ = writeln!(out, "rx_bytes={rx}\ntx_bytes={tx}");
        let keepalive = peer.tunn.persistent_keepalive().unwrap_or(0);
        let _ = writeln!(out, "persistent_keepalive_interval={keepalive}");
        for net in &peer.allowed_ips {
            let _ = writeln!(out, "allowed_ip={net}");
        }
        let _ = writeln!(out, "protocol_version=1");
    }
    out.push_str("errno=0\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_get_is_answered() {
        assert_eq!(parse_request(b"get=1\n\n"), Ok(Request::Get));
        assert_eq!(
            parse_request(b"set=1\nprivate_key=00\n\n"),
            Err(libc::EPERM)
        );
        for bad in [
            &b"get=1\n"[..],
            b"get=1",
            b"get=1\nx=1\n\n",
            b"get=2\n\n",
            b"\n\n",
            b"\xff\n\n",
        ] {
            assert_eq!(parse_request(bad), Err(libc::EINVAL), "{bad:?}");
        }
    }
}
