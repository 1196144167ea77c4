//! The engine's event loop: TUN ⇄ boringtun ⇄ UDP, timers, lifetime, status.
//!
//! One thread and one level-triggered epoll set, no futures: each wake-up
//! reads what is ready in a batch, encrypts or decrypts it in place and
//! writes it out before waiting again. Every buffer is allocated once.

use super::core::{self, Core, Received};
use super::lifetime::Lifetime;
use super::uapi;
use super::udp;
use rustix::event::epoll;
use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, timerfd_create};
use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use tun_rs::{IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

const TIMER_TICK: Duration = Duration::from_millis(250);
/// How often the engine looks whether its namespace is pinned (a pinned
/// namespace's expired peers are retried: see `Core::retry_expired`).
const PIN_CHECK: Duration = Duration::from_secs(5);
const LINGER_TICK: Duration = Duration::from_millis(50);
/// Room for the largest IP packet plus WireGuard's 32 bytes of overhead.
const BUF: usize = 65536 + 32;
/// Most packets read from the TUN one by one before they are sent.
const DRAIN: usize = 64;
/// How long segment sizes refused as too big for the path skip GSO.
const GSO_RETRY: Duration = Duration::from_secs(10);
/// A GSO send carries at most 64 KiB.
const GSO_MAX_BYTES: usize = 65000;

// epoll tokens.
const TUN: u64 = 0;
const UDP: u64 = 1;
const PROG: u64 = 2;
const STATUS: u64 = 3;
const TICK: u64 = 4;
const FIRST_CLIENT: u64 = 5;
/// The endpoint resolver's socket (status clients count up from FIRST_CLIENT).
const RESOLVER: u64 = u64::MAX;

pub struct Engine {
    core: Core,
    /// Peers whose first handshake wg-up has been told of.
    reported: Vec<bool>,
    tun: tun_rs::SyncDevice,
    net: Net,
    /// The readiness pipe to wg-up; dropped once every handshake is reported.
    report: Option<File>,
    lifetime: Lifetime,
    status: uapi::Server,
    last_tun: Instant,
    /// The TUN was made with offload: reads and writes carry a virtio-net header.
    vnet: bool,
    outbound: Outbound,
    inbound: Inbound,
    /// Asks the host side to resolve endpoint names again (see `resolver`).
    resolver: Option<crate::resolver::Client>,
}

/// The UDP socket, with what the engine knows about its path.
struct Net {
    socket: UdpSocket,
    is_v6: bool,
    /// UDP GSO works on this socket (cleared when the kernel has none).
    gso: bool,
    /// The smallest segment size a GSO send was refused for as larger than
    /// the path MTU, and when: such runs go one datagram at a time (the
    /// kernel fragments each) until [`GSO_RETRY`] has passed.
    too_big: Option<(usize, Instant)>,
}

/// Buffers of the TUN → UDP direction.
struct Outbound {
    /// One read from the TUN: a virtio-net header and up to 64 KiB.
    original: Vec<u8>,
    /// The read split into MTU-sized packets.
    packets: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    /// Their encryptions, end to end, and where each lies.
    batch: Vec<u8>,
    segments: Vec<Segment>,
    /// Room for one encryption: the packet, 16 bytes of header, the tag, padding to 16.
    room: usize,
    /// The last wake-up found more than one packet waiting.
    busy: bool,
}

/// Buffers of the UDP → TUN direction.
struct Inbound {
    /// Room for a batch of datagrams, [`BUF`] bytes each.
    datagrams: Vec<u8>,
    received: Vec<udp::Received>,
    /// Decrypted packets, each behind room for a virtio-net header; GRO
    /// coalesces up to a 64 KiB super-packet into a slot.
    slots: Vec<Vec<u8>>,
    /// Made on the first write (its flow tables take a megabyte an idle
    /// engine does not need).
    gro: Option<tun_rs::GROTable>,
    /// Handshake replies, what boringtun queued behind them, timer output.
    scratch: Vec<u8>,
}

/// One encrypted packet in the outbound batch buffer.
#[derive(Clone, Copy)]
struct Segment {
    offset: usize,
    len: usize,
    to: SocketAddr,
}

impl Engine {
    /// `tun` must be non-blocking; `udp` may block on sends, never on
    /// receives, which pass MSG_DONTWAIT (see `udp::tune`).
    pub fn new(
        core: Core,
        tun: tun_rs::SyncDevice,
        udp: UdpSocket,
        report: File,
        lifetime: Lifetime,
        status: std::os::unix::net::UnixListener,
        resolver: Option<crate::resolver::Client>,
    ) -> io::Result<Engine> {
        let is_v6 = udp.local_addr().is_ok_and(|a| a.is_ipv6());
        let vnet = tun.tcp_gso();
        let mtu = tun.mtu().map_or(1420, usize::from);
        let room = mtu + 64;
        Ok(Engine {
            reported: vec![false; core.peers().list.len()],
            core,
            net: Net {
                socket: udp,
                is_v6,
                gso: true,
                too_big: None,
            },
            report: Some(report),
            lifetime,
            status: uapi::Server::new(status, FIRST_CLIENT)?,
            last_tun: Instant::now(),
            vnet,
            outbound: Outbound {
                original: vec![0u8; VIRTIO_NET_HDR_LEN + 65535],
                packets: zeroed(IDEAL_BATCH_SIZE, room),
                sizes: vec![0usize; IDEAL_BATCH_SIZE],
                // DRAIN single packets, then at most one read of IDEAL_BATCH_SIZE.
                batch: vec![0u8; room * (DRAIN + IDEAL_BATCH_SIZE)],
                segments: Vec::with_capacity(DRAIN + IDEAL_BATCH_SIZE),
                room,
                busy: false,
            },
            inbound: Inbound {
                datagrams: vec![0u8; udp::MAX_BATCH * BUF],
                received: Vec::with_capacity(udp::MAX_BATCH),
                // Each gets its room on first use (an idle engine holds
                // none of it): tun-rs coalesces only within a slot's capacity.
                slots: (0..IDEAL_BATCH_SIZE).map(|_| Vec::new()).collect(),
                gro: None,
                scratch: vec![0u8; BUF],
            },
            tun,
            resolver,
        })
    }

    /// Runs until the namespace is done with the engine.
    pub fn run(&mut self) -> io::Result<()> {
        let poll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        // A periodic timer, set only when its period changes: a timeout on
        // each wait would arm and cancel a kernel timer per wake-up.
        let clock = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::CLOEXEC)?;
        let watch = |fd: std::os::fd::BorrowedFd<'_>, token: u64| {
            epoll::add(
                &poll,
                fd,
                epoll::EventData::new_u64(token),
                epoll::EventFlags::IN,
            )
        };
        watch(self.tun.as_fd(), TUN)?;
        watch(self.net.socket.as_fd(), UDP)?;
        watch(self.lifetime.pidfd.as_fd(), PROG)?;
        watch(self.status.listener().as_fd(), STATUS)?;
        watch(clock.as_fd(), TICK)?;
        if let Some(resolver) = &self.resolver {
            watch(resolver.fd(), RESOLVER)?;
        }
        let mut tick = TIMER_TICK;
        set_period(&clock, tick)?;
        self.say("ready");
        self.timers();
        let mut last_timers = Instant::now();
        let mut last_pin_check: Option<Instant> = None;
        let mut events: Vec<epoll::Event> = Vec::with_capacity(16);
        loop {
            events.clear();
            match epoll::wait(&poll, rustix::buffer::spare_capacity(&mut events), None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            self.core.set_time(boottime());
            let mut check = false;
            for event in &events {
                match event.data.u64() {
                    TUN => self.outbound()?,
                    UDP => self.inbound()?,
                    TICK => {
                        let mut expirations = [0u8; 8];
                        let _ = rustix::io::read(&clock, &mut expirations);
                        check = true;
                    }
                    PROG => {
                        // PROG has exited: a pidfd stays readable, so stop
                        // watching it and decide at once.
                        let _ = epoll::delete(&poll, &self.lifetime.pidfd);
                        check = true;
                    }
                    STATUS => self.status.accept(&poll),
                    RESOLVER => self.resolved(),
                    token if self.status.owns(token) => {
                        let (core, socket) = (&self.core, &self.net.socket);
                        self.status.serve(token, &poll, || {
                            uapi::status_text(core, socket.local_addr().ok())
                        });
                    }
                    _ => {}
                }
            }
            if !check {
                continue;
            }
            if self.lifetime.should_end(self.last_tun) {
                return Ok(());
            }
            self.status.expire(&poll);
            if last_pin_check.is_none_or(|at| at.elapsed() >= PIN_CHECK) {
                last_pin_check = Some(Instant::now());
                let pinned = self.lifetime.pinned();
                self.core
                    .retry_expired(pinned.then_some(core::PINNED_RETRY));
            }
            if timers_due(last_timers.elapsed()) {
                last_timers = Instant::now();
                self.timers();
            }
            let want = if self.lifetime.lingering() {
                LINGER_TICK
            } else {
                TIMER_TICK
            };
            if want != tick {
                tick = want;
                set_period(&clock, tick)?;
            }
        }
    }

    fn say(&mut self, line: &str) {
        if let Some(file) = self.report.as_mut()
            && writeln!(file, "{line}").is_err()
        {
            self.report = None;
        }
    }

    /// TUN → encrypt → UDP. With TUN offload, a read brings a TCP
    /// super-packet that tun-rs splits into MTU-sized packets; their
    /// encryptions are laid end to end and leave in one GSO send per run of
    /// equal sizes to one endpoint. Reads that bring one packet each (UDP,
    /// ICMP, ACKs) go on while more are waiting, up to [`DRAIN`] packets, so
    /// that those too leave in GSO sends.
    fn outbound(&mut self) -> io::Result<()> {
        let out = &mut self.outbound;
        out.segments.clear();
        let mut offset = 0;
        let mut read = 0;
        loop {
            let n =
                match self
                    .tun
                    .recv_multiple(&mut out.original, &mut out.packets, &mut out.sizes, 0)
                {
                    Ok(n) => n,
                    Err(e) if tun_fatal(&e) => return Err(e),
                    // Nothing more to read, or a malformed offload packet: dropped.
                    Err(_) => break,
                };
            read += n;
            for (packet, size) in out.packets.iter().zip(&out.sizes).take(n) {
                let packet = &packet[..*size];
                if packet.len() + 64 > out.room {
                    continue;
                }
                let room = &mut out.batch[offset..offset + out.room];
                if let Some((len, to)) = self.core.encapsulate(packet, room) {
                    out.segments.push(Segment { offset, len, to });
                    offset += len;
                }
            }
            if n != 1 || read >= DRAIN {
                break;
            }
            if read == 1 && !out.busy {
                // After a quiet spell a lone packet (a ping, a request)
                // leaves before the next read can tell whether more wait.
                self.net.send_segments(&out.batch, &out.segments);
                out.segments.clear();
                offset = 0;
            }
        }
        out.busy = read > 1;
        if read > 0 {
            self.last_tun = Instant::now();
        }
        self.net.send_segments(&out.batch, &out.segments);
        Ok(())
    }

    /// UDP → decrypt → check AllowedIPs → TUN. One `recvmmsg` brings up to
    /// 32 datagrams, each of which UDP GRO may have made of many of one
    /// sender; their decryptions go to the TUN in one batch that tun-rs
    /// coalesces (GRO) into TCP and UDP super-packets behind virtio-net headers.
    fn inbound(&mut self) -> io::Result<()> {
        let Engine {
            core,
            tun,
            net,
            inbound: inb,
            vnet,
            ..
        } = self;
        let head = if *vnet { VIRTIO_NET_HDR_LEN } else { 0 };
        match udp::recv_batch(
            net.socket.as_fd(),
            &mut inb.datagrams,
            BUF,
            &mut inb.received,
        ) {
            Ok(()) => {}
            // Nothing waiting, ICMP errors queued on the socket, a signal.
            Err(e) if transient(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut filled = 0;
        for got in &inb.received {
            let datagram = &inb.datagrams[got.slot * BUF..][..got.len];
            for chunk in datagram.chunks(got.segment.max(1)) {
                if filled == inb.slots.len() {
                    write_tun(tun, *vnet, &mut inb.gro, &mut inb.slots[..filled], head);
                    filled = 0;
                }
                let slot = &mut inb.slots[filled];
                // decapsulate writes at most the datagram's length (a reply to
                // a 148-byte initiation is shorter still); what it does not
                // write is cut off below, and tun-rs writes the header, so a
                // slot is only lengthened, never cleared.
                let need = head + chunk.len().max(148);
                if slot.capacity() < head + BUF {
                    slot.reserve_exact(head + BUF - slot.len());
                }
                if slot.len() < need {
                    slot.resize(need, 0);
                }
                match core.datagram(got.from, chunk, &mut slot[head..]) {
                    Received::Nothing => {}
                    Received::Tunnel(len) => {
                        slot.truncate(head + len);
                        filled += 1;
                    }
                    Received::Reply { len, to, flush } => {
                        net.send(&slot[head..head + len], to);
                        if let Some(index) = flush {
                            while let Some((len, to)) = core.queued(index, &mut inb.scratch) {
                                net.send(&inb.scratch[..len], to);
                            }
                        }
                    }
                }
            }
        }
        if filled > 0 {
            write_tun(tun, *vnet, &mut inb.gro, &mut inb.slots[..filled], head);
        }
        self.report_handshakes();
        Ok(())
    }

    fn report_handshakes(&mut self) {
        if self.report.is_none() {
            return;
        }
        let mut lines = Vec::new();
        for (index, peer) in self.core.peers().list.iter().enumerate() {
            if !self.reported[index] && peer.handshake_at.is_some() {
                self.reported[index] = true;
                lines.push(format!("handshake {index}"));
            }
        }
        for line in lines {
            self.say(&line);
        }
        if self.reported.iter().all(|r| *r) {
            self.report = None;
        }
    }

    /// The core's timers: handshakes, keepalives, rekeys.
    fn timers(&mut self) {
        let net = &self.net;
        self.core
            .tick(&mut self.inbound.scratch, |bytes, to| net.send(bytes, to));
        self.report_handshakes();
        if let Some(resolver) = self.resolver.as_mut() {
            let core = &self.core;
            resolver.ask_due(|index| core.handshake_age(index));
        }
    }

    /// New addresses for named endpoints: the next handshake goes there.
    fn resolved(&mut self) {
        let Some(resolver) = self.resolver.as_mut() else {
            return;
        };
        for (index, addr) in resolver.answers() {
            self.core.set_endpoint(index, addr);
        }
    }
}

impl Net {
    /// A v4 destination on a dual-stack socket is written v4-mapped.
    fn to_socket(&self, addr: SocketAddr) -> SocketAddr {
        match addr {
            SocketAddr::V4(v4) if self.is_v6 => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            other => other,
        }
    }

    /// Whether segments of `len` bytes may go in a GSO send (see `too_big`).
    fn fits(&mut self, len: usize) -> bool {
        match self.too_big {
            Some((_, since)) if since.elapsed() >= GSO_RETRY => {
                self.too_big = None;
                true
            }
            Some((refused, _)) => len < refused,
            None => true,
        }
    }

    fn send(&self, bytes: &[u8], to: SocketAddr) {
        // A failed send is a lost datagram; WireGuard and TCP recover.
        let _ = self.socket.send_to(bytes, self.to_socket(to));
    }

    /// Sends encrypted packets laid end to end in `batch`: runs of equal
    /// sizes to one endpoint (the last may be shorter) in one GSO send each.
    fn send_segments(&mut self, batch: &[u8], segments: &[Segment]) {
        let mut i = 0;
        while i < segments.len() {
            let first = segments[i];
            let (j, end) = gso_run(segments, i);
            let mut sent = false;
            if j - i > 1 && self.gso && self.fits(first.len) {
                let to = self.to_socket(first.to);
                let bytes = &batch[first.offset..end];
                match udp::send_segments(self.socket.as_fd(), bytes, first.len as u16, to) {
                    Ok(_) => sent = true,
                    // No GSO on this socket: one by one from now on.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP)
                        ) =>
                    {
                        self.gso = false
                    }
                    // Segments above the path MTU: GSO cannot fragment, a
                    // single send can. One by one for this size, for a while.
                    Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                        self.too_big = Some((first.len, Instant::now()))
                    }
                    Err(_) => sent = true, // lost, as a datagram may be
                }
            }
            if !sent {
                for segment in &segments[i..j] {
                    self.send(
                        &batch[segment.offset..segment.offset + segment.len],
                        segment.to,
                    );
                }
            }
            i = j;
        }
    }
}

