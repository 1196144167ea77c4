//! The engine's packet logic, sans I/O: datagrams from the network, packets
//! from the TUN and the time go in; what to send, to whom, and what to write
//! to the TUN come out. No socket, descriptor or clock is touched here, so
//! the whole protocol side of the engine runs in memory in tests and fuzzing.
//!
//! Rules this module keeps (WireGuard's own, as the kernel and wireguard-go
//! keep them):
//! - nothing reaches a Diffie-Hellman before its mac1 is checked and the
//!   handshake rate limit applied: under load, initiations without a valid
//!   mac2 get a cookie reply and nothing else;
//! - a peer's endpoint moves only to the source of a packet that
//!   authenticated: a data packet (or keepalive) that decrypted, or a
//!   response that completed our initiation. Not an initiation: a valid one
//!   proves nothing until the initiator's first data packet (an old one,
//!   replayed after the engine restarted, is valid again to a fresh engine),
//!   so it only gets its response, sent where it came from. Cookie replies,
//!   failed handshakes, replays and anything unauthenticated change no peer
//!   state;
//! - a decrypted packet reaches the TUN only when its inner source is in
//!   the sending peer's AllowedIPs.
//!
//! Time: boringtun reads its clock through `mock_instant` (its
//! `mock-instant` feature), a per-thread clock this module sets from the time
//! the caller passes in. So boringtun's timers (rekey, keepalive, expiry,
//! the rate limiter's second) follow the caller's clock: the engine passes
//! CLOCK_BOOTTIME, tests a fake one. A core must be used from one thread.

use super::peers::Peers;
use crate::conf::Conf;
use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Handshake messages with a valid mac1 taken per second before the engine
/// counts as under load and asks for cookies (boringtun's device uses 100).
pub const HANDSHAKE_LIMIT: u64 = 100;
/// Until a peer's first handshake, its initiation is resent every tick for
/// this long: a server drops an initiation that follows another with the same
/// key within 20 ms ("handshake flood"), and WireGuard's own retry comes only
/// after 5 s, which a user running two commands in a row would wait for.
const EAGER_RETRY: Duration = Duration::from_secs(2);
/// The smallest buffer every call below may be given: a handshake initiation.
pub const MIN_OUT: usize = 148;
/// How often a pinned namespace's expired peers are tried again when the
/// profile gives no PersistentKeepalive.
pub const PINNED_RETRY: Duration = Duration::from_secs(25);

/// What one datagram from the network gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Nothing to do: dropped, or consumed (a keepalive, a cookie).
    Nothing,
    /// A decrypted packet of this length at the start of `out`, for the TUN.
    Tunnel(usize),
    /// Send `out[..len]` to `to`. With `flush`, then send what that peer
    /// queued while its handshake ran ([`Core::queued`]).
    Reply {
        len: usize,
        to: SocketAddr,
        flush: Option<usize>,
    },
}

/// What the core has done since it was made (read by tests and fuzzing).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Handshake messages that passed mac1 and the rate limit and so went on
    /// to a Diffie-Hellman (or would have, had the peer state allowed it).
    pub key_exchanges: u64,
    /// Cookie replies sent because the engine was under load.
    pub cookie_replies: u64,
    /// Datagrams dropped before any peer looked at them (bad type, length,
    /// mac1 or receiver).
    pub rejected: u64,
}

pub struct Core {
    peers: Peers,
    limiter: Arc<RateLimiter>,
    /// The time the caller last gave, on its clock.
    now: Duration,
    /// When the core was made, on the same clock.
    born: Duration,
    /// The first tick has sent every peer's first initiation.
    started: bool,
    /// How often to retry an expired peer that has no keepalive interval of
    /// its own (a pinned namespace's); never when `None`.
    retry_expired: Option<Duration>,
    counters: Counters,
}

impl Core {
    /// A core for `conf` at time `now` (any clock that never goes back).
    pub fn new(conf: &Conf, now: Duration) -> Core {
        set_clock(now);
        let limiter_key = boringtun::x25519::PublicKey::from(&static_secret(conf));
        let limiter = Arc::new(RateLimiter::new(&limiter_key, HANDSHAKE_LIMIT));
        Core {
            peers: Peers::new(conf, Some(limiter.clone())),
            limiter,
            now,
            born: now,
            started: false,
            retry_expired: None,
            counters: Counters::default(),
        }
    }

