//! Anyone who can send UDP to the engine's port: forged handshake responses
//! do not steer it, a flood of fake initiations does not starve it.

use crate::common::net::{self, Net};
use crate::common::{Cmd, Sandbox, User};
use std::path::Path;

/// The engine's UDP port: the one UDP socket in the host netns with a process.
fn engine_port(net: &Net) -> u16 {
    let sockets = net.sh(&net.host_ns, "ss -Huanp");
    let line = sockets.lines().find(|l| l.contains("users:"));
    let local = line.and_then(|l| l.split_whitespace().nth(3));
    let port = local
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok());
    port.unwrap_or_else(|| panic!("no engine socket in:\n{sockets}"))
}

/// Field `key=` of pin `name` in `wg-pin --list`.
fn pin_field(net: &Net, name: &str, key: &str) -> String {
    let list = net.cmd("wg-pin").arg("--list").run();
    let line = list
        .ok()
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or("");
    let field = line.split_whitespace().find(|f| f.starts_with(key));
    field
        .unwrap_or_else(|| panic!("no {key} in {list:?}"))
        .to_string()
}

fn endpoint(net: &Net, name: &str) -> String {
    pin_field(net, name, "endpoint=")
}

/// CPU seconds process `pid` has used.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// A script run by the other local user in the host netns.
fn as_other_user(net: &Net, other: &Sandbox, name: &str, text: &str) -> Cmd {
    let script = other.user_file(name, text, 0o644);
    Cmd::from(other, Path::new("/usr/bin/python3"))
        .in_netns(&net.host_ns)
        .arg(script)
}

/// Bursts of handshake responses with receiver index 0 and a valid mac1
/// (made from the client's public key alone), from another user.
const FORGE: &str = "import base64, hashlib, os, socket, sys, time
pub = base64.b64decode(sys.argv[1]); dest = ('127.0.0.1', int(sys.argv[2]))
key = hashlib.blake2s(b'mac1----' + pub).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for burst in range(3):
    for _ in range(400):
        msg = bytes([2, 0, 0, 0]) + os.urandom(4) + (0).to_bytes(4, 'little') + os.urandom(48)
        s.sendto(msg + hashlib.blake2s(msg, key=key, digest_size=16).digest() + bytes(16), dest)
    time.sleep(0.3)
print('forged', flush=True)
";

#[test]
fn forged_handshake_responses_leave_the_endpoint_and_the_tunnel_as_they_were() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("untouched", 1);
    net.import("work", &net.profile("198.19.0.0/24"));
    net.wrap(&["--pin", "hijack", "work", "--", "true"])
        .run()
        .ok();
    let real = format!("endpoint={}:{}", net::SERVER_VETH, net::SERVER_PORT);
    assert_eq!(endpoint(&net, "hijack"), real);
    let other = Sandbox::for_user(User::other());
    let port = engine_port(&net).to_string();
    let forge = as_other_user(&net, &other, "forge.py", FORGE);
    let forge = forge.args([net.client.public.as_str(), &port]).run();
    assert_eq!(forge.ok(), "forged\n");
    assert_eq!(endpoint(&net, "hijack"), real, "the endpoint moved");
    let url = format!("http://{}:8000/token", net::SERVER_TUN);
    let fetch = net.wrap(&[
        "--join",
        "hijack",
        "--",
        "curl",
        "-sS",
        "--max-time",
        "5",
        &url,
    ]);
    assert_eq!(fetch.run().ok().trim(), "untouched");
    net.cmd("wg-pin").args(["--remove", "hijack"]).run().ok();
}

/// iperf3's receiver figure, in Mbit/s, from its text report.
fn receiver_mbits(report: &str) -> f64 {
    let line = report.lines().find(|l| l.trim_end().ends_with("receiver"));
    let words: Vec<&str> = line.unwrap_or("").split_whitespace().collect();
    let at = words.iter().position(|w| *w == "Mbits/sec");
    at.and_then(|i| words[i - 1].parse().ok())
        .unwrap_or_else(|| panic!("no receiver line in:\n{report}"))
}

#[test]
fn a_flood_of_fake_initiations_from_another_user_does_not_starve_the_tunnel() {
    let mut net = Net::with_wireguard_go_server();
    let server_ns = net.server_ns.clone();
    net.spawn_in(&server_ns, "iperf3", &["-s", "-p", "5201"]);
    net.import("work", &net.profile("198.19.0.0/24"));
    net.wrap(&["--pin", "flood", "work", "--", "true"])
        .run()
        .ok();
    let iperf = |seconds: &str| {
        let argv = ["--join", "flood", "--", "iperf3", "-c", net::SERVER_TUN];
        // -R: the server sends, so the tunnel's data arrives at the engine's
        // UDP socket, where the flood lands too.
        let run = net
            .wrap(&argv)
            .args(["-p", "5201", "-R", "-f", "m", "-t", seconds]);
        receiver_mbits(run.run().ok())
    };
    let calm = iperf("3");
    let engine = net.pin_engine("flood");
    let cpu = cpu_seconds(&engine);
    // 8 s of fake initiations (148 random bytes after 01 00 00 00) at
    // 60,000 a second from another user; the tunnel is measured from the 2nd
    // to the 6th second. Each cost an X25519 before mac1 was checked first.
    let other = Sandbox::for_user(User::other());
    let port = engine_port(&net).to_string();
    let flood = as_other_user(&net, &other, "flood.py", include_str!("common/flood.py"));
    let flood = flood.args(["127.0.0.1", &port, "60000", "8"]).spawn();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let flooded = iperf("4");
    let report = flood.wait();
    let cpu = cpu_seconds(&engine) - cpu;
    // The calm figure: before and after, averaged, so a drift of the
    // machine's speed in between counts for neither side.
    let calm = (calm + iperf("3")) / 2.0;
    let rate: f64 = (report.ok().rsplit('(').next())
        .and_then(|r| r.trim_end().strip_suffix("/s)"))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {report:?}"));
    eprintln!(
        "{calm} Mbit/s calm, {flooded} Mbit/s under {rate}/s fake initiations; \
         the engine used {cpu:.1} s of CPU in the flood's 8 s"
    );
    assert!(
        rate >= 50_000.0,
        "the flood reached only {rate}/s: {report:?}"
    );
    assert!(
        flooded >= 0.5 * calm,
        "under the flood the tunnel carried {flooded} Mbit/s, without it {calm}"
    );
    net.cmd("wg-pin").args(["--remove", "flood"]).run().ok();
}
