//! One WireGuard identity, one namespace: a second `wg-wrap` of a profile
//! whose key is in use by a live namespace runs in it (no second engine,
//! no new handshake); a profile with the same key but other addresses is
//! refused; concurrent starts end in one namespace.

use crate::common::net::{self, Net};

fn latest_handshake(net: &Net) -> String {
    net.sh(
        &net.server_ns,
        &format!("wg show {} latest-handshakes", net.wg_iface),
    )
}

const LOOK: &str = "readlink /proc/self/ns/net; curl -sS --max-time 5 http://198.19.0.1:8000/token";

#[test]
fn a_second_run_of_the_same_profile_runs_in_the_first_ones_namespace() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("token", 1);
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let first = net
        .wrap(&["vpn", "--", "sh", "-c", &format!("{LOOK}; sleep 3")])
        .spawn();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let handshake = latest_handshake(&net);
    let second = net.wrap(&["vpn", "--", "sh", "-c", LOOK]).run();
    let first = first.wait();
    assert_eq!(
        second.ok(),
        first.ok(),
        "not the same namespace: {second:?}"
    );
    assert!(first.ok().ends_with("token\n"));
    let note = "wg-unshare: note: this profile's key is in use by the live namespace of engine ";
    assert!(second.stderr.starts_with(note), "{second:?}");
    assert!(
        second.stderr.ends_with("(profile vpn): running in it\n"),
        "{second:?}"
    );
    assert_eq!(second.stderr.lines().count(), 1, "{second:?}");
    assert_eq!(latest_handshake(&net), handshake, "a new handshake");
}

/// After `--pin dl`, a plain run of the same profile runs in the pin (no
/// second engine to take the session from it), and `--join dl` stays fast.
#[test]
fn a_plain_run_of_a_pinned_profile_runs_in_the_pin() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("token", 1);
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let pinned = net
        .wrap(&["--pin", "dl", "vpn", "--", "readlink", "/proc/self/ns/net"])
        .run();
    let handshake = latest_handshake(&net);
    let plain = net.wrap(&["vpn", "--", "sh", "-c", LOOK]).run();
    assert_eq!(plain.ok(), format!("{}token\n", pinned.ok()));
    let started = std::time::Instant::now();
    let joined = net.wrap(&["--join", "dl", "--", "sh", "-c", LOOK]).run();
    assert_eq!(joined.ok(), plain.ok());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(latest_handshake(&net), handshake, "a new handshake");
    net.cmd("wg-pin").args(["--remove", "dl"]).run().ok();
}

/// The same key with other addresses cannot share the namespace: refused in
/// one line naming the live one.
#[test]
fn the_same_key_with_other_addresses_is_refused() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let other = net.profile("198.19.0.0/24").replace(
        &format!("Address = {}/32", net::CLIENT_TUN),
        "Address = 198.19.0.77/32",
    );
    assert_ne!(
        other,
        net.profile("198.19.0.0/24"),
        "the address did not change"
    );
    net.import("other", &other);
    net.wrap(&["--pin", "first", "vpn", "--", "true"])
        .run()
        .ok();
    net.wrap(&["other", "--", "true"]).run().fails(
        125,
        "wg-unshare: other has the key of the live namespace of engine ",
    );
    // So is the same profile with another uid map.
    net.wrap(&["--map-root", "vpn", "--", "true"]).run().fails(
        125,
        "with this profile's key runs without --map-root; this run is with",
    );
    // And with the host's session bus asked for, where the namespace has
    // a filtered one (or none).
    net.wrap(&["--host-session-bus", "vpn", "--", "true"])
        .run()
        .fails(
            125,
            "gives its programs a filtered session bus; this run asks for the host's",
        );
    net.cmd("wg-pin").args(["--remove", "first"]).run().ok();
}

/// A namespace whose programs have the host's session bus is not where a
/// run without --host-session-bus lands: that run is refused, not given
/// the host's bus.
#[test]
fn a_run_without_the_host_bus_does_not_join_a_namespace_with_it() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.wrap(&["--host-session-bus", "--pin", "open", "vpn", "--", "true"])
        .run()
        .ok();
    net.wrap(&["vpn", "--", "true"]).run().fails(
        125,
        "gives its programs the host's session bus, unfiltered (--host-session-bus); this run asks for a filtered one",
    );
    // As that namespace runs, it is joined.
    net.wrap(&["--host-session-bus", "vpn", "--", "true"])
        .run()
        .ok();
    net.cmd("wg-pin").args(["--remove", "open"]).run().ok();
}

/// Sixteen starts of one profile at once end in one namespace, through one
/// engine.
#[test]
fn sixteen_concurrent_starts_end_in_one_namespace() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    // Half wait for the handshake; the other half do not, and their engine
    // holds the identity's lock until it is registered.
    let runs: Vec<_> = (0..16)
        .map(|i| {
            let wait: &[&str] = if i % 2 == 0 {
                &["--handshake-timeout", "0"]
            } else {
                &[]
            };
            (net.wrap(&["-q"]).args(wait))
                .args([
                    "vpn",
                    "--",
                    "sh",
                    "-c",
                    "readlink /proc/self/ns/net; sleep 2",
                ])
                .spawn()
        })
        .collect();
    let outs: Vec<String> = runs
        .into_iter()
        .map(|r| r.wait().ok().to_string())
        .collect();
    assert!(outs.iter().all(|o| *o == outs[0]), "{outs:?}");
}
