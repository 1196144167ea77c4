//! Two cores against each other in memory, with a fake clock: a client A
//! (with B's endpoint) and a server B (without A's), and an attacker who can
//! send any datagram from its own address.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blake2::digest::{FixedOutput, Mac, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use boringtun::x25519::{PublicKey, StaticSecret};
use std::collections::VecDeque;

const A_KEY: [u8; 32] = [0x11; 32];
const B_KEY: [u8; 32] = [0x22; 32];
const A_INNER: [u8; 4] = [198, 19, 0, 2];
const B_INNER: [u8; 4] = [198, 19, 0, 1];
const TICK: Duration = Duration::from_millis(250);

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn attacker() -> SocketAddr {
    addr("198.18.0.66:6666")
}

fn public(secret: [u8; 32]) -> [u8; 32] {
    *PublicKey::from(&StaticSecret::from(secret)).as_bytes()
}

fn profile(own: [u8; 32], peer: [u8; 32], allowed: &str, extra: &str) -> Conf {
    let text = format!(
        "[Interface]\nPrivateKey = {}\nAddress = 198.19.0.9/32\n\
         [Peer]\nPublicKey = {}\nAllowedIPs = {allowed}\n{extra}",
        STANDARD.encode(own),
        STANDARD.encode(public(peer)),
    );
    Conf::parse(&text, "t.conf").unwrap().conf
}

