//! Faults of the path and of the peer: a small path MTU, a server that goes
//! away and comes back, many wraps at once. Real engine, wireguard-go peer,
//! the unprivileged user; every run bounded in time.

mod common;

use common::net::Net;

/// A path MTU of 1300 (PPPoE, mobile, VPN in VPN) below the tunnel's: GSO
/// sends of full-sized segments are refused, and must not black-hole TCP.
#[test]
fn twenty_megabytes_both_ways_over_a_path_mtu_of_1300() {
    for mtu in ["", "MTU = 1420\n"] {
        let mut net = Net::with_wireguard_go_server();
        let (host, server) = net.veth(0);
        net.ip(&net.host_ns, &format!("link set {host} mtu 1300"));
        net.ip(&net.server_ns, &format!("link set {server} mtu 1300"));
        let profile = net.profile("198.19.0.0/24, fd00:19::/64");
        net.import("small", &profile.replace("[Peer]", &format!("{mtu}[Peer]")));
        net.assert_transfers_both_ways("small", 20 << 20);
    }
}

/// A receiver on port 9001 of the server netns: reads one connection to its
/// end (60 s at most) and writes the byte count and sha256 to `log`.
const RECEIVER: &str = "import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 9001)); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(1 << 16)
    if not d: break
    h.update(d); n += len(d)
open(sys.argv[1], 'w').write(f'{n} {h.hexdigest()}')";

/// PROG writes 20 MB into a 20 Mbit/s path, closes and exits at once: the
/// last megabytes are still in its socket's send queue, and the engine must
/// stay until they are delivered, as they would be without wg-wrap.
#[test]
fn data_still_queued_when_prog_exits_is_delivered() {
    let mut net = Net::with_wireguard_go_server();
    let (host, _) = net.veth(0);
    let shape = format!(
        "-n {} qdisc add dev {host} root tbf rate 20mbit burst 32kb latency 400ms",
        net.host_ns
    );
    common::net::run_ok(std::process::Command::new("tc").args(shape.split(' ')));
    net.import("slow", &net.profile("198.19.0.0/24"));
    let log = net.sb.root.join("received");
    let server_ns = net.server_ns.clone();
    net.spawn_in(
        &server_ns,
        "python3",
        &["-c", RECEIVER, log.to_str().unwrap()],
    );
    while !net
        .sh(&server_ns, "ss -Hltn 'sport = :9001'")
        .contains("9001")
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sender = format!(
        "import hashlib, socket
data = bytes(range(256)) * (20 * 4096)
s = socket.socket(); s.settimeout(30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
s.connect(('{}', 9001))
s.sendall(data); s.close()
print(len(data), hashlib.sha256(data).hexdigest())",
        common::net::SERVER_TUN
    );
    let start = std::time::Instant::now();
    let out = net.wrap(&["slow", "--", "python3", "-c", &sender]).run();
    let sent = out.ok().trim().to_string();
    let prog_took = start.elapsed();
    while !log.exists() && start.elapsed() < std::time::Duration::from_secs(70) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let received = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!(
        "PROG ended after {prog_took:?}; the receiver finished after {:?}",
        start.elapsed()
    );
    assert_eq!(received, sent, "the peer did not get all PROG wrote");
}
