//! Network fixtures: a "host" netns where wg-wrap runs as the test user, and
//! a "server" netns running wireguard-go (configured with `wg`), joined by a
//! veth. Names are unique per test; everything is removed on drop.
//!
//! Addresses: veth 198.18.0.1 (server) / 198.18.0.2 (host), fd00:18::1/::2;
//! tunnel 198.19.0.1 (server) / 198.19.0.2 (client), fd00:19::1/::2.

use super::{Cmd, Sandbox};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const SERVER_PORT: u16 = 51820;
pub const SERVER_VETH: &str = "198.18.0.1";
pub const HOST_VETH: &str = "198.18.0.2";
pub const SERVER_TUN: &str = "198.19.0.1";
pub const SERVER_TUN6: &str = "fd00:19::1";
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

pub struct Net {
    pub sb: Sandbox,
    pub tag: String,
    pub host_ns: String,
    pub server_ns: String,
    /// wireguard-go's interface in the server netns.
    pub wg_iface: String,
    pub server: Keys,
    pub client: Keys,
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
            server_ns: format!("wws{tag}"),
            wg_iface: format!("wwg{tag}"),
            tag,
            server: Keys::generate(),
            client: Keys::generate(),
            children: Vec::new(),
        };
        // From here on Drop cleans up whatever was made.
        for ns in [&net.host_ns, &net.server_ns] {
            run_ok(Command::new("ip").args(["netns", "add", ns]));
        }
        let (va, vb) = (format!("wva{}", net.tag), format!("wvb{}", net.tag));
        run_ok(Command::new("ip").args([
            "-n",
            &net.host_ns,
            "link",
            "add",
            &va,
            "type",
            "veth",
            "peer",
            "name",
            &vb,
            "netns",
            &net.server_ns,
        ]));
        net.ip(&net.host_ns, &format!("addr add {HOST_VETH}/24 dev {va}"));
        net.ip(
            &net.host_ns,
            &format!("addr add fd00:18::2/64 dev {va} nodad"),
        );
        net.ip(&net.host_ns, &format!("link set {va} up"));
        net.ip(&net.host_ns, "link set lo up");
        net.ip(
            &net.server_ns,
            &format!("addr add {SERVER_VETH}/24 dev {vb}"),
        );
        net.ip(
            &net.server_ns,
            &format!("addr add fd00:18::1/64 dev {vb} nodad"),
        );
        net.ip(&net.server_ns, &format!("link set {vb} up"));
        net.ip(&net.server_ns, "link set lo up");
        net.start_wireguard_go();
        let iface = net.wg_iface.clone();
        net.ip(
            &net.server_ns,
            &format!("addr add {SERVER_TUN}/24 dev {iface}"),
        );
        net.ip(
            &net.server_ns,
            &format!("addr add {SERVER_TUN6}/64 dev {iface} nodad"),
        );
        net.ip(&net.server_ns, &format!("link set {iface} up"));
        let client = net.client.public.clone();
        net.wg(&[
            "peer",
            &client,
            "allowed-ips",
            &format!("{CLIENT_TUN}/32,{CLIENT_TUN6}/128"),
        ]);
        net
    }

    pub fn ip(&self, ns: &str, args: &str) {
        run_ok(
            Command::new("ip")
                .arg("-n")
                .arg(ns)
                .args(args.split_whitespace()),
        );
    }

    /// `wg set IFACE ARGS` for the server's wireguard-go.
    pub fn wg(&self, args: &[&str]) {
        run_ok(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.server_ns,
                    "wg",
                    "set",
                    &self.wg_iface,
                ])
                .args(args),
        );
    }

    fn start_wireguard_go(&mut self) {
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.server_ns,
                "wireguard-go",
                "-f",
                &self.wg_iface,
            ])
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run wireguard-go");
        self.children.push(child);
        let sock = format!("/var/run/wireguard/{}.sock", self.wg_iface);
        let start = Instant::now();
        while !std::path::Path::new(&sock).exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "wireguard-go did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let key = self.sb.root.join("server.key");
        std::fs::write(&key, format!("{}\n", self.server.private)).unwrap();
        let key = key.to_str().unwrap().to_string();
        self.wg(&["private-key", &key, "listen-port", &SERVER_PORT.to_string()]);
    }

    /// Stops the server's wireguard-go (the tunnel then reaches nothing).
    pub fn stop_wireguard_go(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }

    /// The client's profile: the server as its one peer.
    pub fn profile(&self, allowed: &str) -> String {
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = {CLIENT_TUN}/32, {CLIENT_TUN6}/128\nDNS = {SERVER_TUN}\n\n[Peer]\nPublicKey = {}\nAllowedIPs = {allowed}\nEndpoint = {SERVER_VETH}:{SERVER_PORT}\n",
            self.client.private, self.server.public
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

    /// `wg-wrap ARGS...` as the test user inside the host netns.
    pub fn wrap(&self, args: &[&str]) -> Cmd {
        self.cmd("wg-wrap").args(args)
    }

    /// A program run as root in the server netns, killed on drop.
    pub fn spawn_server(&mut self, program: &str, args: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.server_ns, program])
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
        let script = self.sb.root.join("httpd.py");
        std::fs::write(&script, include_str!("httpd.py")).unwrap();
        let script = script.to_str().unwrap().to_string();
        self.spawn_server("python3", &[&script, token, &blob_bytes.to_string()]);
        let start = Instant::now();
        while !self
            .sh(&self.server_ns, "ss -Hltn 'sport = :8000'")
            .contains("8000")
        {
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
        for ns in [&self.host_ns, &self.server_ns] {
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
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.wg_iface));
    }
}