/// The GSO run that starts at `segments[i]`: equal-sized segments to one
/// endpoint, laid end to end (the last may be shorter), at most
/// `udp::MAX_SEGMENTS` of them and `GSO_MAX_BYTES` in all. Returns the index
/// after its last segment and the offset where its bytes end.
fn gso_run(segments: &[Segment], i: usize) -> (usize, usize) {
    let first = segments[i];
    let mut end = first.offset + first.len;
    let mut j = i + 1;
    while j < segments.len()
        && j - i < udp::MAX_SEGMENTS
        && segments[j].to == first.to
        && segments[j].offset == end
        && segments[j - 1].len == first.len
        && segments[j].len <= first.len
        && end + segments[j].len <= GSO_MAX_BYTES
    {
        end += segments[j].len;
        j += 1;
    }
    (j, end)
}

/// Writes decrypted packets (each behind `head` bytes of room) to the TUN.
fn write_tun(
    tun: &tun_rs::SyncDevice,
    vnet: bool,
    gro: &mut Option<tun_rs::GROTable>,
    packets: &mut [Vec<u8>],
    head: usize,
) {
    // A failed write is a lost packet; TCP recovers.
    if vnet {
        let gro = gro.get_or_insert_with(tun_rs::GROTable::default);
        let _ = tun.send_multiple(gro, packets, head);
    } else {
        for packet in packets.iter() {
            let _ = tun.send(packet);
        }
    }
}

