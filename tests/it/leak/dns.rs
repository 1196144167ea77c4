//! DNS inside: the profile's servers, for PROG's whole life, through the
//! tunnel; the host's resolver sockets out of reach.

use crate::common::net::{self, Net};

fn host_layout(cmd: crate::common::Cmd, setup: &str) -> crate::common::Cmd {
    cmd.in_host_layout(setup)
}

/// A systemd-resolved host: /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf,
/// the resolver's varlink socket, and nscd's socket. `dir` is scratch space.
fn systemd_resolved_host(dir: &std::path::Path) -> String {
    format!(
        "mount -t tmpfs wg-wrap-test /run
         mkdir -p /run/systemd/resolve /run/nscd {d}/upper {d}/work
         echo 'nameserver 127.0.0.53' > /run/systemd/resolve/stub-resolv.conf
         echo 'nameserver {upstream}' > /run/systemd/resolve/resolv.conf
         python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/run/systemd/resolve/io.systemd.Resolve\")'
         python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/run/nscd/socket\")'
         ln -s ../run/systemd/resolve/stub-resolv.conf {d}/upper/resolv.conf
         mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/upper,workdir={d}/work /etc
         test -S /run/systemd/resolve/io.systemd.Resolve && test -L /etc/resolv.conf",
        d = dir.display(),
        upstream = net::SERVER_VETH
    )
}

fn nameserver_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect()
}

#[test]
fn resolv_conf_lists_exactly_the_profiles_servers_and_search_domains() {
    let net = Net::with_wireguard_go_server();
    let profile = net.profile("0.0.0.0/0, ::/0").replace(
        &format!("DNS = {}", net::SERVER_TUN),
        "DNS = 198.19.0.53, corp.example, fd00:19::53, example.org",
    );
    net.import("vpn", &profile);
    let out = net.wrap(&["vpn", "--", "cat", "/etc/resolv.conf"]).run();
    assert_eq!(
        nameserver_lines(out.ok()),
        [
            "nameserver 198.19.0.53",
            "nameserver fd00:19::53",
            "search corp.example example.org"
        ]
    );
}

#[test]
fn on_a_systemd_resolved_host_the_stub_and_sockets_are_hidden() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    net.import(
        "nodns",
        &net.profile("0.0.0.0/0, ::/0")
            .replace(&format!("DNS = {}\n", net::SERVER_TUN), ""),
    );
    let script = "cat /etc/resolv.conf; echo ---; ls -A /run/systemd/resolve; echo ---; ls -A /var/run/nscd /run/nscd; echo ---";
    let scratch = net.sb.root.join("host-etc");
    let out = host_layout(
        net.wrap(&["vpn", "--", "sh", "-c", script]),
        &systemd_resolved_host(&scratch),
    )
    .run();
    let parts: Vec<&str> = out.ok().split("---\n").collect();
    assert_eq!(
        nameserver_lines(parts[0]),
        [format!("nameserver {}", net::SERVER_TUN)],
        "{out:?}"
    );
    assert_eq!(parts[1], "", "resolver sockets visible: {out:?}");
    assert_eq!(
        parts[2], "/run/nscd:\n\n/var/run/nscd:\n",
        "nscd socket visible: {out:?}"
    );

    // Without DNS in the profile: systemd-resolved's upstream servers, through the tunnel, and a warning.
    let scratch = net.sb.root.join("host-etc2");
    let out = host_layout(
        net.wrap(&["nodns", "--", "sh", "-c", script]),
        &systemd_resolved_host(&scratch),
    )
    .run();
    let parts: Vec<&str> = out.ok().split("---\n").collect();
    assert_eq!(
        nameserver_lines(parts[0]),
        [format!("nameserver {}", net::SERVER_VETH)],
        "{out:?}"
    );
    assert_eq!(parts[1], "");
    assert!(out.stderr.contains("wg-unshare: warning: the profile has no DNS: using the host's name servers through the tunnel"), "{out:?}");
}

#[test]
fn resolv_conf_survives_the_host_renaming_a_new_file_over_its_own() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let d = net.sb.root.join("host-etc");
    let home = net.sb.home.display().to_string();
    // The "host": its own writable /etc; once PROG has read resolv.conf, a
    // NetworkManager-style update renames a new file over it.
    let setup = format!(
        "mkdir -p {d}/upper {d}/work
         mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/upper,workdir={d}/work /etc
         echo 'nameserver 198.18.0.66' > /etc/resolv.conf
         ( for i in $(seq 100); do [ -e {home}/read1 ] && break; sleep 0.05; done
           echo 'nameserver 198.18.0.77' > /etc/resolv.conf.new
           mv /etc/resolv.conf.new /etc/resolv.conf
           cat /etc/resolv.conf > {home}/host-view
           touch {home}/renamed ) &",
        d = d.display()
    );
    let script = "cat /etc/resolv.conf; touch $HOME/read1
        for i in $(seq 100); do [ -e $HOME/renamed ] && break; sleep 0.05; done
        echo ---; cat /etc/resolv.conf";
    let out = host_layout(net.wrap(&["vpn", "--", "sh", "-c", script]), &setup).run();
    let parts: Vec<&str> = out.ok().split("---\n").collect();
    let ours = [format!("nameserver {}", net::SERVER_TUN)];
    assert_eq!(nameserver_lines(parts[0]), ours, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(net.sb.home.join("host-view")).unwrap(),
        "nameserver 198.18.0.77\n",
        "the host's rename did not happen"
    );
    assert_eq!(
        nameserver_lines(parts[1]),
        ours,
        "resolv.conf changed under PROG: {out:?}"
    );
}

#[test]
fn lookups_go_to_the_profiles_server_through_the_tunnel_and_never_to_the_host() {
    let mut net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let server_ns = net.server_ns.clone();
    let host_ns = net.host_ns.clone();
    let tunnel_log = net.start_dns(
        &server_ns,
        net::SERVER_TUN,
        "probe.wg-wrap.test",
        "198.19.0.42",
    );
    let host_log = net.start_dns(
        &host_ns,
        "198.18.0.2",
        "control.wg-wrap.test",
        "198.18.0.42",
    );
    let d = net.sb.root.join("host-etc");
    let setup = format!(
        "mkdir -p {d}/upper {d}/work
         echo 'nameserver 198.18.0.2' > {d}/upper/resolv.conf
         mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/upper,workdir={d}/work /etc
         getent hosts control.wg-wrap.test > /dev/null",
        d = d.display()
    );
    // The control (in `setup`): on the host, the host's resolver answers.
    let out = host_layout(
        net.wrap(&["vpn", "--", "getent", "hosts", "probe.wg-wrap.test"]),
        &setup,
    )
    .run();
    assert_eq!(
        out.ok().split_whitespace().collect::<Vec<_>>(),
        ["198.19.0.42", "probe.wg-wrap.test"]
    );
    assert!(
        std::fs::read_to_string(&tunnel_log)
            .unwrap()
            .contains("probe.wg-wrap.test")
    );
    let host_queries = std::fs::read_to_string(&host_log).unwrap();
    assert!(
        host_queries.contains("control.wg-wrap.test"),
        "the control lookup failed"
    );
    assert!(
        !host_queries.contains("probe"),
        "a query from inside reached the host's resolver: {host_queries}"
    );
}
