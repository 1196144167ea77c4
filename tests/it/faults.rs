//! Faults of the path and of the peer: a small path MTU, a server that goes
//! away and comes back, many wraps at once. Real engine, wireguard-go peer,
//! the unprivileged user; every run bounded in time.

use crate::common::net::{self, Net};
use std::time::{Duration, Instant};

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
    net::run_ok(std::process::Command::new("tc").args(shape.split(' ')));
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
        std::thread::sleep(Duration::from_millis(20));
    }
    let sender = format!(
        "import hashlib, socket
data = bytes(range(256)) * (20 * 4096)
s = socket.socket(); s.settimeout(30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
s.connect(('{}', 9001))
s.sendall(data); s.close()
print(len(data), hashlib.sha256(data).hexdigest())",
        net::SERVER_TUN
    );
    let start = Instant::now();
    let out = net.wrap(&["slow", "--", "python3", "-c", &sender]).run();
    let sent = out.ok().trim().to_string();
    let prog_took = start.elapsed();
    while !log.exists() && start.elapsed() < Duration::from_secs(70) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let received = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!(
        "PROG ended after {prog_took:?}; the receiver finished after {:?}",
        start.elapsed()
    );
    assert_eq!(received, sent, "the peer did not get all PROG wrote");
}

/// Downloads `url` into a file inside PROFILE and prints its size and sha256,
/// then the server's sha256 of it.
fn fetch_and_check(net: &Net, args: &[&str], max_time: u32) -> crate::common::Out {
    let script = format!(
        "set -e
         curl -sS --max-time {max_time} -o blob http://{t}:8000/blob
         wc -c < blob
         sha256sum blob | cut -d' ' -f1
         curl -sS --max-time 10 http://{t}:8000/blob.sha256
         rm blob",
        t = net::SERVER_TUN
    );
    net.wrap(args).args(["sh", "-c", &script]).run()
}

/// The size and both checksums agree.
fn assert_intact(out: &crate::common::Out, size: usize) {
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_eq!(lines[0].trim(), size.to_string(), "short download");
    assert_eq!(lines[1], lines[2], "download corrupted");
}

/// 5% loss, 25% reordering, 5% duplication and 1% corruption on the path
/// (an impairment relay between the engine and the server): TCP through the
/// tunnel still delivers 20 MB intact.
#[test]
fn twenty_megabytes_arrive_intact_through_loss_reordering_duplication_and_corruption() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("x", 20 << 20);
    let relay = net.sb.root.join("impair.py");
    std::fs::write(&relay, include_str!("common/impair.py")).unwrap();
    let host_ns = net.host_ns.clone();
    let server = format!("{}", net::SERVER_PORT);
    let relay = relay.to_str().unwrap().to_string();
    let counts = net.sb.root.join("impaired");
    let counts_arg = counts.to_str().unwrap().to_string();
    let args = [
        relay.as_str(),
        "51900",
        net::SERVER_VETH,
        &server,
        "150",
        &counts_arg,
    ];
    net.spawn_in(&host_ns, "python3", &args);
    while !net
        .sh(&host_ns, "ss -Hlun 'sport = :51900'")
        .contains("51900")
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let through_relay = net.profile("198.19.0.0/24").replace(
        &format!("Endpoint = {}:{}", net::SERVER_VETH, net::SERVER_PORT),
        "Endpoint = 127.0.0.1:51900",
    );
    net.import("rough", &through_relay);
    let out = fetch_and_check(&net, &["rough", "--"], 120);
    assert_intact(&out, 20 << 20);
    std::thread::sleep(Duration::from_millis(1100));
    let counts = std::fs::read_to_string(&counts).unwrap_or_default();
    eprintln!("the relay: {counts}");
    for what in ["lost", "duplicated", "corrupted", "reordered"] {
        let n = counts
            .split(' ')
            .find_map(|c| c.strip_prefix(&format!("{what}=")));
        assert!(n.is_some_and(|n| n != "0"), "nothing {what}: {counts:?}");
    }
}