/// An IPv4 UDP packet from `src` to `dst` carrying `payload`.
fn ipv4(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let len = 28 + payload.len();
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&4000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5000u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

/// WireGuard's mac1 over `msg` (all but the two macs) for `receiver`'s key.
fn mac1(receiver: [u8; 32], msg: &[u8]) -> [u8; 16] {
    let key: [u8; 32] = Blake2s256::new()
        .chain_update(b"mac1----")
        .chain_update(public(receiver))
        .finalize()
        .into();
    let mut mac = <Blake2sMac<blake2::digest::consts::U16> as Mac>::new_from_slice(&key).unwrap();
    Update::update(&mut mac, msg);
    mac.finalize_fixed().into()
}

struct Node {
    core: Core,
    addr: SocketAddr,
    /// What the core wrote to its TUN.
    tun: Vec<Vec<u8>>,
}

/// One datagram on the wire.
#[derive(Clone)]
struct Datagram {
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

struct World {
    now: Duration,
    a: Node,
    b: Node,
    wire: VecDeque<Datagram>,
    /// Every datagram delivered or sent to an address no node has.
    seen: Vec<Datagram>,
    /// B is unreachable: what is sent to it is lost.
    b_down: bool,
}

impl World {
    fn new(a_extra: &str) -> World {
        World::with(
            profile(
                A_KEY,
                B_KEY,
                "198.19.0.1/32",
                &format!("Endpoint = 198.18.0.1:51820\n{a_extra}"),
            ),
            profile(B_KEY, A_KEY, "198.19.0.2/32", ""),
        )
    }

    fn with(a: Conf, b: Conf) -> World {
        let now = Duration::from_secs(1000);
        let node = |conf: &Conf, at: &str| Node {
            core: Core::new(conf, now),
            addr: addr(at),
            tun: Vec::new(),
        };
        World {
            now,
            a: node(&a, "198.18.0.2:40000"),
            b: node(&b, "198.18.0.1:51820"),
            wire: VecDeque::new(),
            seen: Vec::new(),
            b_down: false,
        }
    }

    fn node(&mut self, at: SocketAddr) -> Option<&mut Node> {
        [&mut self.a, &mut self.b]
            .into_iter()
            .find(|n| n.addr == at)
    }

    /// Delivers what is on the wire, and what that causes, until it is quiet.
    fn run(&mut self) {
        let mut out = vec![0u8; 2048];
        while let Some(d) = self.wire.pop_front() {
            self.seen.push(d.clone());
            if self.b_down && d.to == self.b.addr {
                continue;
            }
            let Some(node) = self.node(d.to) else {
                continue;
            };
            let mut sent = Vec::new();
            match node.core.datagram(d.from, &d.bytes, &mut out) {
                Received::Nothing => {}
                Received::Tunnel(len) => node.tun.push(out[..len].to_vec()),
                Received::Reply { len, to, flush } => {
                    sent.push((out[..len].to_vec(), to));
                    while let Some(index) = flush {
                        let Some((len, to)) = node.core.queued(index, &mut out) else {
                            break;
                        };
                        sent.push((out[..len].to_vec(), to));
                    }
                }
            }
            let from = node.addr;
            for (bytes, to) in sent {
                self.wire.push_back(Datagram { from, to, bytes });
            }
        }
    }

    /// `packet` enters A's (or B's) TUN; then the wire runs.
    fn send(&mut self, from_a: bool, packet: &[u8]) {
        let node = if from_a { &mut self.a } else { &mut self.b };
        let mut out = vec![0u8; 2048];
        if let Some((len, to)) = node.core.encapsulate(packet, &mut out) {
            let from = node.addr;
            let bytes = out[..len].to_vec();
            self.wire.push_back(Datagram { from, to, bytes });
        }
        self.run();
    }

    fn inject(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.wire.push_back(Datagram { from, to, bytes });
        self.run();
    }

    /// Both timers once, after moving the clock on by `step`.
    fn tick(&mut self, step: Duration) {
        self.now += step;
        let mut out = vec![0u8; 2048];
        for node in [&mut self.a, &mut self.b] {
            node.core.set_time(self.now);
            let from = node.addr;
            let wire = &mut self.wire;
            node.core.tick(&mut out, |bytes, to| {
                let bytes = bytes.to_vec();
                wire.push_back(Datagram { from, to, bytes });
            });
        }
        self.run();
    }

    /// `span` of ticks.
    fn wait(&mut self, span: Duration) {
        let end = self.now + span;
        while self.now < end {
            self.tick(TICK);
        }
    }

    /// The first tick: A's initiation, B's response, A's keepalive.
    fn handshake(&mut self) {
        self.tick(Duration::ZERO);
        assert!(
            self.a.core.peers().list[0]
                .tunn
                .time_since_last_handshake()
                .is_some()
        );
    }

    fn a_endpoint(&self) -> Option<SocketAddr> {
        self.a.core.peers().list[0].endpoint
    }

    fn b_endpoint(&self) -> Option<SocketAddr> {
        self.b.core.peers().list[0].endpoint
    }

    /// One packet each way; true when both arrived intact.
    fn both_ways(&mut self, tag: &[u8]) -> bool {
        let (to_b, to_a) = (ipv4(A_INNER, B_INNER, tag), ipv4(B_INNER, A_INNER, tag));
        self.send(true, &to_b);
        self.send(false, &to_a);
        self.b.tun.last() == Some(&to_b) && self.a.tun.last() == Some(&to_a)
    }

    /// A fresh handshake initiation from A (or B), not sent.
    fn initiation(&mut self, from_a: bool) -> Vec<u8> {
        let node = if from_a { &mut self.a } else { &mut self.b };
        let mut out = vec![0u8; 2048];
        match node.core.peers.list[0]
            .tunn
            .format_handshake_initiation(&mut out, true)
        {
            TunnResult::WriteToNetwork(init) => init.to_vec(),
            other => panic!("no initiation: {other:?}"),
        }
    }

    /// Datagrams seen of WireGuard message `kind` (1 to 4) sent by `from`.
    fn count(&self, kind: u8, from: SocketAddr) -> usize {
        (self.seen.iter())
            .filter(|d| d.from == from && d.bytes[0] == kind)
            .count()
    }
}

#[test]
fn handshake_then_data_both_ways() {
    let mut w = World::new("");
    let packet = ipv4(A_INNER, B_INNER, b"queued before the handshake");
    // No session yet: the packet waits, an initiation goes out, and the
    // packet follows the handshake.
    w.send(true, &packet);
    assert_eq!(w.b.tun, vec![packet]);
    assert_eq!(w.count(1, w.a.addr), 1);
    assert_eq!(w.count(2, w.b.addr), 1);
    assert_eq!(w.b_endpoint(), Some(w.a.addr), "B learns A's endpoint");
    assert!(w.both_ways(b"then both ways"));
    assert_eq!(w.a.core.counters().key_exchanges, 1);
    assert_eq!(w.b.core.counters().key_exchanges, 1);
}

#[test]
fn a_session_is_rekeyed_after_120_seconds_without_losing_a_packet() {
    let mut w = World::new("");
    w.handshake();
    for second in (0..300).step_by(5) {
        assert!(
            w.both_ways(format!("at {second}s").as_bytes()),
            "at {second}s"
        );
        w.wait(Duration::from_secs(5));
    }
    let initiations = w.count(1, w.a.addr);
    assert!(
        (2..=4).contains(&initiations),
        "{initiations} initiations in 300 s"
    );
    let age = w.a.core.peers().list[0].tunn.time_since_last_handshake();
    assert!(age.unwrap() < Duration::from_secs(125), "{age:?}");
}

#[test]
fn a_persistent_keepalive_leaves_an_idle_tunnel_every_25_seconds() {
    let mut w = World::new("PersistentKeepalive = 25\n");
    w.handshake();
    let before = w.seen.len();
    w.wait(Duration::from_secs(60));
    let keepalives: Vec<_> = w.seen[before..]
        .iter()
        .filter(|d| d.from == w.a.addr && d.bytes[0] == 4 && d.bytes.len() == 32)
        .collect();
    assert_eq!(keepalives.len(), 2, "two keepalives in 60 idle seconds");
    assert!(w.b.tun.is_empty(), "a keepalive reaches no TUN");
    // Without the option, an idle tunnel stays silent.
    let mut quiet = World::new("");
    quiet.handshake();
    let before = quiet.seen.len();
    quiet.wait(Duration::from_secs(60));
    assert_eq!(quiet.seen.len(), before);
}

#[test]
fn an_authenticated_packet_from_a_new_address_moves_the_endpoint() {
    let mut w = World::new("");
    w.handshake();
    w.a.addr = addr("198.18.5.5:41000");
    assert!(w.both_ways(b"A roamed"));
    assert_eq!(w.b_endpoint(), Some(addr("198.18.5.5:41000")));
    assert_eq!(w.seen.last().unwrap().to, addr("198.18.5.5:41000"));
}

/// The hijack: forged handshake responses with a valid mac1 (which needs
/// only A's public key), enough to put A under load.
#[test]
fn forged_handshake_responses_change_nothing() {
    let mut w = World::new("");
    w.handshake();
    let b = w.b.addr;
    for i in 0..(3 * HANDSHAKE_LIMIT) {
        let mut msg = vec![2, 0, 0, 0];
        msg.extend_from_slice(&(i as u32).to_le_bytes()); // sender
        msg.extend_from_slice(&0u32.to_le_bytes()); // receiver: peer 0
        msg.extend(std::iter::repeat_n(0x5a, 48));
        msg.extend_from_slice(&mac1(A_KEY, &msg));
        msg.extend_from_slice(&[0; 16]);
        w.inject(attacker(), w.a.addr, msg);
    }
    assert_eq!(w.a_endpoint(), Some(b), "the endpoint stayed");
    assert!(
        w.count(3, w.a.addr) > 0,
        "A was under load and sent cookies"
    );
    assert!(w.both_ways(b"still up"));
    assert!(w.seen.iter().all(|d| d.to != attacker() || d.bytes[0] == 3));
}

#[test]
fn cookie_replies_change_nothing() {
    let mut w = World::new("");
    w.handshake();
    let b = w.b.addr;
    // A genuine cookie reply needs B under load while A initiates: flood B
    // with a copy of A's initiation, then let A rekey.
    let init = w
        .seen
        .iter()
        .find(|d| d.bytes[0] == 1)
        .unwrap()
        .bytes
        .clone();
    for _ in 0..2 * HANDSHAKE_LIMIT {
        w.inject(attacker(), w.b.addr, init.clone());
    }
    let mut out = vec![0u8; 2048];
    let fresh = w.initiation(true);
    let Received::Reply { len, .. } = w.b.core.datagram(w.a.addr, &fresh, &mut out) else {
        panic!("B under load did not answer with a cookie");
    };
    let cookie = out[..len].to_vec();
    assert_eq!(cookie[0], 3);
    // Delivered from the attacker's address (or anyone's): taken, no roaming.
    w.inject(attacker(), w.a.addr, cookie);
    assert_eq!(w.a_endpoint(), Some(b));
    // And a forged one.
    let mut forged = vec![3, 0, 0, 0];
    forged.extend_from_slice(&w.seen[0].bytes[4..8]);
    forged.extend(std::iter::repeat_n(0x77, 56));
    w.inject(attacker(), w.a.addr, forged);
    assert_eq!(w.a_endpoint(), Some(b));
    assert!(w.both_ways(b"still up"));
}

#[test]
fn replayed_packets_change_nothing() {
    let mut w = World::new("");
    w.handshake();
    let (a, b) = (w.a.addr, w.b.addr);
    assert!(w.both_ways(b"recorded"));
    let data = w.seen.iter().rev().find(|d| d.from == b && d.bytes[0] == 4);
    let data = data.unwrap().bytes.clone();
    let init = w
        .seen
        .iter()
        .find(|d| d.bytes[0] == 1)
        .unwrap()
        .bytes
        .clone();
    let response = w
        .seen
        .iter()
        .find(|d| d.bytes[0] == 2)
        .unwrap()
        .bytes
        .clone();
    let delivered = w.a.tun.len();
    w.inject(attacker(), a, data);
    w.inject(attacker(), b, init);
    w.inject(attacker(), a, response);
    assert_eq!(
        w.a.tun.len(),
        delivered,
        "a replayed packet reached the TUN"
    );
    assert_eq!((w.a_endpoint(), w.b_endpoint()), (Some(b), Some(a)));
    assert!(
        w.seen.iter().all(|d| d.to != attacker()),
        "a replay was answered"
    );
    assert!(w.both_ways(b"still up"));
}

#[test]
fn packets_from_outside_the_peers_allowed_ips_are_dropped() {
    let mut w = World::new("");
    w.handshake();
    let spoofed = ipv4([198, 19, 0, 9], A_INNER, b"not from B's AllowedIPs");
    w.send(false, &spoofed);
    assert!(
        w.a.tun.is_empty(),
        "a packet outside AllowedIPs reached the TUN"
    );
    let fine = ipv4(B_INNER, A_INNER, b"from B's AllowedIPs");
    w.send(false, &fine);
    assert_eq!(w.a.tun, vec![fine]);
    // Nor does a packet for an address no peer has leave.
    let mut out = vec![0u8; 2048];
    assert_eq!(
        w.a.core
            .encapsulate(&ipv4(A_INNER, [203, 0, 113, 1], b"x"), &mut out),
        None
    );
}

#[test]
fn a_flood_of_fake_initiations_costs_no_key_exchange() {
    let mut w = World::new("");
    let b = w.b.addr;
    // Random bytes of an initiation's size and type: mac1 fails.
    let mut junk = vec![0u8; 148];
    for i in 0..10_000u32 {
        junk[..4].copy_from_slice(&[1, 0, 0, 0]);
        junk[4..8].copy_from_slice(&i.to_le_bytes());
        junk[8..]
            .iter_mut()
            .for_each(|x| *x = x.wrapping_mul(31).wrapping_add(i as u8));
        w.inject(attacker(), b, junk.clone());
    }
    assert_eq!(w.b.core.counters().key_exchanges, 0);
    assert_eq!(w.b.core.counters().rejected, 10_000);
    assert!(
        w.seen.iter().all(|d| d.to != attacker()),
        "junk was answered"
    );

    // Initiations with a valid mac1 (anyone with B's public key can make
    // them; here a recorded one): past the limit, cookie replies only.
    w.handshake();
    let init = w
        .seen
        .iter()
        .find(|d| d.from == w.a.addr && d.bytes[0] == 1);
    let init = init.unwrap().bytes.clone();
    let before = w.b.core.counters();
    for _ in 0..10_000 {
        w.inject(attacker(), b, init.clone());
    }
    let after = w.b.core.counters();
    let exchanges = after.key_exchanges - before.key_exchanges;
    assert!(exchanges <= HANDSHAKE_LIMIT, "{exchanges} key exchanges");
    assert!(
        after.cookie_replies - before.cookie_replies >= 10_000 - HANDSHAKE_LIMIT,
        "{before:?} {after:?}"
    );
    assert!(w.seen.iter().all(|d| d.to != attacker() || d.bytes[0] == 3));

    // A real peer still gets through under load: its initiation gets a
    // cookie, its next one carries mac2.
    let first = w.initiation(true);
    w.inject(w.a.addr, b, first);
    assert!(
        w.seen.last().unwrap().bytes[0] == 3,
        "no cookie for A under load"
    );
    let handshakes = w.count(2, b);
    // 10 ms on: a later timestamp, and B's rate-limit second not yet over.
    w.now += Duration::from_millis(10);
    w.a.core.set_time(w.now);
    w.b.core.set_time(w.now);
    let second = w.initiation(true);
    w.inject(w.a.addr, b, second);
    assert_eq!(
        w.count(2, b),
        handshakes + 1,
        "A's mac2 initiation was not answered"
    );
    assert!(w.both_ways(b"through the flood"));
}

/// The server is gone long enough for boringtun to give up on it (90 s of
/// unanswered initiations), then comes back as a new process.
fn outage(retry: &str, pinned: bool, outage: u64) -> (World, Duration) {
    let mut w = World::new(retry);
    if pinned {
        w.a.core.retry_expired(Some(PINNED_RETRY));
    }
    w.handshake();
    w.b_down = true;
    // A packet from PROG that gets no answer starts the retries.
    w.wait(Duration::from_secs(1));
    w.send(true, &ipv4(A_INNER, B_INNER, b"into the outage"));
    w.wait(Duration::from_secs(outage));
    w.b = Node {
        core: Core::new(&profile(B_KEY, A_KEY, "198.19.0.2/32", ""), w.now),
        addr: w.b.addr,
        tun: Vec::new(),
    };
    w.b_down = false;
    let back = w.now;
    let mut waited = Duration::ZERO;
    while w.b.core.handshake_age(0).is_none() && waited < Duration::from_secs(60) {
        w.tick(TICK);
        waited += TICK;
    }
    (w, back)
}

#[test]
fn an_expired_peer_with_a_keepalive_is_tried_again_every_interval() {
    for seconds in [150, 400] {
        let (mut w, back) = outage("PersistentKeepalive = 25\n", false, seconds);
        let age = w.b.core.handshake_age(0);
        assert!(
            age.is_some(),
            "{seconds} s: no handshake within 60 s of the return"
        );
        let after = w.now - back;
        assert!(
            after <= Duration::from_secs(26),
            "{seconds} s: back after {after:?}"
        );
        assert!(w.both_ways(b"back"));
    }
}

#[test]
fn a_pinned_namespace_retries_expired_peers_without_a_keepalive() {
    let (mut w, back) = outage("", true, 150);
    assert!(
        w.b.core.handshake_age(0).is_some(),
        "no handshake after the return"
    );
    assert!(
        w.now - back <= Duration::from_secs(26),
        "back after {:?}",
        w.now - back
    );
    assert!(w.both_ways(b"back"));
    // Unpinned and without a keepalive, boringtun's rule holds: a packet
    // from the TUN restarts the handshake, nothing else does.
    let (mut quiet, _) = outage("", false, 150);
    assert_eq!(quiet.b.core.handshake_age(0), None);
    assert!(quiet.both_ways(b"a packet brings it back"));
}

#[test]
fn the_last_handshake_is_remembered_after_the_session_expires() {
    let mut w = World::new("");
    w.handshake();
    w.wait(Duration::from_secs(600));
    assert_eq!(
        w.a.core.peers().list[0].tunn.time_since_last_handshake(),
        None
    );
    let age = w.a.core.handshake_age(0).unwrap();
    assert!(age >= Duration::from_secs(600), "{age:?}");
}

/// An initiation B once sent, replayed to a restarted A (which no longer
/// remembers B's timestamps, so it is valid again): A answers it where it
/// came from, but its endpoint stays and its tunnel carries on.
#[test]
fn an_old_initiation_replayed_to_a_restarted_engine_moves_nothing() {
    let mut w = World::new("");
    w.handshake();
    let old = w.initiation(false);
    // A restarts, and handshakes with B afresh.
    let a_conf = profile(
        A_KEY,
        B_KEY,
        "198.19.0.1/32",
        "Endpoint = 198.18.0.1:51820\n",
    );
    w.a.core = Core::new(&a_conf, w.now);
    w.now += Duration::from_secs(1);
    w.tick(Duration::ZERO);
    assert!(w.both_ways(b"after the restart"));
    let b = w.b.addr;
    w.inject(attacker(), w.a.addr, old);
    assert_eq!(
        w.count(2, w.a.addr),
        1,
        "the replay was not answered at all"
    );
    assert_eq!(
        w.a_endpoint(),
        Some(b),
        "the endpoint moved to the replayer"
    );
    assert!(w.both_ways(b"still to B"));
    assert!(w.seen.iter().all(|d| d.to != attacker() || d.bytes[0] == 2));
}
