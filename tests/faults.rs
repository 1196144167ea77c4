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