/// The server goes away for 5 s in the middle of a download (its interface,
/// sessions and routes with it) and comes back as a new process: the client
/// handshakes again and the download completes.
#[test]
fn a_download_survives_the_server_restarting_after_5_seconds() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("x", 20 << 20);
    let (_, server_veth) = net.veth(0);
    let shape = format!(
        "-n {} qdisc add dev {server_veth} root tbf rate 20mbit burst 32kb latency 400ms",
        net.server_ns
    );
    net::run_ok(std::process::Command::new("tc").args(shape.split(' ')));
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let script = format!(
        "curl -sS --max-time 100 -o blob http://{t}:8000/blob && wc -c < blob && sha256sum blob | cut -d' ' -f1 && curl -sS --max-time 10 http://{t}:8000/blob.sha256",
        t = net::SERVER_TUN
    );
    let download = net.wrap(&["vpn", "--", "sh", "-c", &script]).spawn();
    std::thread::sleep(Duration::from_secs(3));
    net.stop_server(0);
    std::thread::sleep(Duration::from_secs(5));
    net.start_wireguard_go(0);
    assert_intact(&download.wait(), 20 << 20);
}

/// Waits (at most `within`, since `what`) until the server has a handshake
/// from the client.
fn wait_for_handshake(net: &Net, within: Duration, what: &str) {
    let started = Instant::now();
    let client = net.client.public.clone();
    let handshake = || {
        let out = net.sh(
            &net.server_ns,
            &format!("wg show {} latest-handshakes", net.wg_iface),
        );
        out.lines()
            .any(|l| l.starts_with(&client) && !l.trim_end().ends_with("\t0"))
    };
    while !handshake() {
        assert!(
            started.elapsed() < within,
            "no handshake from the client within {within:?} {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `curl URL` inside pinned namespace NAME.
fn fetch_in(net: &Net, name: &str, url: &str, max_time: &str) -> crate::common::Out {
    let args = [
        "--join",
        name,
        "--",
        "curl",
        "-sS",
        "--max-time",
        max_time,
        url,
    ];
    net.wrap(&args).run()
}

/// The server is gone for 150 s, long enough for the handshake retries a
/// request started to give up (90 s), then comes back. With a
/// PersistentKeepalive the client handshakes again by itself, without a
/// packet from any program, and the next request completes.
#[test]
fn after_a_150_second_outage_the_tunnel_comes_back_by_itself() {
    let mut net = Net::with_wireguard_go_server();
    let profile = net.profile("198.19.0.0/24") + "PersistentKeepalive = 25\n";
    net.import("vpn", &profile);
    net.wrap(&["--pin", "outage", "vpn", "--", "true"])
        .run()
        .ok();
    let url = format!("http://{}:8000/token", net::SERVER_TUN);
    net.stop_server(0);
    let failed = fetch_in(&net, "outage", &url, "3");
    assert_ne!(failed.code, 0, "reached a server that is gone: {failed:?}");
    std::thread::sleep(Duration::from_secs(150));
    net.start_wireguard_go(0);
    let back = Instant::now();
    wait_for_handshake(&net, Duration::from_secs(60), "of the server's return");
    // The test's HTTP server lives 120 s: started now, for the request after.
    net.start_httpd("back", 1);
    eprintln!(
        "the client handshook {:?} after the server's return",
        back.elapsed()
    );
    assert_eq!(fetch_in(&net, "outage", &url, "10").ok().trim(), "back");
    net.cmd("wg-pin").args(["--remove", "outage"]).run().ok();
}

/// 16 wraps at once, each with a profile (and key) of its own against one
/// server: every download intact, and nothing left behind.
#[test]
fn sixteen_wraps_at_once_each_with_its_own_profile() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("x", 1 << 20);
    let mut runs = Vec::new();
    for i in 0..16 {
        let keys = net::Keys::generate();
        let address = format!("198.19.0.{}", 10 + i);
        net.wg(&[
            "peer",
            &keys.public,
            "allowed-ips",
            &format!("{address}/32"),
        ]);
        let profile = format!(
            "[Interface]\nPrivateKey = {}\nAddress = {address}/32\n{}",
            keys.private,
            net.peer_section(0, "198.19.0.0/24")
        );
        let name = format!("c{i}");
        net.import(&name, &profile);
        let script = format!(
            "curl -sS --max-time 60 -o blob{i} http://{t}:8000/blob && wc -c < blob{i} && sha256sum blob{i} | cut -d' ' -f1 && curl -sS --max-time 10 http://{t}:8000/blob.sha256 && rm blob{i}",
            t = net::SERVER_TUN
        );
        runs.push(net.wrap(&[&name, "--", "sh", "-c", &script]).spawn());
    }
    for run in runs {
        assert_intact(&run.wait(), 1 << 20);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !net.sb.processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(net.sb.processes(), [], "left behind");
    assert_eq!(
        net.sb.runtime_files(),
        Vec::<String>::new(),
        "runtime files left"
    );
}

/// The engine's resident memory (kB) and open descriptors.
fn engine_footprint(pid: &str) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:"));
    let rss = rss.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss.unwrap_or(0), fds)
}

/// Five minutes of traffic (bounded): two rekeys (at 120 and 240 s) pass
/// without a stall, and the engine's memory and descriptors stay flat.
#[test]
fn five_minutes_of_traffic_cross_two_rekeys_without_a_stall_or_growth() {
    let mut net = Net::with_wireguard_go_server();
    let server_ns = net.server_ns.clone();
    net.spawn_in(&server_ns, "iperf3", &["-s", "-p", "5201"]);
    net.import("soak", &net.profile("198.19.0.0/24"));
    net.wrap(&["--pin", "soak", "soak", "--", "true"])
        .run()
        .ok();
    let engine = net.pin_engine("soak");
    let argv = [
        "--join",
        "soak",
        "--",
        "iperf3",
        "-c",
        net::SERVER_TUN,
        "-p",
        "5201",
    ];
    let iperf = net
        .wrap(&argv)
        .args(["-t", "300", "-i", "1", "-b", "100M", "-f", "m"])
        .spawn();
    std::thread::sleep(Duration::from_secs(10));
    let (rss0, fds0) = engine_footprint(&engine);
    let mut samples = Vec::new();
    for _ in 0..29 {
        std::thread::sleep(Duration::from_secs(10));
        samples.push(engine_footprint(&engine));
    }
    let report = iperf.wait();
    let intervals: Vec<&str> = (report.ok().lines())
        .filter(|l| {
            l.contains("sec")
                && l.contains("Mbits/sec")
                && !l.contains("sender")
                && !l.contains("receiver")
        })
        .collect();
    assert!(intervals.len() >= 295, "{report:?}");
    let stalled: Vec<&&str> = intervals
        .iter()
        .filter(|l| l.contains(" 0.00 Bytes"))
        .collect();
    assert!(stalled.is_empty(), "seconds without traffic: {stalled:?}");
    // The session began at 0 s; 310 s later a handshake under 100 s old can
    // only be a rekey (at about 120 s, then 240 s).
    let shown = net.sh(
        &net.server_ns,
        &format!("wg show {} latest-handshakes", net.wg_iface),
    );
    let last: u64 = shown
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(
        now.as_secs().saturating_sub(last) < 100,
        "no rekey: {shown}"
    );
    eprintln!("engine after 10 s: {rss0} kB, {fds0} fds; then every 10 s: {samples:?}");
    for (rss, fds) in samples {
        assert!(rss * 10 <= rss0 * 11, "RSS grew from {rss0} to {rss} kB");
        assert!(
            fds * 10 <= fds0 * 11,
            "descriptors grew from {fds0} to {fds}"
        );
    }
    net.cmd("wg-pin").args(["--remove", "soak"]).run().ok();
}

/// An engine ended by SIGKILL cannot remove its status socket: the next
/// look at the live namespaces does, with the stale entry.
#[test]
fn a_killed_engines_status_socket_is_removed_with_its_entry() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.wrap(&["--pin", "killed", "vpn", "--", "true"])
        .run()
        .ok();
    let engine = net.pin_engine("killed");
    let socket = format!("engine-{engine}.sock");
    assert!(net.sb.runtime_files().iter().any(|f| f.ends_with(&socket)));
    net::run_ok(std::process::Command::new("kill").args(["-KILL", &engine]));
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{engine}")).exists() {
        assert!(Instant::now() < deadline, "the engine outlived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
    net.wrap(&["status"]).run();
    let left: Vec<String> = net.sb.runtime_files();
    assert!(!left.iter().any(|f| f.ends_with(&socket)), "left: {left:?}");
}

/// An engine that cannot start (here: its status socket's path is longer
/// than a UNIX socket address holds) says why, PROG does not run, and
/// nothing is left in the runtime directory: with the handshake wait, and
/// without it (wg-exec then waits for the engine, just before PROG).
#[test]
fn an_engine_that_cannot_start_says_why_and_prog_does_not_run() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let long = net.sb.home.join("r".repeat(100));
    std::fs::create_dir(&long).unwrap();
    net.sb.chown(&long);
    for wait in [&["--handshake-timeout", "0"][..], &[]] {
        let out = (net.wrap(&["-q"]).args(wait))
            .args(["vpn", "--", "sh", "-c", "echo PROG RAN"])
            .env("XDG_RUNTIME_DIR", &long)
            .run();
        // Said by wg-up, or by wg-exec when wg-up did not wait.
        let said = out.fails(125, ": the engine failed: cannot create the status socket ");
        assert!(
            said.starts_with("wg-up: ") || said.starts_with("wg-exec: "),
            "{said}"
        );
        assert!(!out.stdout.contains("PROG RAN"), "{out:?}");
        let live = long.join("wg-wrap/live");
        let left: Vec<_> = std::fs::read_dir(&live)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in {}: {left:?}", live.display());
    }
}

