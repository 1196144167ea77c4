//! Network fixtures: a "host" netns where wg-wrap runs as the test user, and
//! a "server" netns running wireguard-go (configured with `wg`), joined by a
//! veth. Names are unique per test; everything is removed on drop.
//!
//! Addresses: server n's veth 198.18.n.1 (server) / 198.18.n.2 (host); its
//! tunnel 198.19.n.1, fd00:19:n::1; the client 198.19.0.2, fd00:19::2.

use super::{Cmd, Sandbox};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const SERVER_PORT: u16 = 51820;
pub const SERVER_VETH: &str = "198.18.0.1";
pub const SERVER_TUN: &str = "198.19.0.1";
pub const SERVER_TUN6: &str = "fd00:19:0::1";
pub const CLIENT_TUN: &str = "198.19.0.2";
pub const CLIENT_TUN6: &str = "fd00:19::2";

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Keys {
    pub private: String,
    pub public: String,
}

impl Keys {
    pub fn generate() -> Keys {
        let private = run_ok(Command::new("wg").arg("genkey"));
        let mut child = Command::new("wg")
            .arg("pubkey")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run wg (wireguard-tools)");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(private.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        Keys {
            private: private.trim().to_string(),
            public: String::from_utf8(out.stdout).unwrap().trim().to_string(),
        }
    }
}

/// Runs a command as root and returns its stdout; panics with its stderr.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A WireGuard server: wireguard-go in a netns of its own, reached from the
/// host netns over a veth. Server `n` uses 198.18.n.0/24 on the veth and
/// 198.19.n.1 (fd00:19:n::1) in the tunnel.
pub struct Server {
    pub ns: String,
    pub iface: String,
    pub keys: Keys,
    pub veth_ip: String,
    pub tun_ip: String,
    pub tun6_ip: String,
    child: Option<Child>,
}

pub struct Net {
    pub sb: Sandbox,
    pub tag: String,
    pub host_ns: String,
    /// The first server's netns and interface (the usual one).
    pub server_ns: String,
    pub wg_iface: String,
    pub server: Keys,
    pub client: Keys,
    pub servers: Vec<Server>,
    children: Vec<Child>,
}

