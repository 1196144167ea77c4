//! The engine's event loop: TUN ⇄ boringtun ⇄ UDP, timers, lifetime.
//!
//! One thread, smol. The peer table lives in a RefCell that is never
//! borrowed across an await: each step computes into a buffer owned by its
//! loop, releases the table, then sends. No allocation per packet.

use super::lifetime::Lifetime;
use super::peers::Peers;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::{Packet, Tunn, TunnResult};
use smol::Async;
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const TIMER_TICK: Duration = Duration::from_millis(250);
/// Until a peer's first handshake, its initiation is resent every tick for
/// this long: a server drops an initiation that follows another with the same
/// key within 20 ms ("handshake flood"), and WireGuard's own retry comes only
/// after 5 s, which a user running two commands in a row would wait for.
const EAGER_RETRY: Duration = Duration::from_secs(2);
const LINGER_TICK: Duration = Duration::from_millis(50);
/// Room for the largest IP packet plus WireGuard's 32 bytes of overhead.
const BUF: usize = 65536 + 32;

pub struct Engine {
    pub peers: RefCell<Peers>,
    pub tun: tun_rs::AsyncDevice,
    pub udp: Async<UdpSocket>,
    /// The readiness pipe to wg-up; dropped once every handshake is reported.
    pub report: RefCell<Option<File>>,
    pub lifetime: RefCell<Lifetime>,
    last_tun: Cell<Instant>,
    udp_is_v6: bool,
}

/// What to do with the bytes a step left at the start of its out buffer.
enum Step {
    Nothing,
    Network(usize, SocketAddr),
    /// A handshake reply: send it, then flush what boringtun queued.
    NetworkThenFlush(usize, SocketAddr, usize),
    Tunnel(usize),
}

impl Engine {
    pub fn new(
        peers: Peers,
        tun: tun_rs::AsyncDevice,
        udp: Async<UdpSocket>,
        report: File,
        lifetime: Lifetime,
    ) -> Engine {
        let udp_is_v6 = udp.get_ref().local_addr().is_ok_and(|a| a.is_ipv6());
        Engine {
            peers: RefCell::new(peers),
            tun,
            udp,
            report: RefCell::new(Some(report)),
            lifetime: RefCell::new(lifetime),
            last_tun: Cell::new(Instant::now()),
            udp_is_v6,
        }
    }

    /// Runs until the namespace is done with the engine.
    pub async fn run(&self, status: smol::net::unix::UnixListener) -> io::Result<()> {
        self.say("ready");
        let forward = smol::future::or(self.outbound(), self.inbound());
        smol::future::or(
            self.timers(),
            smol::future::or(forward, self.serve_status(status)),
        )
        .await
    }

    /// The status socket: WireGuard's cross-platform UAPI, `get=1` only,
    /// never a private or preshared key.
    async fn serve_status(&self, listener: smol::net::unix::UnixListener) -> io::Result<()> {
        use smol::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let mut request = Vec::with_capacity(64);
            let mut byte = [0u8; 1];
            // One request per connection, at most 64 bytes, ended by an empty line.
            let complete = smol::future::or(
                async {
                    while request.len() < 64 && !request.ends_with(b"\n\n") {
                        match stream.read(&mut byte).await {
                            Ok(1) => request.push(byte[0]),
                            _ => break,
                        }
                    }
                    true
                },
                async {
                    smol::Timer::after(Duration::from_secs(1)).await;
                    false
                },
            )
            .await;
            let reply = if complete && request == b"get=1\n\n" {
                self.status_text()
            } else {
                "errno=22\n\n".to_string()
            };
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    }