    /// Moves the clock to `now`; a time before the last one is ignored.
    pub fn set_time(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
            set_clock(now);
        }
    }

    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// How long ago peer `index` last completed a handshake.
    pub fn handshake_age(&self, index: usize) -> Option<Duration> {
        let at = self.peers.list.get(index)?.handshake_at?;
        Some(self.now.saturating_sub(at))
    }

    /// Peer `index`'s endpoint, resolved again on the host side (see
    /// `resolver`). True when it changed.
    pub fn set_endpoint(&mut self, index: usize, addr: SocketAddr) -> bool {
        let addr = unmap(addr);
        match self.peers.list.get_mut(index) {
            Some(peer) if peer.endpoint != Some(addr) => {
                peer.endpoint = Some(addr);
                true
            }
            _ => false,
        }
    }

    /// Keep retrying expired peers that have an endpoint every `every`, even
    /// without a PersistentKeepalive (for a pinned namespace, which may hold
    /// a server that only waits for packets).
    pub fn retry_expired(&mut self, every: Option<Duration>) {
        self.retry_expired = every;
    }

    /// Takes one datagram from `from`; `out` must hold at least
    /// `datagram.len()` and [`MIN_OUT`] bytes.
    pub fn datagram(&mut self, from: SocketAddr, datagram: &[u8], out: &mut [u8]) -> Received {
        let from = unmap(from);
        // mac1, and under load mac2, before anything costs more than a hash.
        let packet = match self.limiter.verify_packet(Some(from.ip()), datagram, out) {
            Ok(packet) => packet,
            Err(TunnResult::WriteToNetwork(cookie)) => {
                self.counters.cookie_replies += 1;
                let len = cookie.len();
                return Received::Reply {
                    len,
                    to: from,
                    flush: None,
                };
            }
            Err(_) => return self.reject(),
        };
        let (index, kind) = match packet {
            Packet::HandshakeInit(init) => {
                self.counters.key_exchanges += 1;
                let peers = &self.peers;
                let half = parse_handshake_anon(&peers.static_secret, &peers.static_public, &init);
                let index = half
                    .ok()
                    .and_then(|h| peers.by_public_key(&h.peer_static_public));
                (index, Kind::Initiation)
            }
            Packet::HandshakeResponse(p) => {
                self.counters.key_exchanges += 1;
                (self.peers.by_receiver(p.receiver_idx), Kind::Response)
            }
            Packet::PacketCookieReply(p) => (self.peers.by_receiver(p.receiver_idx), Kind::Cookie),
            Packet::PacketData(p) => (self.peers.by_receiver(p.receiver_idx), Kind::Data),
        };
        let Some(index) = index else {
            return self.reject();
        };
        let peer = &mut self.peers.list[index];
        let (received, authentic) = match peer.tunn.decapsulate(Some(from.ip()), datagram, out) {
            // A handshake reply: to an initiation that checked out, a
            // response (type 2); to a response that completed our
            // initiation, a keepalive (type 4). Under load, boringtun may
            // answer with a cookie reply (type 3): not a completed handshake.
            TunnResult::WriteToNetwork(reply) => {
                let answered = kind != Kind::Cookie && reply.first() != Some(&3);
                if !answered {
                    self.counters.cookie_replies += 1;
                }
                if answered && kind == Kind::Initiation {
                    peer.awaiting_confirmation = true;
                }
                let reply = Received::Reply {
                    len: reply.len(),
                    to: from,
                    flush: answered.then_some(index),
                };
                (reply, answered && kind == Kind::Response)
            }
            TunnResult::WriteToTunnelV4(p, src) => {
                (self.peers.check(index, p.len(), IpAddr::V4(src)), true)
            }
            TunnResult::WriteToTunnelV6(p, src) => {
                (self.peers.check(index, p.len(), IpAddr::V6(src)), true)
            }
            // A keepalive decrypted; a cookie reply was taken.
            TunnResult::Done => (Received::Nothing, kind == Kind::Data),
            TunnResult::Err(_) => (Received::Nothing, false),
        };
        let peer = &mut self.peers.list[index];
        if let Received::Reply { len, .. } = received {
            peer.tx_bytes += len as u64;
        }
        if authentic || matches!(received, Received::Reply { flush: Some(_), .. }) {
            peer.rx_bytes += datagram.len() as u64;
        }
        if authentic {
            let peer = &mut self.peers.list[index];
            // Roaming: an authenticated packet's source is the peer's endpoint.
            peer.endpoint = Some(from);
            // Our initiation answered, or the first data after theirs.
            if kind == Kind::Response || std::mem::take(&mut peer.awaiting_confirmation) {
                peer.handshake_at = Some(self.now);
            }
        }
        received
    }

    /// The next packet peer `index` queued while its handshake ran, encrypted
    /// into `out`, with where to send it; `None` when there is no more.
    pub fn queued(&mut self, index: usize, out: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let peer = self.peers.list.get_mut(index)?;
        match peer.tunn.decapsulate(None, &[], out) {
            TunnResult::WriteToNetwork(p) => {
                let to = peer.endpoint?;
                peer.tx_bytes += p.len() as u64;
                Some((p.len(), to))
            }
            _ => None,
        }
    }

    /// Encrypts one IP packet from the TUN for the peer its destination routes
    /// to, into `out` (at least `packet.len() + 32` and [`MIN_OUT`] bytes).
    /// Returns the datagram's length and where to send it; without a session
    /// yet, the packet waits and a handshake initiation comes out instead.
    pub fn encapsulate(&mut self, packet: &[u8], out: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let index = Tunn::dst_address(packet).and_then(|dst| self.peers.route(dst))?;
        let peer = &mut self.peers.list[index];
        match peer.tunn.encapsulate(packet, out) {
            TunnResult::WriteToNetwork(p) => {
                let to = peer.endpoint?;
                peer.tx_bytes += p.len() as u64;
                Some((p.len(), to))
            }
            _ => None,
        }
    }

    /// The timers, to run about every 250 ms: on the first call every peer's
    /// first initiation; until [`EAGER_RETRY`] after the start, a fresh
    /// initiation to every peer still without a handshake; then boringtun's
    /// timers (handshake retries, rekey, keepalives, expiry). boringtun gives
    /// up on a peer after 90 s of unanswered initiations and then waits for
    /// a packet from the TUN; a peer with an endpoint and a keepalive
    /// interval (its own, or [`Core::retry_expired`]'s) is instead tried
    /// again every interval, as wireguard-go does, so the tunnel comes back
    /// when the server does. Each datagram to send is written to `out` and
    /// handed to `send`.
    pub fn tick(&mut self, out: &mut [u8], mut send: impl FnMut(&[u8], SocketAddr)) {
        self.limiter.reset_count();
        let start = !std::mem::replace(&mut self.started, true);
        let eager = self.now.saturating_sub(self.born) < EAGER_RETRY;
        let now = self.now;
        for peer in &mut self.peers.list {
            let retry = (peer.tunn.persistent_keepalive())
                .map(|s| Duration::from_secs(s.into()))
                .or(self.retry_expired);
            let result = if start {
                peer.tunn.format_handshake_initiation(out, false)
            } else if eager && peer.handshake_at.is_none() {
                peer.tunn.format_handshake_initiation(out, true)
            } else {
                match peer.tunn.update_timers(out) {
                    TunnResult::Err(WireGuardError::ConnectionExpired)
                        if retry.is_some_and(|every| {
                            peer.revived_at
                                .is_none_or(|at| now.saturating_sub(at) >= every)
                        }) =>
                    {
                        peer.revived_at = Some(now);
                        peer.tunn.format_handshake_initiation(out, true)
                    }
                    result => result,
                }
            };
            if let (TunnResult::WriteToNetwork(p), Some(to)) = (result, peer.endpoint) {
                peer.tx_bytes += p.len() as u64;
                send(p, to);
            }
        }
    }

    fn reject(&mut self) -> Received {
        self.counters.rejected += 1;
        Received::Nothing
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initiation,
    Response,
    Cookie,
    Data,
}

fn static_secret(conf: &Conf) -> boringtun::x25519::StaticSecret {
    boringtun::x25519::StaticSecret::from(*conf.interface.private_key.bytes())
}

/// boringtun's clock, on this thread.
fn set_clock(now: Duration) {
    mock_instant::MockClock::set_time(now);
}

/// `::ffff:a.b.c.d` as the IPv4 address it is.
pub fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) => SocketAddr::V4(v4),
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
    }
}

#[cfg(test)]
mod tests;