impl Net {
    /// The namespaces, the veth, and wireguard-go serving one peer: the client.
    pub fn with_wireguard_go_server() -> Net {
        let tag = format!(
            "{:x}{:x}",
            std::process::id() % 0xfffff,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Net {
            sb: Sandbox::new(),
            host_ns: format!("wwh{tag}"),
            server_ns: String::new(),
            wg_iface: String::new(),
            tag,
            server: Keys {
                private: String::new(),
                public: String::new(),
            },
            client: Keys::generate(),
            servers: Vec::new(),
            children: Vec::new(),
        };
        // From here on Drop cleans up whatever was made.
        run_ok(Command::new("ip").args(["netns", "add", &net.host_ns]));
        net.ip(&net.host_ns, "link set lo up");
        net.add_server();
        net.server_ns = net.servers[0].ns.clone();
        net.wg_iface = net.servers[0].iface.clone();
        net.server = Keys {
            private: net.servers[0].keys.private.clone(),
            public: net.servers[0].keys.public.clone(),
        };
        net
    }

    /// Another server, number `servers.len()`, with the client as its peer.
    pub fn add_server(&mut self) -> usize {
        let n = self.servers.len();
        let letter = (b'a' + n as u8) as char;
        let ns = format!("ws{letter}{}", self.tag);
        run_ok(Command::new("ip").args(["netns", "add", &ns]));
        let server = Server {
            iface: format!("wg{letter}{}", self.tag),
            keys: Keys::generate(),
            veth_ip: format!("198.18.{n}.1"),
            tun_ip: format!("198.19.{n}.1"),
            tun6_ip: format!("fd00:19:{n}::1"),
            child: None,
            ns,
        };
        let (va, vb) = self.veth(n);
        run_ok(Command::new("ip").args([
            "-n",
            &self.host_ns,
            "link",
            "add",
            &va,
            "type",
            "veth",
            "peer",
            "name",
            &vb,
            "netns",
            &server.ns,
        ]));
        self.ip(&self.host_ns, &format!("addr add 198.18.{n}.2/24 dev {va}"));
        self.ip(
            &self.host_ns,
            &format!("addr add fd00:18:{n}::2/64 dev {va} nodad"),
        );
        self.ip(&self.host_ns, &format!("link set {va} up"));
        self.ip(
            &server.ns,
            &format!("addr add {}/24 dev {vb}", server.veth_ip),
        );
        self.ip(
            &server.ns,
            &format!("addr add fd00:18:{n}::1/64 dev {vb} nodad"),
        );
        self.ip(&server.ns, &format!("link set {vb} up"));
        self.ip(&server.ns, "link set lo up");
        self.servers.push(server);
        self.start_wireguard_go(n);
        n
    }

    /// Starts server `n`'s wireguard-go with its keys, addresses, routes and
    /// the client as its peer (again, after [`Net::stop_server`]).
    pub fn start_wireguard_go(&mut self, n: usize) {
        let server = &self.servers[n];
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &server.ns,
                "wireguard-go",
                "-f",
                &server.iface,
            ])
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run wireguard-go");
        self.servers[n].child = Some(child);
        let server = &self.servers[n];
        let sock = format!("/var/run/wireguard/{}.sock", server.iface);
        let start = Instant::now();
        while !std::path::Path::new(&sock).exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "wireguard-go did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let key = self.sb.root.join(format!("server{n}.key"));
        std::fs::write(&key, format!("{}\n", server.keys.private)).unwrap();
        let key = key.to_str().unwrap().to_string();
        self.wg_on(
            n,
            &["private-key", &key, "listen-port", &SERVER_PORT.to_string()],
        );
        self.ip(
            &server.ns,
            &format!("addr add {}/24 dev {}", server.tun_ip, server.iface),
        );
        self.ip(
            &server.ns,
            &format!("addr add {}/64 dev {} nodad", server.tun6_ip, server.iface),
        );
        self.ip(&server.ns, &format!("link set {} up", server.iface));
        self.ip(
            &server.ns,
            &format!("route add {CLIENT_TUN}/32 dev {}", server.iface),
        );
        self.ip(
            &server.ns,
            &format!("route add {CLIENT_TUN6}/128 dev {}", server.iface),
        );
        let client = self.client.public.clone();
        self.wg_on(
            n,
            &[
                "peer",
                &client,
                "allowed-ips",
                &format!("{CLIENT_TUN}/32,{CLIENT_TUN6}/128"),
            ],
        );
    }

    /// Stops server `n`'s wireguard-go: its interface, sessions and routes go.
    pub fn stop_server(&mut self, n: usize) {
        if let Some(mut child) = self.servers[n].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.servers[n].iface));
    }

    /// `wg set IFACE ARGS` for server `n`'s wireguard-go.
    pub fn wg_on(&self, n: usize, args: &[&str]) {
        let server = &self.servers[n];
        run_ok(
            Command::new("ip")
                .args(["netns", "exec", &server.ns, "wg", "set", &server.iface])
                .args(args),
        );
    }

    pub fn ip(&self, ns: &str, args: &str) {
        run_ok(
            Command::new("ip")
                .arg("-n")
                .arg(ns)
                .args(args.split_whitespace()),
        );
    }

    /// `wg set IFACE ARGS` for the first server's wireguard-go.
    pub fn wg(&self, args: &[&str]) {
        self.wg_on(0, args);
    }

    /// Stops the server's wireguard-go (the tunnel then reaches nothing).
    pub fn stop_wireguard_go(&mut self) {
        for n in 0..self.servers.len() {
            self.stop_server(n);
        }
    }

    /// The client's profile: the first server as its one peer.
    pub fn profile(&self, allowed: &str) -> String {
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = {CLIENT_TUN}/32, {CLIENT_TUN6}/128\nDNS = {SERVER_TUN}\n{}",
            self.client.private,
            self.peer_section(0, allowed)
        )
    }

    /// A `[Peer]` section for server `n`.
    pub fn peer_section(&self, n: usize, allowed: &str) -> String {
        let server = &self.servers[n];
        format!(
            "\n[Peer]\nPublicKey = {}\nAllowedIPs = {allowed}\nEndpoint = {}:{SERVER_PORT}\n",
            server.keys.public, server.veth_ip
        )
    }

    /// Stores `text` as the user's profile NAME (through wg-profile import).
    pub fn import(&self, name: &str, text: &str) {
        self.sb
            .cmd("wg-profile")
            .args(["import", "-", name])
            .stdin(text)
            .run()
            .ok();
    }

    /// An applet run as the test user inside the host netns.
    pub fn cmd(&self, applet: &str) -> Cmd {
        self.sb.cmd(applet).in_netns(&self.host_ns)
    }

    /// The engine pid `wg-pin --list` shows for pin `name`.
    pub fn pin_engine(&self, name: &str) -> String {
        let list = self.cmd("wg-pin").arg("--list").run();
        let line = list
            .ok()
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("");
        let pid = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("engine="));
        pid.unwrap_or_else(|| panic!("no engine for {name} in {list:?}"))
            .to_string()
    }

    /// `wg-wrap ARGS...` as the test user inside the host netns.
    pub fn wrap(&self, args: &[&str]) -> Cmd {
        self.cmd("wg-wrap").args(args)
    }

    /// Downloads and uploads `size` bytes through `profile` over IPv4 and
    /// IPv6 (starting the HTTP server), and checks the checksums on both sides.
    pub fn assert_transfers_both_ways(&mut self, profile: &str, size: usize) {
        self.start_httpd("x", size);
        let mut script = String::from("set -e\n");
        for host in [SERVER_TUN.to_string(), format!("[{SERVER_TUN6}]")] {
            script.push_str(&format!(
                "curl -sS --max-time 120 -o blob http://{host}:8000/blob
                 wc -c < blob
                 sha256sum blob | cut -d' ' -f1
                 curl -sS --max-time 10 http://{host}:8000/blob.sha256
                 curl -sS --max-time 120 -T blob http://{host}:8000/up
                 rm blob\n"
            ));
        }
        let out = self.wrap(&[profile, "--", "sh", "-c", &script]).run();
        let lines: Vec<&str> = out.ok().lines().collect();
        assert_eq!(lines.len(), 8, "{out:?}");
        for family in lines.chunks(4) {
            assert_eq!(family[0].trim(), size.to_string(), "short download");
            assert_eq!(family[1].len(), 64);
            assert_eq!(family[1], family[2], "download corrupted");
            assert_eq!(family[1], family[3], "upload corrupted");
        }
    }

    /// The veth between the host netns and server `n`, as (host end, server end).
    pub fn veth(&self, n: usize) -> (String, String) {
        let letter = (b'a' + n as u8) as char;
        (
            format!("wh{letter}{}", self.tag),
            format!("wv{letter}{}", self.tag),
        )
    }

    /// A UDP echo server on port 9999 (IPv4 and IPv6) in server `n`'s netns.
    pub fn start_udp_echo(&mut self, n: usize) {
        let ns = self.servers[n].ns.clone();
        let script = "import socket,time
s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)
s.bind(('::',9999)); s.settimeout(0.5); end=time.time()+60
while time.time()<end:
    try: d,a=s.recvfrom(100); s.sendto(d,a)
    except socket.timeout: pass";
        self.spawn_in(&ns, "python3", &["-c", script]);
        let start = Instant::now();
        while !self.sh(&ns, "ss -Hlun 'sport = :9999'").contains("9999") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "udp echo did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// probe.py, written where the test user can run it; returns its path.
    pub fn probe_script(&self) -> String {
        let path = self.sb.root.join("probe.py");
        std::fs::write(&path, include_str!("probe.py")).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Every way out to server `n`, and into its tunnel, that probe.py tries.
    pub fn probe_targets(&self, n: usize) -> Vec<String> {
        let s = &self.servers[n];
        let veth6 = format!("fd00:18:{n}::1");
        let mut targets = Vec::new();
        for host in [
            s.veth_ip.as_str(),
            veth6.as_str(),
            s.tun_ip.as_str(),
            s.tun6_ip.as_str(),
        ] {
            targets.push(format!("tcp:{host}:8000"));
            targets.push(format!("udp:{host}:9999"));
            targets.push(format!("icmp:{host}:0"));
        }
        targets
    }

    /// The test DNS responder (dns.py) on `listen`:53 in netns `ns`,
    /// answering `name` with `addr`; returns the file it logs queries to.
    pub fn start_dns(
        &mut self,
        ns: &str,
        listen: &str,
        name: &str,
        addr: &str,
    ) -> std::path::PathBuf {
        let script = self.sb.root.join("dns.py");
        std::fs::write(&script, include_str!("dns.py")).unwrap();
        let log = self.sb.root.join(format!("dns-{ns}.log"));
        let (script_s, log_s) = (
            script.to_str().unwrap().to_string(),
            log.to_str().unwrap().to_string(),
        );
        self.spawn_in(ns, "python3", &[&script_s, listen, name, addr, &log_s]);
        let start = Instant::now();
        while !self.sh(ns, "ss -Hlun 'sport = :53'").contains(":53") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "dns.py did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        log
    }

    /// A program run as root in netns `ns`, killed on drop.
    pub fn spawn_in(&mut self, ns: &str, program: &str, args: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn in server netns");
        self.children.push(child);
    }

    /// Runs a shell command as root in a netns; returns stdout.
    pub fn sh(&self, ns: &str, script: &str) -> String {
        run_ok(Command::new("ip").args(["netns", "exec", ns, "sh", "-c", script]))
    }

    /// Links, addresses and routes of the host netns, to compare before and after.
    pub fn host_state(&self) -> String {
        self.sh(
            &self.host_ns,
            "ip -o link; ip -o addr; ip route; ip -6 route",
        )
    }

    /// Serves the test HTTP server (httpd.py) on port 8000 of the server netns.
    pub fn start_httpd(&mut self, token: &str, blob_bytes: usize) {
        self.start_httpd_on(0, token, blob_bytes);
    }

    /// The test HTTP server (httpd.py) on port 8000 of server `n`'s netns.
    pub fn start_httpd_on(&mut self, n: usize, token: &str, blob_bytes: usize) {
        let script = self.sb.root.join("httpd.py");
        std::fs::write(&script, include_str!("httpd.py")).unwrap();
        let script = script.to_str().unwrap().to_string();
        let ns = self.servers[n].ns.clone();
        self.spawn_in(&ns, "python3", &[&script, token, &blob_bytes.to_string()]);
        let start = Instant::now();
        while !self.sh(&ns, "ss -Hltn 'sport = :8000'").contains("8000") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "httpd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.stop_wireguard_go();
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut namespaces = vec![self.host_ns.clone()];
        namespaces.extend(self.servers.iter().map(|s| s.ns.clone()));
        for ns in &namespaces {
            let _ = Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .map(|out| {
                    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                        let _ = Command::new("kill").args(["-KILL", pid]).status();
                    }
                });
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for server in &self.servers {
            let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", server.iface));
        }
    }
}