    /// `get=1`'s answer, with the keys `wg show dump` uses.
    fn status_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        if let Ok(addr) = self.udp.get_ref().local_addr() {
            let _ = writeln!(out, "listen_port={}", addr.port());
        }
        let now = std::time::SystemTime::now();
        for peer in &self.peers.borrow().list {
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
            let (since, tx, rx, _, _) = peer.tunn.stats();
            let (sec, nsec) = since
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

    fn say(&self, line: &str) {
        let mut report = self.report.borrow_mut();
        if let Some(file) = report.as_mut()
            && writeln!(file, "{line}").is_err()
        {
            *report = None;
        }
    }

    /// A v4 destination on a dual-stack socket is written v4-mapped.
    fn to_socket(&self, addr: SocketAddr) -> SocketAddr {
        match addr {
            SocketAddr::V4(v4) if self.udp_is_v6 => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            other => other,
        }
    }

    async fn send_udp(&self, bytes: &[u8], to: SocketAddr) {
        // A failed send is a lost datagram; WireGuard and TCP recover.
        let _ = self.udp.send_to(bytes, self.to_socket(to)).await;
    }

    /// TUN → encrypt → UDP.
    async fn outbound(&self) -> io::Result<()> {
        let mut packet = vec![0u8; BUF];
        let mut out = vec![0u8; BUF];
        loop {
            let n = self.tun.recv(&mut packet).await?;
            self.last_tun.set(Instant::now());
            let step = {
                let mut peers = self.peers.borrow_mut();
                let Some(index) = Tunn::dst_address(&packet[..n]).and_then(|dst| peers.route(dst))
                else {
                    continue;
                };
                let peer = &mut peers.list[index];
                match (peer.tunn.encapsulate(&packet[..n], &mut out), peer.endpoint) {
                    (TunnResult::WriteToNetwork(p), Some(to)) => Step::Network(p.len(), to),
                    _ => Step::Nothing,
                }
            };
            if let Step::Network(len, to) = step {
                self.send_udp(&out[..len], to).await;
            }
        }
    }

    /// UDP → decrypt → check AllowedIPs → TUN.
    async fn inbound(&self) -> io::Result<()> {
        let mut datagram = vec![0u8; BUF];
        let mut out = vec![0u8; BUF];
        loop {
            let (n, from) = match self.udp.recv_from(&mut datagram).await {
                Ok(got) => got,
                // ICMP errors queued on the socket, a signal: not fatal.
                Err(e) if transient(&e) => continue,
                Err(e) => return Err(e),
            };
            match self.decapsulate(&datagram[..n], from, &mut out) {
                Step::Nothing => {}
                Step::Tunnel(len) => {
                    let _ = self.tun.send(&out[..len]).await;
                }
                Step::Network(len, to) => self.send_udp(&out[..len], to).await,
                Step::NetworkThenFlush(len, to, index) => {
                    self.send_udp(&out[..len], to).await;
                    loop {
                        let len = {
                            let mut peers = self.peers.borrow_mut();
                            match peers.list[index].tunn.decapsulate(None, &[], &mut out) {
                                TunnResult::WriteToNetwork(p) => p.len(),
                                _ => break,
                            }
                        };
                        self.send_udp(&out[..len], to).await;
                    }
                }
            }
            self.report_handshakes();
        }
    }

    fn decapsulate(&self, datagram: &[u8], from: SocketAddr, out: &mut [u8]) -> Step {
        let mut peers = self.peers.borrow_mut();
        let index = match Tunn::parse_incoming_packet(datagram) {
            Ok(Packet::HandshakeInit(init)) => {
                match parse_handshake_anon(&peers.static_secret, &peers.static_public, &init) {
                    Ok(half) => peers.by_public_key(&half.peer_static_public),
                    Err(_) => None,
                }
            }
            Ok(Packet::HandshakeResponse(p)) => peers.by_receiver(p.receiver_idx),
            Ok(Packet::PacketCookieReply(p)) => peers.by_receiver(p.receiver_idx),
            Ok(Packet::PacketData(p)) => peers.by_receiver(p.receiver_idx),
            Err(_) => None,
        };
        let Some(index) = index else {
            return Step::Nothing;
        };
        let from = unmap(from);
        let (step, authentic) =
            match peers.list[index]
                .tunn
                .decapsulate(Some(from.ip()), datagram, out)
            {
                TunnResult::WriteToNetwork(p) => {
                    (Step::NetworkThenFlush(p.len(), from, index), true)
                }
                TunnResult::WriteToTunnelV4(p, src) => {
                    (Step::Tunnel(p.len()), peers.allows(index, IpAddr::V4(src)))
                }
                TunnResult::WriteToTunnelV6(p, src) => {
                    (Step::Tunnel(p.len()), peers.allows(index, IpAddr::V6(src)))
                }
                TunnResult::Done => (Step::Nothing, true), // a keepalive
                TunnResult::Err(_) => return Step::Nothing,
            };
        // Roaming: an authenticated packet's source is the peer's endpoint.
        peers.list[index].endpoint = Some(from);
        if !authentic {
            return Step::Nothing; // inner source outside this peer's AllowedIPs
        }
        step
    }

    fn report_handshakes(&self) {
        if self.report.borrow().is_none() {
            return;
        }
        let mut lines = Vec::new();
        {
            let mut peers = self.peers.borrow_mut();
            for (index, peer) in peers.list.iter_mut().enumerate() {
                if !peer.handshake_reported && peer.tunn.time_since_last_handshake().is_some() {
                    peer.handshake_reported = true;
                    lines.push(format!("handshake {index}"));
                }
            }
        }
        for line in lines {
            self.say(&line);
        }
        if self
            .peers
            .borrow()
            .list
            .iter()
            .all(|p| p.handshake_reported)
        {
            self.report.borrow_mut().take();
        }
    }

    /// Handshakes at once, boringtun's timers every 250 ms, and the lifetime checks.
    async fn timers(&self) -> io::Result<()> {
        let mut out = vec![0u8; BUF];
        let count = self.peers.borrow().list.len();
        for index in 0..count {
            let step = {
                let mut peers = self.peers.borrow_mut();
                let peer = &mut peers.list[index];
                match (
                    peer.tunn.format_handshake_initiation(&mut out, false),
                    peer.endpoint,
                ) {
                    (TunnResult::WriteToNetwork(p), Some(to)) => Step::Network(p.len(), to),
                    _ => Step::Nothing,
                }
            };
            if let Step::Network(len, to) = step {
                self.send_udp(&out[..len], to).await;
            }
        }
        let pidfd = Async::new(self.lifetime.borrow().pidfd.try_clone()?)?;
        let started = Instant::now();
        let mut last_timers = Instant::now();
        loop {
            let gone = self.lifetime.borrow_mut().prog_gone();
            let tick = if self.lifetime.borrow().lingering() {
                LINGER_TICK
            } else {
                TIMER_TICK
            };
            if gone {
                smol::Timer::after(tick).await;
            } else {
                smol::future::or(
                    async {
                        let _ = pidfd.readable().await;
                    },
                    async {
                        smol::Timer::after(tick).await;
                    },
                )
                .await;
            }
            if self.lifetime.borrow_mut().should_end(self.last_tun.get()) {
                return Ok(());
            }
            if last_timers.elapsed() < TIMER_TICK {
                continue;
            }
            last_timers = Instant::now();
            for index in 0..count {
                let step = {
                    let mut peers = self.peers.borrow_mut();
                    let peer = &mut peers.list[index];
                    let eager = peer.tunn.time_since_last_handshake().is_none()
                        && started.elapsed() < EAGER_RETRY;
                    let result = if eager {
                        peer.tunn.format_handshake_initiation(&mut out, true)
                    } else {
                        peer.tunn.update_timers(&mut out)
                    };
                    match (result, peer.endpoint) {
                        (TunnResult::WriteToNetwork(p), Some(to)) => Step::Network(p.len(), to),
                        _ => Step::Nothing,
                    }
                };
                if let Step::Network(len, to) = step {
                    self.send_udp(&out[..len], to).await;
                }
            }
            self.report_handshakes();
        }
    }
}

/// Errors after which the socket still works.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// `::ffff:a.b.c.d` as the IPv4 address it is.
fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}
