//! The tunnel as a user sees it: wg-wrap as an unprivileged user in a "host"
//! netns, wireguard-go as the server in another.

use crate::common::net::{self, Net};
use std::time::{Duration, Instant};

fn token() -> String {
    let mut bytes = [0u8; 16];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn net_with_profile(allowed: &str) -> Net {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile(allowed));
    net
}

#[test]
fn http_fetch_through_the_tunnel_over_ipv4_and_ipv6() {
    let mut net = net_with_profile("0.0.0.0/0, ::/0");
    let token = token();
    net.start_httpd(&token, 1);
    let out = net
        .wrap(&["vpn", "--", "sh", "-c"])
        .arg(format!(
            "curl -sS --max-time 10 http://{}:8000/token && curl -sS --max-time 10 'http://[{}]:8000/token'",
            net::SERVER_TUN,
            net::SERVER_TUN6
        ))
        .run();
    assert_eq!(out.ok(), format!("{token}\n{token}\n"));
    assert_eq!(out.stderr, "", "a successful run prints nothing");
}

/// Downloads and uploads `size` bytes over IPv4 and IPv6 and checks the
/// checksums on both sides.
fn both_ways_over_both_families(size: usize) {
    let mut net = net_with_profile("198.19.0.0/24, fd00:19::/64");
    net.assert_transfers_both_ways("vpn", size);
}

#[test]
fn twenty_megabytes_both_ways_over_ipv4_and_ipv6_with_matching_checksums() {
    both_ways_over_both_families(20 << 20);
}

/// TCP through the TUN's offload path (super-packets split on the way out,
/// UDP GSO batches) and back, at volume.
#[test]
fn two_hundred_megabytes_through_the_offload_path_both_ways_over_ipv4_and_ipv6() {
    both_ways_over_both_families(200 << 20);
}

#[test]
fn exit_status_of_prog_passes_through() {
    let net = net_with_profile("198.19.0.0/24");
    net.wrap(&["vpn", "--", "true"]).run().ok();
    assert_eq!(net.wrap(&["vpn", "--", "sh", "-c", "exit 7"]).run().code, 7);
    assert_eq!(
        net.wrap(&["vpn", "--", "sh", "-c", "kill -TERM $$"])
            .run()
            .code,
        128 + 15
    );
    let script = net.sb.user_file("not-executable", "#!/bin/sh\n", 0o644);
    net.wrap(&["vpn", "--"])
        .arg(&script)
        .run()
        .fails(126, "wg-exec: cannot execute");
    net.wrap(&["vpn", "--", "no-such-program-x"]).run().fails(
        127,
        "wg-exec: cannot execute \"no-such-program-x\": not found",
    );
}

#[test]
fn inside_prog_is_the_user_without_capabilities() {
    let net = net_with_profile("198.19.0.0/24");
    let script = "id -u; grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status; ls /proc/self/fd; env | grep -c '^WG_WRAP_' || true";
    let out = net.wrap(&["vpn", "--", "sh", "-c", script]).run();
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], net.sb.user.uid.to_string());
    for line in &lines[1..5] {
        assert!(line.ends_with("0000000000000000"), "{text}");
    }
    assert_eq!(
        &lines[5..],
        ["0", "1", "2", "3", "0"],
        "fds 0-2 (and ls's own dir fd 3), no WG_WRAP_*: {text}"
    );

    let out = net
        .wrap(&["--map-root", "vpn", "--", "sh", "-c", script])
        .run();
    let text = out.ok();
    assert_eq!(text.lines().next(), Some("0"), "{text}");
    for line in text.lines().skip(1).take(4) {
        assert!(
            line.ends_with("0000000000000000"),
            "--map-root gains nothing: {text}"
        );
    }
}

#[test]
fn only_lo_and_the_tun_inside_and_the_host_is_unchanged() {
    let net = net_with_profile("0.0.0.0/0, ::/0");
    let before = net.host_state();
    let out = net
        .wrap(&[
            "vpn",
            "--",
            "sh",
            "-c",
            "ip -o link | cut -d: -f2 | tr -d ' '",
        ])
        .run();
    assert_eq!(out.ok(), "lo\nwg0\n");
    assert_eq!(net.host_state(), before);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !net.sb.processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(net.sb.processes(), [], "left behind 2 s after PROG exited");
}

/// The TUN queues 1000 packets for the engine, not the kernel's 500: a
/// burst of UDP while the engine waits for a core is queued, not dropped.
#[test]
fn the_tun_queues_a_thousand_packets_for_the_engine() {
    let net = net_with_profile("198.19.0.0/24");
    let out = (net.wrap(&["-q", "--handshake-timeout", "0", "vpn", "--"]))
        .args(["sh", "-c", "ip -o link show wg0 | grep -o 'qlen [0-9]*'"])
        .run();
    assert_eq!(out.ok(), "qlen 1000\n");
}

