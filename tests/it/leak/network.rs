//! Nothing gets out: without a working tunnel PROG reaches nothing, and it
//! cannot change the tunnel.

use crate::common::net::{self, Net};
use std::time::{Duration, Instant};

/// A server netns with HTTP (tcp 8000) and UDP echo (9999), and the probes.
fn server_with_listeners() -> Net {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("token", 1);
    net.start_udp_echo(0);
    net
}

/// probe.py's verdicts as (verdict, target) pairs.
fn verdicts(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(v, t)| (v.to_string(), t.to_string()))
        .collect()
}

/// The control: from the host netns (not wrapped), the veth targets answer.
fn assert_host_reaches_the_server(net: &Net) {
    let probe = net.probe_script();
    let targets: Vec<String> = net
        .probe_targets(0)
        .into_iter()
        .filter(|t| t.contains("198.18.") || t.contains("fd00:18:"))
        .collect();
    let out = crate::common::Cmd::from(&net.sb, std::path::Path::new("/usr/bin/python3"))
        .in_netns(&net.host_ns)
        .arg(&probe)
        .args(&targets)
        .run();
    for (verdict, target) in verdicts(out.ok()) {
        assert_eq!(
            verdict, "reached",
            "control: the host cannot reach {target}"
        );
    }
}

fn assert_nothing_reached(out: &crate::common::Out, expected: usize) {
    let verdicts = verdicts(out.ok());
    assert_eq!(verdicts.len(), expected, "{out:?}");
    for (verdict, target) in verdicts {
        assert_eq!(
            verdict, "blocked",
            "PROG reached {target} outside the tunnel"
        );
    }
}

/// The control from the host, then every probe from inside PROFILE.
fn assert_nothing_reached_inside(net: &Net, profile: &str) {
    assert_host_reaches_the_server(net);
    let targets = net.probe_targets(0);
    let probe = net.probe_script();
    let out = net
        .wrap(&["--handshake-timeout", "0", profile, "--", "python3", &probe])
        .args(&targets)
        .run();
    assert_nothing_reached(&out, targets.len());
}

#[test]
fn with_the_server_stopped_nothing_inside_reaches_anything() {
    let mut net = server_with_listeners();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    net.stop_wireguard_go();
    assert_nothing_reached_inside(&net, "vpn");
}

#[test]
fn with_a_wrong_peer_key_nothing_inside_reaches_anything() {
    let net = server_with_listeners();
    let wrong = net::Keys::generate().public;
    let profile = net
        .profile("0.0.0.0/0, ::/0")
        .replace(&net.server.public, &wrong);
    net.import("wrong", &profile);
    assert_nothing_reached_inside(&net, "wrong");
}

#[test]
fn after_the_engine_is_killed_prog_runs_on_and_reaches_nothing() {
    let net = server_with_listeners();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let targets = net.probe_targets(0).join(" ");
    // While the engine lives, every protocol works through the tunnel (the
    // control inside); once it is killed, nothing works.
    let tunnel = format!(
        "tcp:{t}:8000 udp:{t}:9999 icmp:{t}:0 icmp:{t6}:0",
        t = net::SERVER_TUN,
        t6 = net::SERVER_TUN6
    );
    let script = format!(
        "python3 {probe} {tunnel}; echo ---
         curl -sS --max-time 5 http://{}:8000/token; touch $HOME/fetched
         for i in $(seq 100); do [ -e $HOME/killed ] && break; sleep 0.05; done
         python3 {probe} {targets}; echo alive",
        net::SERVER_TUN,
        probe = net.probe_script()
    );
    let running = net.wrap(&["vpn", "--", "sh", "-c", &script]).spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !net.sb.home.join("fetched").exists() {
        assert!(
            Instant::now() < deadline,
            "PROG never fetched through the tunnel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let engines: Vec<(u32, String)> = net
        .sb
        .processes()
        .into_iter()
        .filter(|(_, cmd)| cmd.starts_with("wg-up"))
        .collect();
    assert_eq!(engines.len(), 1, "{engines:?}");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &engines[0].0.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(net.sb.home.join("killed"), "").unwrap();
    let out = running.wait();
    let (before, text) = out.ok().split_once("---\n").unwrap();
    for (verdict, target) in verdicts(before) {
        assert_eq!(
            verdict, "reached",
            "control: {target} unreachable through the live tunnel"
        );
    }
    assert_eq!(verdicts(before).len(), 4);
    assert!(text.starts_with("token\n"), "{text}");
    assert!(
        text.ends_with("alive\n"),
        "PROG did not keep running: {text}"
    );
    let probes = &text["token\n".len()..text.len() - "alive\n".len()];
    assert_nothing_reached(
        &crate::common::Out {
            code: 0,
            stdout: probes.to_string(),
            stderr: String::new(),
        },
        net.probe_targets(0).len(),
    );
}

#[test]
fn prog_cannot_change_the_tunnel() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let attempts = [
        "ip link set wg0 down",
        "ip route add 198.18.0.0/24 dev wg0",
        "ip addr add 198.19.0.3/32 dev wg0",
        "ip link add wgx0 type dummy",
        "ip tuntap add mode tun name wgx1",
    ];
    let script: String = attempts
        .iter()
        .map(|a| {
            format!("{a} 2>&1 | head -1; echo \"status $?\"; ip -o link show wg0 | grep -c ',UP'\n")
        })
        .collect();
    let out = net.wrap(&["vpn", "--", "sh", "-c", &script]).run();
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), attempts.len() * 3, "{out:?}");
    for (attempt, chunk) in attempts.iter().zip(lines.chunks(3)) {
        assert!(
            chunk[0].to_lowercase().contains("operation not permitted"),
            "{attempt}: {chunk:?}"
        );
        assert_eq!(chunk[2], "1", "{attempt}: wg0 is no longer up");
    }
}
