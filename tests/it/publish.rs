//! Published ports: `--publish [HOSTADDR:]HOSTPORT:PORT[/tcp|/udp]` makes a
//! server inside reachable from the host, and nothing else.

use crate::common::Cmd;
use crate::common::net::Net;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The test's port tools, readable by the user.
fn ports_py(net: &Net) -> PathBuf {
    let path = net.sb.root.join("ports.py");
    std::fs::write(&path, include_str!("common/ports.py")).unwrap();
    path
}

/// `python3 ports.py ARGS` as the user on the host side (the test's netns).
fn on_host(net: &Net, args: &[&str]) -> crate::common::Out {
    Cmd::from(&net.sb, Path::new("/usr/bin/python3"))
        .in_netns(&net.host_ns)
        .arg(ports_py(net))
        .args(args)
        .run()
}

/// A wrapped web UI (python's http.server on 127.0.0.1:8000 inside) with
/// `--publish` flags, run for `seconds`.
fn web_ui(net: &Net, publish: &[&str], seconds: u32) -> crate::common::Running {
    let dir = net.sb.home.join("www");
    std::fs::create_dir_all(&dir).unwrap();
    net.sb.chown(&dir);
    std::fs::write(dir.join("index.html"), "the web UI inside\n").unwrap();
    let mut args = vec!["-q"];
    for spec in publish {
        args.extend(["--publish", spec]);
    }
    let script = format!(
        "cd {} && timeout {seconds} python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1",
        dir.display()
    );
    net.wrap(&args)
        .args(["vpn", "--", "sh", "-c", &script])
        .spawn()
}

fn fetch(net: &Net, url: &str) -> String {
    let out = Cmd::from(&net.sb, Path::new("/usr/bin/curl"))
        .in_netns(&net.host_ns)
        .args([
            "-sS",
            "--max-time",
            "5",
            "--retry",
            "20",
            "--retry-all-errors",
            "--retry-delay",
            "0",
        ])
        .arg(url)
        .run();
    out.ok().to_string()
}

#[test]
fn a_web_ui_inside_is_fetched_from_the_host_over_ipv4_and_ipv6() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let running = web_ui(&net, &["18080:8000", "[::1]:18080:8000"], 8);
    assert_eq!(
        fetch(&net, "http://127.0.0.1:18080/index.html"),
        "the web UI inside\n"
    );
    assert_eq!(
        fetch(&net, "http://[::1]:18080/index.html"),
        "the web UI inside\n"
    );
    running.signal("TERM");
    running.wait();
}

#[test]
fn a_udp_echo_inside_answers_the_host() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let script = format!("python3 {} udp-echo 5353 8", ports_py(&net).display());
    let running = net
        .wrap(&[
            "-q",
            "--publish",
            "18053:5353/udp",
            "vpn",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .spawn();
    std::thread::sleep(Duration::from_millis(1500));
    let out = on_host(&net, &["udp-ask", "127.0.0.1", "18053", "hello"]);
    assert_eq!(out.ok(), "HELLO\n");
    running.signal("TERM");
    running.wait();
}

#[test]
fn a_hundred_connections_at_once_all_get_through() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let script = format!("python3 {} tcp-echo 7000 15", ports_py(&net).display());
    let running = net
        .wrap(&[
            "-q",
            "--publish",
            "17000:7000",
            "vpn",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .spawn();
    // The host port accepts as soon as wg-unshare has bound it; the server
    // inside listens a little later. Ready when one echo comes back.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while on_host(&net, &["tcp-clients", "127.0.0.1", "17000", "1"]).ok() != "1\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the port never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = on_host(&net, &["tcp-clients", "127.0.0.1", "17000", "100"]);
    assert_eq!(out.ok(), "100\n");
    running.signal("TERM");
    running.wait();
}

/// A host port already in use is one line before anything starts; a port
/// PROG listens on but that is not published stays closed to the host.
#[test]
fn a_port_in_use_is_refused_and_an_unpublished_one_stays_closed() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let script = format!("python3 {} tcp-echo 18090 6", ports_py(&net).display());
    let squatter = Cmd::from(&net.sb, Path::new("/bin/sh"))
        .in_netns(&net.host_ns)
        .args(["-c", &script])
        .spawn();
    std::thread::sleep(Duration::from_millis(500));
    net.wrap(&["--publish", "18090:80", "vpn", "--", "true"])
        .run()
        .fails(
            125,
            "wg-unshare: cannot publish 127.0.0.1:18090/tcp: address already in use",
        );
    squatter.signal("TERM");
    squatter.wait();
    // PROG listens on 9000 (everywhere) and 8000; only 8000 is published.
    let inside = format!(
        "python3 {py} tcp-echo 9000 8 & python3 {py} tcp-echo 8000 8 & wait",
        py = ports_py(&net).display()
    );
    let running = net
        .wrap(&[
            "-q",
            "--publish",
            "18000:8000",
            "vpn",
            "--",
            "sh",
            "-c",
            &inside,
        ])
        .spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while on_host(&net, &["connect", "127.0.0.1", "18000"]).ok() != "open\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the published port never opened"
        );
    }
    for (host, port) in [
        ("127.0.0.1", "9000"),
        ("127.0.0.1", "8000"),
        ("198.19.0.2", "9000"),
    ] {
        let out = on_host(&net, &["connect", host, port]);
        assert_eq!(
            out.ok(),
            "closed\n",
            "{host}:{port} is reachable from the host"
        );
    }
    running.signal("TERM");
    running.wait();
}

/// On a pin: published while the pin lives, closed once it is removed.
#[test]
fn a_pin_publishes_while_it_lives() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.wrap(&[
        "--pin",
        "ui",
        "--publish",
        "18081:8000",
        "vpn",
        "--",
        "true",
    ])
    .run()
    .ok();
    let dir = net.sb.home.join("www");
    std::fs::create_dir_all(&dir).unwrap();
    net.sb.chown(&dir);
    std::fs::write(dir.join("index.html"), "pinned UI\n").unwrap();
    let script = format!(
        "cd {} && timeout 8 python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1",
        dir.display()
    );
    let server = net
        .wrap(&["--join", "ui", "--", "sh", "-c", &script])
        .spawn();
    assert_eq!(
        fetch(&net, "http://127.0.0.1:18081/index.html"),
        "pinned UI\n"
    );
    server.signal("TERM");
    server.wait();
    net.cmd("wg-pin").args(["--remove", "ui"]).run().ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while on_host(&net, &["connect", "127.0.0.1", "18081"]).ok() != "closed\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the port outlived the pin"
        );
    }
}