#[test]
fn packets_from_outside_the_peers_allowed_ips_are_dropped() {
    let net = net_with_profile("198.19.0.1/32, fd00:19::1/128");
    // The server has a second tunnel address our profile does not allow.
    net.ip(
        &net.server_ns,
        &format!("addr add 198.19.0.9/24 dev {}", net.wg_iface),
    );
    let listener = "import socket,sys,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',9000)); s.settimeout(0.2)
print('listening',flush=True); end=time.time()+4; got=set()
while time.time()<end:
    try: got.add(s.recvfrom(100)[0].decode())
    except socket.timeout: pass
print(' '.join(sorted(got)))";
    let sender = format!(
        "import socket,time
for i in range(30):
    for src,msg in (('198.19.0.1','allowed'),('198.19.0.9','forbidden')):
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((src,0)); s.sendto(msg.encode(),('{}',9000)); s.close()
    time.sleep(0.1)",
        net::CLIENT_TUN
    );
    let server_ns = net.server_ns.clone();
    let sending = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        crate::common::net::run_ok(
            std::process::Command::new("ip")
                .args(["netns", "exec", &server_ns, "python3", "-c", &sender]),
        );
    });
    let out = net.wrap(&["vpn", "--", "python3", "-c", listener]).run();
    sending.join().unwrap();
    assert_eq!(out.ok(), "listening\nallowed\n");
}

#[test]
fn setup_failures_are_one_line_and_125() {
    let net = Net::with_wireguard_go_server();
    // An endpoint that does not resolve (the host netns has no DNS at all).
    let profile = net.profile("198.19.0.0/24").replace(
        &format!("{}:{}", net::SERVER_VETH, net::SERVER_PORT),
        "nowhere.invalid:51820",
    );
    net.import("lost", &profile);
    net.wrap(&["lost", "--", "true"]).run().fails(
        125,
        "wg-unshare: cannot resolve endpoint \"nowhere.invalid:51820\"",
    );
    // A missing profile, and a link that is not the next applet.
    net.wrap(&["ghost", "--", "true"])
        .run()
        .fails(125, "wg-unshare: no profile \"ghost\"");
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.cmd("wg-unshare")
        .args(["vpn", "sh", "-c", "true"])
        .run()
        .fails(
            125,
            "wg-unshare: refusing to run \"sh\" here: the next link must be wg-up",
        );
    net.cmd("wg-exec")
        .args(["true"])
        .run()
        .fails(125, "wg-exec: not in a live wg-wrap namespace");
}

#[test]
fn two_peers_each_reached_through_its_own_server() {
    let mut net = Net::with_wireguard_go_server();
    let second = net.add_server();
    let profile = format!(
        "{}{}",
        net.profile("198.19.0.0/24, fd00:19:0::/64"),
        net.peer_section(second, "198.19.1.0/24, fd00:19:1::/64")
    );
    net.import("two", &profile);
    let (first_token, second_token) = (token(), token());
    net.start_httpd_on(0, &first_token, 1);
    net.start_httpd_on(second, &second_token, 1);
    let out = net
        .wrap(&["two", "--", "sh", "-c"])
        .arg("curl -sS --max-time 10 http://198.19.0.1:8000/token && curl -sS --max-time 10 'http://[fd00:19:1::1]:8000/token'")
        .run();
    assert_eq!(out.ok(), format!("{first_token}\n{second_token}\n"));
    // Each server saw the client's traffic on its own tunnel.
    for n in [0, second] {
        let server = &net.servers[n];
        let transfer = net.sh(&server.ns, &format!("wg show {} transfer", server.iface));
        let rx: u64 = transfer.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(rx > 500, "server {n} received {rx} bytes");
    }
}

