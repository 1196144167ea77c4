//! Clean exit: signals end PROG as they would without wg-wrap, the engine
//! follows, and nothing is left; a daemonizing PROG keeps its tunnel.

use crate::common::net::{self, Net};
use std::time::{Duration, Instant};

/// Waits until no engine of this sandbox is left; returns how long that took.
fn engine_gone_within(net: &Net, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let engines: Vec<_> = net
            .sb
            .processes()
            .into_iter()
            .filter(|(_, cmd)| cmd.starts_with("wg-up"))
            .collect();
        if engines.is_empty() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "the engine outlived PROG by {limit:?}: {engines:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn host_mounts_of_wg_wrap() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" wg-wrap "))
        .map(str::to_string)
        .collect()
}

#[test]
fn sigint_and_sigterm_end_prog_as_without_wg_wrap_and_nothing_is_left() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let mounts_before = host_mounts_of_wg_wrap();
    for signal in ["INT", "TERM"] {
        // Without wg-wrap, for reference.
        let bare = crate::common::Cmd::from(&net.sb, std::path::Path::new("/bin/sleep"))
            .arg("30")
            .spawn();
        std::thread::sleep(Duration::from_millis(200));
        bare.signal(signal);
        let expected = bare.wait().code;

        let running = net.wrap(&["vpn", "--", "sleep", "30"]).spawn();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !net
            .sb
            .processes()
            .iter()
            .any(|(_, cmd)| cmd.starts_with("sleep"))
        {
            assert!(Instant::now() < deadline, "PROG never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        running.signal(signal);
        let out = running.wait();
        assert_eq!(out.code, expected, "SIG{signal}: {out:?}");
        assert_eq!(out.stderr, "");
        engine_gone_within(&net, Duration::from_secs(1));
        assert_eq!(net.sb.processes(), [], "left behind after SIG{signal}");
    }
    assert_eq!(
        net.sb.runtime_files(),
        Vec::<String>::new(),
        "runtime files left"
    );
    assert_eq!(
        host_mounts_of_wg_wrap(),
        mounts_before,
        "mounts visible on the host"
    );
}

#[test]
fn a_daemonizing_prog_keeps_the_tunnel_until_its_last_process_exits() {
    let mut net = Net::with_wireguard_go_server();
    let token = "daemon-token";
    net.start_httpd(token, 1);
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let script = format!(
        "( sleep 1; curl -sS --max-time 5 http://{}:8000/token > $HOME/late 2>&1 ) < /dev/null > /dev/null 2>&1 &
         exit 0",
        net::SERVER_TUN
    );
    let started = Instant::now();
    net.wrap(&["vpn", "--", "sh", "-c", &script]).run().ok();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "wg-wrap waited for the daemon"
    );
    let late = net.sb.home.join("late");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&late).map_or(true, |t| !t.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the daemon never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&late).unwrap(),
        format!("{token}\n"),
        "the tunnel was gone for the daemon"
    );
    engine_gone_within(&net, Duration::from_secs(2));
    assert_eq!(net.sb.processes(), []);
}
