//! The engine's event loop: TUN ⇄ boringtun ⇄ UDP, timers, lifetime.
//!
//! One thread, smol. The peer table lives in a RefCell that is never
//! borrowed across an await: each step computes into a buffer owned by its
//! loop, releases the table, then sends. No allocation per packet.

use super::gso;
use super::lifetime::Lifetime;
use super::peers::Peers;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::{Packet, Tunn, TunnResult};
use smol::Async;
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use tun_rs::{IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

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
    /// The TUN was made with offload: reads and writes carry a virtio-net header.
    vnet: bool,
    mtu: usize,
    /// UDP GSO works on this socket's path (cleared on the first refusal).
    gso: Cell<bool>,
}

/// One encrypted packet in the outbound batch buffer.
#[derive(Clone, Copy)]
struct Segment {
    offset: usize,
    len: usize,
    to: SocketAddr,
}

/// A GSO send carries at most 64 KiB.
const GSO_MAX_BYTES: usize = 65000;

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
        let vnet = tun.tcp_gso();
        let mtu = tun.mtu().map_or(1420, usize::from);
        Engine {
            vnet,
            mtu,
            gso: Cell::new(true),
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

    /// TUN → encrypt → UDP. With TUN offload, one read brings a TCP
    /// super-packet that tun-rs splits into MTU-sized packets; their
    /// encryptions are laid end to end and leave in one GSO send per run of
    /// equal sizes to one endpoint.
    async fn outbound(&self) -> io::Result<()> {
        let mut original = vec![0u8; VIRTIO_NET_HDR_LEN + 65535];
        let mut packets = vec![vec![0u8; self.mtu + 64]; IDEAL_BATCH_SIZE];
        let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
        // An encryption is the packet, 16 bytes of header, the tag, and padding to 16.
        let room = self.mtu + 64;
        let mut batch = vec![0u8; room * IDEAL_BATCH_SIZE];
        let mut segments: Vec<Segment> = Vec::with_capacity(IDEAL_BATCH_SIZE);
        loop {
            let n = match self
                .tun
                .recv_multiple(&mut original, &mut packets, &mut sizes, 0)
                .await
            {
                Ok(n) => n,
                Err(e) if tun_fatal(&e) => return Err(e),
                Err(_) => continue, // a malformed offload packet: drop it
            };
            self.last_tun.set(Instant::now());
            segments.clear();
            {
                let mut peers = self.peers.borrow_mut();
                let mut offset = 0;
                for (packet, size) in packets.iter().zip(&sizes).take(n) {
                    let packet = &packet[..*size];
                    let Some(index) = Tunn::dst_address(packet).and_then(|dst| peers.route(dst))
                    else {
                        continue;
                    };
                    let peer = &mut peers.list[index];
                    if packet.len() + 64 > room {
                        continue;
                    }
                    let to = peer.endpoint;
                    if let (TunnResult::WriteToNetwork(p), Some(to)) = (
                        peer.tunn
                            .encapsulate(packet, &mut batch[offset..offset + room]),
                        to,
                    ) {
                        segments.push(Segment {
                            offset,
                            len: p.len(),
                            to,
                        });
                        offset += p.len();
                    }
                }
            }
            self.send_segments(&batch, &segments).await;
        }
    }

    /// Sends encrypted packets laid end to end in `batch`: runs of equal
    /// sizes to one endpoint (the last may be shorter) in one GSO send each.
    async fn send_segments(&self, batch: &[u8], segments: &[Segment]) {
        let mut i = 0;
        while i < segments.len() {
            let first = segments[i];
            let mut end = first.offset + first.len;
            let mut j = i + 1;
            while j < segments.len()
                && j - i < gso::MAX_SEGMENTS
                && segments[j].to == first.to
                && segments[j].offset == end
                && segments[j - 1].len == first.len
                && segments[j].len <= first.len
                && end + segments[j].len <= GSO_MAX_BYTES
            {
                end += segments[j].len;
                j += 1;
            }
            let mut sent = false;
            if j - i > 1 && self.gso.get() {
                let to = self.to_socket(first.to);
                let bytes = &batch[first.offset..end];
                let size = first.len as u16;
                match self
                    .udp
                    .write_with(|s| gso::send_segments(s.as_fd(), bytes, size, to))
                    .await
                {
                    Ok(_) => sent = true,
                    // No GSO on this path: send them one by one from now on.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP)
                        ) =>
                    {
                        self.gso.set(false)
                    }
                    Err(_) => sent = true, // lost, as a datagram may be
                }
            }
            if !sent {
                for segment in &segments[i..j] {
                    self.send_udp(
                        &batch[segment.offset..segment.offset + segment.len],
                        segment.to,
                    )
                    .await;
                }
            }
            i = j;
        }
    }

    /// UDP → decrypt → check AllowedIPs → TUN. With UDP GRO one read brings
    /// many datagrams of one sender; their decryptions go to the TUN in one
    /// batch that tun-rs coalesces (GRO) into TCP super-packets, each write
    /// behind a virtio-net header.
    async fn inbound(&self) -> io::Result<()> {
        let mut datagram = vec![0u8; BUF];
        let head = if self.vnet { VIRTIO_NET_HDR_LEN } else { 0 };
        // Each slot can grow to a 64 KiB super-packet when GRO coalesces into it.
        let mut slots: Vec<Vec<u8>> = (0..IDEAL_BATCH_SIZE)
            .map(|_| Vec::with_capacity(BUF + head))
            .collect();
        let mut gro = tun_rs::GROTable::default();
        let mut scratch = vec![0u8; BUF];
        loop {
            let received = self
                .udp
                .read_with(|s| gso::recv_segments(s.as_fd(), &mut datagram))
                .await;
            let (n, from, segment) = match received {
                Ok(got) => got,
                // ICMP errors queued on the socket, a signal: not fatal.
                Err(e) if transient(&e) => continue,
                Err(e) => return Err(e),
            };
            let mut filled = 0;
            for chunk in datagram[..n].chunks(segment.max(1)) {
                if filled == slots.len() {
                    self.write_tun(&mut gro, &mut slots[..filled], head).await;
                    filled = 0;
                }
                let slot = &mut slots[filled];
                slot.clear();
                // decapsulate writes at most the datagram's length (a reply to
                // a 148-byte initiation is shorter still).
                slot.resize(head + chunk.len().max(148), 0);
                match self.decapsulate(chunk, from, &mut slot[head..]) {
                    Step::Nothing => {}
                    Step::Tunnel(len) => {
                        slot.truncate(head + len);
                        filled += 1;
                    }
                    Step::Network(len, to) => self.send_udp(&slot[head..head + len], to).await,
                    Step::NetworkThenFlush(len, to, index) => {
                        self.send_udp(&slot[head..head + len], to).await;
                        loop {
                            let len = {
                                let mut peers = self.peers.borrow_mut();
                                match peers.list[index].tunn.decapsulate(None, &[], &mut scratch) {
                                    TunnResult::WriteToNetwork(p) => p.len(),
                                    _ => break,
                                }
                            };
                            self.send_udp(&scratch[..len], to).await;
                        }
                    }
                }
            }
            if filled > 0 {
                self.write_tun(&mut gro, &mut slots[..filled], head).await;
            }
            self.report_handshakes();
        }
    }

    /// Writes decrypted packets (each behind `head` bytes of room) to the TUN.
    async fn write_tun(&self, gro: &mut tun_rs::GROTable, packets: &mut [Vec<u8>], head: usize) {
        if self.vnet {
            // A failed write is a lost packet; TCP recovers.
            let _ = self.tun.send_multiple(gro, packets, head).await;
        } else {
            for packet in packets.iter() {
                let _ = self.tun.send(packet).await;
            }
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

/// TUN read errors that mean the device is gone.
fn tun_fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::EBADFD | libc::EIO | libc::ENODEV)
    )
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