#[test]
fn wireguard_go_initiates_and_the_peer_roams() {
    let net = Net::with_wireguard_go_server();
    // Our ListenPort, no Endpoint: only the server can start the session.
    let profile = net
        .profile("198.19.0.0/24")
        .replace("[Peer]", "ListenPort = 51999\n\n[Peer]")
        .replace(
            &format!("Endpoint = {}:{}\n", net::SERVER_VETH, net::SERVER_PORT),
            "",
        );
    net.import("passive", &profile);
    let client = net.client.public.clone();
    net.wg(&[
        "peer",
        &client,
        "endpoint",
        "198.18.0.2:51999",
        "persistent-keepalive",
        "1",
    ]);
    let phase1 = net.sb.home.join("phase1");
    let phase2 = net.sb.home.join("phase2");
    // PROG: wait for a datagram from the server, answer it, then (after the
    // server moved) wait for another and answer again.
    let prog = "import socket,os,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',9000)); s.settimeout(10)
for phase,want in (('phase1',b'one'),('phase2',b'two')):
    while True:
        data,addr=s.recvfrom(100); s.sendto(b'pong-'+data,addr)
        if data==want: break
    open(os.path.join(os.environ['HOME'],phase),'w').close()
    print(phase,data.decode(),flush=True)";
    let (server_ns, iface) = (net.server_ns.clone(), net.wg_iface.clone());
    let server_side = std::thread::spawn(move || {
        let ping = |msg: &str| {
            let script = format!(
                "import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.3)
for i in range(30):
    s.sendto(b'{msg}',('{}',9000))
    try: print(s.recvfrom(100)[0].decode()); break
    except socket.timeout: pass",
                net::CLIENT_TUN
            );
            crate::common::net::run_ok(
                std::process::Command::new("ip")
                    .args(["netns", "exec", &server_ns, "python3", "-c", &script]),
            )
        };
        let first = ping("one");
        assert!(first.contains("pong-one"), "{first}");
        // The server moves to a new port: its packets now come from there,
        // and only a peer that roams with them can answer.
        crate::common::net::run_ok(std::process::Command::new("ip").args([
            "netns",
            "exec",
            &server_ns,
            "wg",
            "set",
            &iface,
            "listen-port",
            "51830",
        ]));
        let second = ping("two");
        (first, second)
    });
    let out = net
        .wrap(&[
            "--handshake-timeout",
            "0",
            "passive",
            "--",
            "python3",
            "-c",
            prog,
        ])
        .run();
    let (first, second) = server_side.join().unwrap();
    assert_eq!(out.ok(), "phase1 one\nphase2 two\n");
    assert!(first.contains("pong-one"), "{first}");
    assert!(
        second.trim().ends_with("pong-two"),
        "no answer after the server moved: {second}"
    );
    assert!(phase1.exists() && phase2.exists());
}

#[test]
fn an_unreachable_peer_is_one_warning_and_prog_still_runs() {
    let mut net = net_with_profile("198.19.0.0/24");
    net.stop_wireguard_go();
    let out = net
        .wrap(&[
            "--handshake-timeout",
            "1",
            "vpn",
            "--",
            "sh",
            "-c",
            "echo ran",
        ])
        .run();
    assert_eq!(out.ok(), "ran\n");
    assert_eq!(
        out.stderr,
        format!(
            "wg-up: warning: no handshake with peer {} ({}:{}) after 1 s (check the Endpoint and that the server runs and knows your public key; the tunnel comes up when it answers)\n",
            net.server.public,
            net::SERVER_VETH,
            net::SERVER_PORT
        )
    );
}

#[test]
fn no_tun_device_is_one_line_and_125() {
    let net = net_with_profile("198.19.0.0/24");
    let hide = |setup: &str| {
        net.wrap(&["vpn", "--", "true"])
            .in_host_layout(&format!("mount -t tmpfs none /dev/net\n{setup}"))
    };
    // In a container (podman's marker), the fix is the container's flag.
    hide("mount -t tmpfs none /run\ntouch /run/.containerenv").run().fails(
        125,
        "wg-up: cannot create TUN device: no such file or directory (there is no /dev/net/tun: start the container (podman) with `--device /dev/net/tun`)",
    );
    hide("mknod -m 600 /dev/net/tun c 10 200").run().fails(
        125,
        "wg-up: cannot create TUN device: permission denied (make it mode 0666, as distributions ship it: `chmod 0666 /dev/net/tun`)",
    );
}

#[test]
fn no_user_namespaces_is_one_line_and_125() {
    let net = net_with_profile("198.19.0.0/24");
    // A user namespace of the test user's own where no further one may be made.
    let out = net
        .wrap(&["vpn", "--", "true"])
        .without_user_namespaces()
        .run();
    out.fails(125, "wg-unshare: cannot create user namespace: no space left on device (user.max_user_namespaces is 0: `sysctl -w user.max_user_namespaces=");
}

/// /sys/class/net inside lists what `ip link` lists there: lo and wg0, not
/// the host's interfaces.
#[test]
fn sysfs_inside_shows_the_namespaces_interfaces() {
    let net = net_with_profile("198.19.0.0/24");
    let out = net
        .wrap(&[
            "vpn",
            "--",
            "sh",
            "-c",
            "ls /sys/class/net; cat /sys/class/net/wg0/mtu",
        ])
        .run();
    assert_eq!(out.ok(), "lo\nwg0\n1420\n");
}

/// `-v` tells what a user debugging a silent tunnel needs: the MTU and why,
/// the UDP port, the DNS written, the handshake and its time.
#[test]
fn verbose_tells_what_was_chosen_and_when_the_handshake_came() {
    let net = net_with_profile("198.19.0.0/24");
    let out = net.wrap(&["-v", "vpn", "--", "true"]).run();
    out.ok();
    for needle in [
        "wg-unshare: MTU 1420: the route to 198.18.0.1:51820 carries ",
        "wg-unshare: WireGuard's UDP socket: port ",
        "wg-unshare: DNS inside: 198.19.0.1 (the profile's)",
        "wg-up: handshake with peer ",
    ] {
        assert!(out.stderr.contains(needle), "no {needle:?} in {out:?}");
    }
}
