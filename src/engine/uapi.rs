//! The engine's status socket (its protocol is `live::status`): served from the engine's event
//! loop without blocking it: each connection sends one request of at most
//! 64 bytes within a second, gets one reply, and is closed.

use super::core::Core;
use crate::live::status::{self, PeerStatus, Request};
use rustix::event::epoll;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

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
        let reply = match status::parse_request(&client.request) {
            Ok(Request::Get) => status(),
            Err(errno) => status::error_reply(errno),
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

/// `get=1`'s answer for this engine (see `live::status::reply`).
pub fn status_text(core: &Core, listen: Option<SocketAddr>) -> String {
    let now = std::time::SystemTime::now();
    let peers: Vec<PeerStatus> = (core.peers().list.iter().enumerate())
        .map(|(index, peer)| {
            let (sec, nsec) = (core.handshake_age(index))
                .and_then(|d| now.checked_sub(d))
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or((0, 0), |t| (t.as_secs(), t.subsec_nanos()));
            PeerStatus {
                public_key: peer.public_key.to_string(),
                endpoint: peer.endpoint.map(|e| e.to_string()),
                last_handshake: sec,
                last_handshake_nsec: nsec,
                rx_bytes: peer.rx_bytes,
                tx_bytes: peer.tx_bytes,
                keepalive: peer.tunn.persistent_keepalive().unwrap_or(0),
                allowed_ips: peer.allowed_ips.iter().map(|n| n.to_string()).collect(),
            }
        })
        .collect();
    status::reply(listen.map(|a| a.port()), &peers)
}