/// An endpoint name whose address changes: resolved at the start to an
/// address where nothing answers, then the name moves to the server (the
/// host's /etc/hosts, in a mount namespace of the test's own). After 2
/// minutes without a handshake the name is resolved again on the host side
/// and the tunnel comes up by itself; the pin lists the new endpoint.
#[test]
fn an_endpoint_name_is_resolved_again_when_handshakes_stop() {
    let mut net = Net::with_wireguard_go_server();
    let hosts = net.sb.root.join("hosts");
    std::fs::write(&hosts, "198.18.0.99 vpn-endpoint.test\n").unwrap();
    let profile = net.profile("198.19.0.0/24").replace(
        &format!("Endpoint = {}:", net::SERVER_VETH),
        "Endpoint = vpn-endpoint.test:",
    );
    assert!(profile.contains("vpn-endpoint.test"));
    net.import("named", &profile);
    net.wrap(&[
        "--pin",
        "named",
        "--handshake-timeout",
        "0",
        "named",
        "--",
        "true",
    ])
    .in_host_layout(&format!("mount --bind {} /etc/hosts", hosts.display()))
    .run()
    .ok();
    let list = net.cmd("wg-pin").arg("--list").run();
    assert!(list.ok().contains("endpoint=198.18.0.99:"), "{list:?}");
    // The name moves (written in place: the bind mount stays).
    std::fs::write(&hosts, format!("{} vpn-endpoint.test\n", net::SERVER_VETH)).unwrap();
    wait_for_handshake(&net, Duration::from_secs(200), "of the name moving");
    let list = net.cmd("wg-pin").arg("--list").run();
    assert!(
        list.ok()
            .contains(&format!("endpoint={}:", net::SERVER_VETH)),
        "{list:?}"
    );
    // The test's HTTP server lives 120 s: started now.
    net.start_httpd("moved", 1);
    let url = format!("http://{}:8000/token", net::SERVER_TUN);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut fetch = fetch_in(&net, "named", &url, "5");
    while fetch.code != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        fetch = fetch_in(&net, "named", &url, "5");
    }
    assert_eq!(fetch.ok(), "moved\n");
    net.cmd("wg-pin").args(["--remove", "named"]).run().ok();
}