/// Whether the timers are due, `since` their last run: the timerfd's tick
/// may come a little before a whole [`TIMER_TICK`] has passed since then, and
/// waiting for the next would make every tick 500 ms (the first-handshake
/// retries too).
fn timers_due(since: Duration) -> bool {
    since + LINGER_TICK / 2 >= TIMER_TICK
}

/// Makes `clock` expire every `period`, starting one period from now.
fn set_period(clock: &impl AsFd, period: Duration) -> io::Result<()> {
    let every = rustix::time::Timespec {
        tv_sec: period.as_secs() as i64,
        tv_nsec: i64::from(period.subsec_nanos()),
    };
    let spec = Itimerspec {
        it_interval: every,
        it_value: every,
    };
    rustix::time::timerfd_settime(clock, TimerfdTimerFlags::empty(), &spec)?;
    Ok(())
}

/// `count` zeroed buffers of `len` bytes, each its own allocation: the
/// kernel maps zero pages on first touch, where `vec![vec![0; len]; count]`
/// would copy (and so fault in) every byte at start-up.
fn zeroed(count: usize, len: usize) -> Vec<Vec<u8>> {
    (0..count).map(|_| vec![0u8; len]).collect()
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

/// CLOCK_BOOTTIME, the core's clock: it goes on while the machine sleeps,
/// so sessions older than WireGuard allows are not used after a resume.
pub fn boottime() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_a_little_early_still_runs_the_timers() {
        assert!(timers_due(TIMER_TICK - Duration::from_micros(300)));
        assert!(timers_due(TIMER_TICK));
        // While lingering the timerfd ticks every 50 ms: not every one is due.
        assert!(!timers_due(LINGER_TICK));
        assert!(!timers_due(TIMER_TICK - LINGER_TICK));
    }

    /// Segments of `sizes` laid end to end, to `to[i]` (or the first).
    fn laid(sizes: &[usize], to: &[u16]) -> Vec<Segment> {
        let mut offset = 0;
        (sizes.iter().enumerate())
            .map(|(i, &len)| {
                let port = to.get(i).copied().unwrap_or(to[0]);
                let segment = Segment {
                    offset,
                    len,
                    to: SocketAddr::from(([198, 18, 0, 1], port)),
                };
                offset += len;
                segment
            })
            .collect()
    }

    fn runs(segments: &[Segment]) -> Vec<usize> {
        let mut i = 0;
        let mut counts = Vec::new();
        while i < segments.len() {
            let (j, end) = gso_run(segments, i);
            assert_eq!(end, segments[j - 1].offset + segments[j - 1].len);
            counts.push(j - i);
            i = j;
        }
        counts
    }

    #[test]
    fn gso_runs_are_equal_sizes_to_one_endpoint_the_last_shorter() {
        assert_eq!(runs(&laid(&[1452, 1452, 1452, 300], &[1])), [4]);
        // A shorter one ends the run; a longer one after it starts the next.
        assert_eq!(runs(&laid(&[1452, 300, 1452], &[1])), [2, 1]);
        // Another endpoint starts a run.
        assert_eq!(runs(&laid(&[1452, 1452, 1452], &[1, 1, 2])), [2, 1]);
        // A gap (a segment not right after the previous) starts a run.
        let mut gap = laid(&[1452, 1452], &[1]);
        gap[1].offset += 16;
        assert_eq!(runs(&gap), [1, 1]);
        // At most MAX_SEGMENTS and GSO_MAX_BYTES in a run.
        assert_eq!(
            runs(&laid(&[100; 70], &[1])),
            [udp::MAX_SEGMENTS, 70 - udp::MAX_SEGMENTS]
        );
        let big = GSO_MAX_BYTES / 1452;
        assert_eq!(runs(&laid(&vec![1452; big + 1], &[1])), [big, 1]);
    }
}
