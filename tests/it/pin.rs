//! Pinned namespaces: pin, join, list, status, remove; as root, /run/netns;
//! and what one user cannot do to another's pins.

use crate::common::net::{self, Net};
use std::time::{Duration, Instant};

fn pinned(net: &mut Net, name: &str) {
    net.start_httpd("pinned-token", 1);
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let out = net
        .wrap(&[
            "--pin",
            name,
            "vpn",
            "--",
            "sh",
            "-c",
            "readlink /proc/self/ns/net",
        ])
        .run();
    std::fs::write(net.sb.root.join("pinned-netns"), out.ok()).unwrap();
}

/// Writes, as the user, a pin NAME that names process `pid` (with its real
/// start time and network namespace, as a program could read them).
fn forge_pin(net: &Net, name: &str, pid: u32) {
    use std::os::unix::fs::MetadataExt;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start = stat
        .rsplit(") ")
        .next()
        .unwrap()
        .split(' ')
        .nth(19)
        .unwrap();
    let netns = std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .ino();
    let pins = net.sb.runtime.join("wg-wrap/pins");
    std::fs::create_dir_all(&pins).unwrap();
    net.sb.chown(&pins);
    let entry = pins.join(name);
    let text =
        format!("engine_pid={pid}\nstart_time={start}\nnetns={netns}\nprofile=x\ncreated=1\n");
    std::fs::write(&entry, text).unwrap();
    net.sb.chown(&entry);
}

/// Whether process `pid` runs (a zombie has ended).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit(") ").next().and_then(|r| r.chars().next()),
            Some('Z' | 'X')
        )
    })
}

fn latest_handshake(net: &Net) -> String {
    net.sh(
        &net.server_ns,
        &format!("wg show {} latest-handshakes", net.wg_iface),
    )
}

fn engine_of(net: &Net, name: &str) -> String {
    let list = net.wrap(&["pin", "--list"]).run();
    let line = list
        .ok()
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{list:?}"))
        .to_string();
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("engine="))
        .unwrap()
        .to_string()
}

#[test]
fn join_runs_in_the_same_namespace_with_the_same_engine_and_no_new_handshake() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "work");
    let engine = engine_of(&net, "work");
    let handshake = latest_handshake(&net);
    let script = format!(
        "readlink /proc/self/ns/net; curl -sS --max-time 5 http://{}:8000/token",
        net::SERVER_TUN
    );
    let out = net
        .wrap(&["--join", "work", "--", "sh", "-c", &script])
        .run();
    let pinned_netns = std::fs::read_to_string(net.sb.root.join("pinned-netns")).unwrap();
    assert_eq!(out.ok(), format!("{pinned_netns}pinned-token\n"));
    assert_eq!(engine_of(&net, "work"), engine, "a new engine");
    assert_eq!(latest_handshake(&net), handshake, "a new handshake");

    // Many joins at once.
    let runs: Vec<_> = (0..6)
        .map(|_| {
            net.wrap(&[
                "--join",
                "work",
                "--",
                "curl",
                "-sS",
                "--max-time",
                "10",
                "http://198.19.0.1:8000/token",
            ])
            .spawn()
        })
        .collect();
    for run in runs {
        assert_eq!(run.wait().ok(), "pinned-token\n");
    }
    // A second pin of the same name is refused while the first lives.
    net.wrap(&["--pin", "work", "vpn", "--", "true"])
        .run()
        .fails(125, "wg-wrap: \"work\" is already pinned (engine");
    net.cmd("wg-pin").args(["--remove", "work"]).run().ok();
}

#[test]
fn list_shows_each_pin_with_its_peers_and_json_for_scripts() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "listed");
    let fetch = net
        .wrap(&[
            "--join",
            "listed",
            "--",
            "curl",
            "-sS",
            "--max-time",
            "5",
            "http://198.19.0.1:8000/token",
        ])
        .run();
    assert_eq!(fetch.ok(), "pinned-token\n");
    let out = net.cmd("wg-pin").arg("--list").run();
    let line = out.ok().trim_end();
    assert!(line.starts_with("listed profile=vpn engine="), "{line}");
    assert!(
        line.contains(&format!(
            " peer={} endpoint={}:{} handshake=",
            net.server.public,
            net::SERVER_VETH,
            net::SERVER_PORT
        )),
        "{line}"
    );
    assert!(!line.contains("handshake=never"), "{line}");
    let rx: u64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("rx="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(rx > 0, "{line}");

    let json = net.cmd("wg-pin").args(["--list", "--json"]).run();
    let check = "import json,sys
d=json.load(sys.stdin); p=d['pins'][0]
print(p['name'], p['profile'], p['engine_pid']>0, p['peers'][0]['public_key'], p['peers'][0]['rx_bytes']>0, d['stale'])";
    let parsed = crate::common::Cmd::from(&net.sb, std::path::Path::new("/usr/bin/python3"))
        .args(["-c", check])
        .stdin(json.ok())
        .run();
    assert_eq!(
        parsed.ok(),
        format!("listed vpn True {} True []\n", net.server.public)
    );
    net.cmd("wg-pin").args(["--remove", "listed"]).run().ok();
}

#[test]
fn a_stale_pin_is_reported_once_and_removed() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "doomed");
    let engine = engine_of(&net, "doomed");
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &engine])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(200));
    let out = net.cmd("wg-pin").arg("--list").run();
    assert_eq!(out.ok(), "doomed stale (its engine is gone): removed\n");
    assert_eq!(net.cmd("wg-pin").arg("--list").run().ok(), "");
    net.wrap(&["--join", "doomed", "--", "true"])
        .run()
        .fails(125, "wg-exec: no pinned namespace \"doomed\"");
}

#[test]
fn remove_ends_the_engine_and_what_is_inside_reaches_nothing() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "ending");
    // Another pin, with a key of its own (one key, one live session).
    let other = net
        .profile("0.0.0.0/0, ::/0")
        .replace(&net.client.private, &net::Keys::generate().private);
    net.import("other", &other);
    net.wrap(&[
        "--handshake-timeout",
        "0",
        "--pin",
        "keeper",
        "other",
        "--",
        "true",
    ])
    .run()
    .ok();
    let engine = engine_of(&net, "ending");
    let script = format!(
        "curl -sS --max-time 5 http://{t}:8000/token; touch $HOME/inside
         for i in $(seq 100); do [ -e $HOME/removed ] && break; sleep 0.05; done
         curl -sS --max-time 3 http://{t}:8000/token 2>/dev/null || echo unreachable",
        t = net::SERVER_TUN
    );
    let inside = net
        .wrap(&["--join", "ending", "--", "sh", "-c", &script])
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !net.sb.home.join("inside").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    net.cmd("wg-pin").args(["--remove", "ending"]).run().ok();
    std::fs::write(net.sb.home.join("removed"), "").unwrap();
    assert_eq!(inside.wait().ok(), "pinned-token\nunreachable\n");
    assert!(!running(&engine), "the engine lives on");
    // Unknown and removed names: 125, and the live names listed.
    net.wrap(&["--join", "ending", "--", "true"]).run().fails(
        125,
        "wg-exec: no pinned namespace \"ending\" (pinned: keeper)",
    );
    net.cmd("wg-pin")
        .args(["--remove", "nope"])
        .run()
        .fails(125, "wg-pin: no pinned namespace \"nope\" (pinned: keeper)");
    // Two names: refused whole, not the first removed and the second ignored.
    net.cmd("wg-pin")
        .args(["--remove", "keeper", "other"])
        .run()
        .fails(125, "wg-pin: --remove takes one NAME, not also \"other\"");
    net.cmd("wg-pin").args(["--remove", "keeper"]).run().ok();
}

#[test]
fn status_lists_unpinned_live_namespaces_too() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "shown");
    // Another key: the same one would run in the pin (one identity, one namespace).
    let keys = net::Keys::generate();
    let other = net
        .profile("198.19.0.0/24")
        .replace(&net.client.private, &keys.private);
    net.import("other", &other);
    let running = net
        .wrap(&[
            "-q",
            "--handshake-timeout",
            "0",
            "other",
            "--",
            "sh",
            "-c",
            "touch $HOME/up; sleep 3",
        ])
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !net.sb.home.join("up").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = net.wrap(&["status"]).run();
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("shown profile=vpn engine=")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("- profile=other engine=")),
        "{lines:?}"
    );
    let only = net.wrap(&["status", "shown"]).run();
    assert_eq!(only.ok().lines().count(), 1);
    net.wrap(&["status", "absent"])
        .run()
        .fails(125, "wg-wrap: no live namespace \"absent\"");
    running.wait().ok();
    net.cmd("wg-pin").args(["--remove", "shown"]).run().ok();
}

#[test]
fn as_real_root_the_pin_is_also_in_run_netns() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let name = format!("wgwrap-pin-{}", net.tag);
    let root_run = net.sb.root.join("root-run");
    std::fs::create_dir(&root_run).unwrap();
    let store = net.sb.store().join("profiles/vpn.conf");
    let as_root = |cmd: crate::common::Cmd| cmd.run_as_root().env("XDG_RUNTIME_DIR", &root_run);
    let first = as_root(net.wrap(&["--pin", &name, "--"]))
        .arg(&store)
        .arg("true")
        .run();
    assert!(
        first.stderr.contains(
            "wg-unshare: warning: running as root: the program can read and write root's files"
        ),
        "{first:?}"
    );
    let out = as_root(net.wrap(&["--pin", &name]))
        .arg(&store)
        .args(["--", "true"])
        .run();
    out.fails(125, "is already pinned");
    let links = net.sh(
        &net.host_ns,
        &format!("ip netns exec {name} ip -o link | cut -d: -f2 | tr -d ' '"),
    );
    assert_eq!(links, "lo\nwg0\n");
    as_root(net.cmd("wg-pin"))
        .args(["--remove", &name])
        .run()
        .ok();
    assert!(
        !std::path::Path::new("/run/netns").join(&name).exists(),
        "/run/netns/{name} left behind"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&name), "still mounted");
}

#[test]
fn another_user_can_neither_see_nor_join_nor_remove_a_pin() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "mine");
    let other = crate::common::Sandbox::for_user(crate::common::User::other());
    let theirs = |applet: &str| other.cmd(applet).in_netns(&net.host_ns);
    assert_eq!(theirs("wg-pin").arg("--list").run().ok(), "");
    assert_eq!(theirs("wg-wrap").arg("status").run().ok(), "");
    theirs("wg-wrap")
        .args(["--join", "mine", "--", "true"])
        .run()
        .fails(125, "no pinned namespace \"mine\"");
    theirs("wg-pin")
        .args(["--remove", "mine"])
        .run()
        .fails(125, "no pinned namespace \"mine\"");
    // Pointed at the first user's runtime directory: refused.
    theirs("wg-pin")
        .arg("--list")
        .env("XDG_RUNTIME_DIR", &net.sb.runtime)
        .run()
        .fails(125, "wg-pin: cannot use runtime directory");
    // With a forged entry naming the first user's engine: refused (it is not
    // theirs; the kernel would refuse the setns too).
    let entry = std::fs::read(net.sb.runtime.join("wg-wrap/pins/mine")).unwrap();
    let pins = other.runtime.join("wg-wrap/pins");
    std::fs::create_dir_all(&pins).unwrap();
    std::fs::write(pins.join("mine"), entry).unwrap();
    for dir in [
        other.runtime.join("wg-wrap"),
        pins.clone(),
        pins.join("mine"),
    ] {
        other.chown(&dir);
    }
    theirs("wg-wrap")
        .args(["--join", "mine", "--", "true"])
        .run()
        .fails(125, "wg-exec: refusing to join \"mine\"");
    // The first user's pin is untouched.
    assert!(
        net.cmd("wg-pin")
            .arg("--list")
            .run()
            .ok()
            .starts_with("mine ")
    );
    net.cmd("wg-pin").args(["--remove", "mine"]).run().ok();
}

#[test]
fn silent_status_clients_stall_neither_the_tunnel_nor_later_status_queries() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "held");
    let engine = engine_of(&net, "held");
    let socket = net
        .sb
        .runtime
        .join("wg-wrap")
        .join(format!("engine-{engine}.sock"));
    // Twelve connections that never send a request (more than the engine
    // serves at once), held for four seconds.
    let hold = "import os,socket,sys,time
held=[]
for _ in range(12):
    s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
open(os.environ['HOME']+'/held','w').close()
time.sleep(4)";
    let holder = crate::common::Cmd::from(&net.sb, std::path::Path::new("/usr/bin/python3"))
        .args(["-c", hold])
        .arg(&socket)
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !net.sb.home.join("held").exists() {
        assert!(Instant::now() < deadline, "the holder never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    let fetch = net
        .wrap(&[
            "--join",
            "held",
            "--",
            "curl",
            "-sS",
            "--max-time",
            "3",
            "http://198.19.0.1:8000/token",
        ])
        .run();
    assert_eq!(fetch.ok(), "pinned-token\n");
    // A connection that sends nothing is closed after a second; then the
    // engine answers again, while the holder still holds its ends.
    std::thread::sleep(Duration::from_millis(1600));
    let list = net.cmd("wg-pin").arg("--list").run();
    assert!(
        list.ok().contains(&format!(" peer={} ", net.server.public)),
        "{list:?}"
    );
    holder.wait().ok();
    net.cmd("wg-pin").args(["--remove", "held"]).run().ok();
}

/// What a program (same uid) may leave in the pins directory: a FIFO, a
/// symlink, an entry whose name and fields carry terminal escape sequences.
/// Listing neither hangs nor prints the escapes, and the pinned engine (which
/// looks at its pin every few seconds) keeps forwarding.
#[test]
fn junk_in_the_pins_directory_neither_hangs_nor_reaches_the_terminal() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "junk");
    let script = "set -e
        pins=$XDG_RUNTIME_DIR/wg-wrap/pins
        mkfifo \"$pins/zz-fifo\"
        ln -s /dev/zero \"$pins/zz-link\"
        printf 'engine_pid=1\\nstart_time=1\\nnetns=1\\nprofile=\\033]0;owned\\007\\ncreated=1\\n' > \"$pins/$(printf '\\033[31mred')\"";
    crate::common::Cmd::from(&net.sb, std::path::Path::new("/bin/sh"))
        .args(["-c", script])
        .run()
        .ok();
    let wg_pin = net.sb.bin.join("wg-pin");
    let list = crate::common::Cmd::from(&net.sb, std::path::Path::new("/usr/bin/timeout"))
        .in_netns(&net.host_ns)
        .arg("10")
        .arg(&wg_pin)
        .arg("--list")
        .run();
    let text = list.ok();
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(text.contains("\\x1b[31mred stale"), "{text:?}");
    // Past the engine's next look at its pin (every 5 s).
    std::thread::sleep(Duration::from_secs(6));
    let fetch = net.wrap(&["--join", "junk", "--", "curl", "-sS", "--max-time", "5"]);
    assert_eq!(
        fetch.arg("http://198.19.0.1:8000/token").run().ok(),
        "pinned-token\n"
    );
    net.cmd("wg-pin").args(["--remove", "junk"]).run().ok();
}

/// A chain that fails after wg-pin (PROG not found) takes its pin, and the
/// engine the pin would have kept, with it.
#[test]
fn a_pin_whose_prog_cannot_run_is_removed() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.wrap(&["--pin", "never", "vpn", "--", "no-such-program-x"])
        .run()
        .fails(127, "cannot execute \"no-such-program-x\": not found");
    assert_eq!(net.cmd("wg-pin").arg("--list").run().ok(), "");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !net.sb.processes().is_empty() {
        assert!(Instant::now() < deadline, "left: {:?}", net.sb.processes());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PROG, fresh or joined, finds the pins read-only: it can neither forge,
/// remove nor rename one, not even from a user namespace of its own.
#[test]
fn prog_can_neither_write_nor_remove_pins() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "ro");
    let runtime = net.sb.runtime.join("wg-wrap");
    let attack = format!(
        "p={pins}; echo x > $p/forged; rm -f $p/ro; mv $p/ro $p/moved
         unshare -Urm sh -c 'mount -o remount,bind,rw {dir} || umount -l {dir}; echo x > {pins}/nested'
         ls $p",
        pins = runtime.join("pins").display(),
        dir = runtime.display(),
    );
    for args in [&["vpn", "--"][..], &["--join", "ro", "--"]] {
        let out = net.wrap(args).args(["sh", "-c", &attack]).run();
        assert_eq!(out.ok(), "ro\n", "{out:?}");
        assert_eq!(
            out.stderr.matches("Read-only file system").count(),
            4,
            "{out:?}"
        );
    }
    assert!(!engine_of(&net, "ro").is_empty());
    net.cmd("wg-pin").args(["--remove", "ro"]).run().ok();
}

/// A pin that names a process in a namespace PROG made (with the right start
/// time and network namespace, as PROG could read them) is not joined: the
/// user's next `--join` would run in PROG's mount namespace.
#[test]
fn a_pin_naming_a_namespace_prog_made_is_not_joined() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "real");
    let spawned = net
        .wrap(&["--join", "real", "--"])
        .args([
            "sh",
            "-c",
            "unshare -Urm sleep 20 >/dev/null 2>&1 & echo $!",
        ])
        .run();
    let pid: u32 = spawned.ok().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .as_deref()
        != Some("sleep\n")
    {
        assert!(Instant::now() < deadline, "the impostor did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    forge_pin(&net, "forged", pid);
    let list = net.wrap(&["pin", "--list"]).run();
    assert!(
        list.ok().contains("forged"),
        "the forged pin looks live: {list:?}"
    );
    net.wrap(&["--join", "forged", "--", "true"]).run().fails(
        125,
        "refusing to join \"forged\": it is not a wg-wrap engine of yours",
    );
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    net.cmd("wg-pin").args(["--remove", "real"]).run().ok();
}

/// A pin whose status socket answers a byte at a time (anything may sit on
/// it) delays `wg-pin --list` by at most the query's deadline.
#[test]
fn a_trickling_status_socket_does_not_hang_the_list() {
    let net = Net::with_wireguard_go_server();
    let runtime = net.sb.runtime.join("wg-wrap");
    net.wrap(&["status"]).run().ok();
    let server = "import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(4)
end = time.monotonic() + 20
while time.monotonic() < end:
    c, _ = s.accept()
    while time.monotonic() < end:
        try:
            c.send(b'x'); time.sleep(0.5)
        except OSError:
            break";
    // The socket's name needs the server's pid: a shell that execs python.
    let trickler = crate::common::Cmd::from(&net.sb, std::path::Path::new("/bin/sh"))
        .args([
            "-c",
            &format!(
                "exec python3 -c \"$0\" {}/engine-$$.sock",
                runtime.display()
            ),
            server,
        ])
        .spawn();
    let pid = trickler.pid();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !runtime.join(format!("engine-{pid}.sock")).exists() {
        assert!(Instant::now() < deadline, "the trickler did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    forge_pin(&net, "slow", pid);
    let began = Instant::now();
    let list = net.cmd("wg-pin").arg("--list").run();
    assert!(list.ok().starts_with("slow "), "{list:?}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "the list took {:?}",
        began.elapsed()
    );
    trickler.signal("KILL");
    trickler.wait();
}

/// A program of the same uid can stop an engine (SIGSTOP) and fill its
/// status socket's queue: listing the pins still ends, and says the rest.
#[test]
fn a_stopped_engine_with_a_full_queue_does_not_hang_the_list() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "stopped");
    let engine = engine_of(&net, "stopped");
    let socket = net.sb.runtime.join(format!("wg-wrap/engine-{engine}.sock"));
    let kill = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &engine])
            .status()
            .unwrap()
    };
    kill("-STOP");
    let fill = format!(
        "import socket\nheld = []\nfor i in range(5000):\n    s = socket.socket(socket.AF_UNIX)\n    s.setblocking(False)\n    try:\n        s.connect({:?})\n    except BlockingIOError:\n        break\n    held.append(s)\nprint('full')\nimport time; time.sleep(15)",
        socket.display().to_string()
    );
    let filler = crate::common::Cmd::from(&net.sb, std::path::Path::new("/usr/bin/python3"))
        .args(["-c", &fill])
        .spawn();
    std::thread::sleep(Duration::from_secs(2));
    let began = Instant::now();
    let list = net.cmd("wg-pin").arg("--list").run();
    let took = began.elapsed();
    kill("-CONT");
    filler.signal("KILL");
    filler.wait();
    assert!(list.ok().starts_with("stopped "), "{list:?}");
    assert!(took < Duration::from_secs(10), "the list took {took:?}");
    net.cmd("wg-pin").args(["--remove", "stopped"]).run().ok();
}

/// A namespace whose program has just ended is not listed (its engine may
/// still deliver the last packets for a moment).
#[test]
fn status_does_not_list_a_namespace_that_just_ended() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.wrap(&["vpn", "--", "true"]).run().ok();
    assert_eq!(net.wrap(&["status"]).run().ok(), "");
}

/// An idle, healthy pin (a handshake and keepalives, no data) shows the
/// bytes it exchanged, as `wg show` counts them, not rx=0 tx=0.
#[test]
fn an_idle_pin_counts_its_handshake_and_keepalives() {
    let net = Net::with_wireguard_go_server();
    let profile = net.profile("198.19.0.0/24") + "PersistentKeepalive = 1\n";
    net.import("vpn", &profile);
    net.wrap(&["--pin", "idle", "vpn", "--", "true"]).run().ok();
    std::thread::sleep(Duration::from_secs(3));
    let line = net.cmd("wg-pin").arg("--list").run().ok().to_string();
    let count = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap()
            .parse()
            .unwrap()
    };
    // The server's handshake response (92 bytes); our initiation (148) and
    // keepalives (32 each, every second).
    assert!(count("rx=") >= 92, "{line}");
    assert!(count("tx=") >= 148 + 32, "{line}");
    net.cmd("wg-pin").args(["--remove", "idle"]).run().ok();
}

/// The systemd user unit `wg-wrap-pin@work`, started and stopped as the
/// user manager would: its ExecStart (a oneshot that must return with the
/// namespace pinned) then its ExecStop. No user manager can run on these
/// machines (no systemd as PID 1), so the test runs the unit's own lines;
/// `systemd-analyze verify` checks the unit itself (packaging/others.rs).
#[test]
fn the_pin_unit_starts_a_pin_that_stays_and_stops_it() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/systemd/wg-wrap-pin@.service"
    ))
    .unwrap();
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("unit-token", 1);
    net.import("work", &net.profile("0.0.0.0/0, ::/0"));
    let line = |key: &str| -> Vec<String> {
        let value = unit
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in the unit"));
        assert!(
            !value.contains(['"', '\'', '$']),
            "{value}: quoting not handled here"
        );
        value
            .replace("%i", "work")
            .split_whitespace()
            .map(|w| match w.strip_prefix("/usr/bin/") {
                Some(applet) => applet.to_string(),
                None => w.to_string(),
            })
            .collect()
    };
    let start = line("ExecStart=");
    let out = net.cmd(&start[0]).args(&start[1..]).run();
    assert_eq!(out.code, 0, "ExecStart failed: {}", out.stderr);
    assert_eq!(out.stderr, "", "ExecStart is quiet (-q)");
    // Oneshot with RemainAfterExit: the pin outlives ExecStart.
    let engine = engine_of(&net, "work");
    assert!(running(&engine), "the pinned engine ended with ExecStart");
    let fetched = net
        .wrap(&[
            "--join",
            "work",
            "--",
            "curl",
            "-sS",
            "--max-time",
            "10",
            &format!("http://{}:8000/token", net::SERVER_TUN),
        ])
        .run();
    assert_eq!(fetched.ok(), "unit-token\n");
    let stop = line("ExecStop=");
    let out = net.cmd(&stop[0]).args(&stop[1..]).run();
    assert_eq!(out.code, 0, "ExecStop failed: {}", out.stderr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(&engine) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!running(&engine), "ExecStop left the engine running");
    net.cmd("wg-pin")
        .args(["--remove", "work"])
        .run()
        .fails(125, "wg-pin: no pinned namespace \"work\"");
}

/// A namespace pinned under two names (the second run of the same key
/// joins the first and pins it again) keeps its engine while either name
/// is left; the last one removed ends it.
#[test]
fn a_namespace_pinned_twice_ends_with_its_last_name() {
    let mut net = Net::with_wireguard_go_server();
    pinned(&mut net, "first");
    let engine = engine_of(&net, "first");
    net.wrap(&["--pin", "second", "vpn", "--", "true"])
        .run()
        .ok();
    assert_eq!(
        engine_of(&net, "second"),
        engine,
        "the second pin is another namespace"
    );
    net.cmd("wg-pin").args(["--remove", "first"]).run().ok();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        running(&engine),
        "removing one of two names ended the namespace"
    );
    let out = net
        .wrap(&[
            "--join",
            "second",
            "--",
            "curl",
            "-sS",
            "--max-time",
            "10",
            &format!("http://{}:8000/token", net::SERVER_TUN),
        ])
        .run();
    assert_eq!(out.ok(), "pinned-token\n");
    net.cmd("wg-pin").args(["--remove", "second"]).run().ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(&engine) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!running(&engine), "the last name removed, the engine stays");
}

/// Chain variables the caller sets are not the chain's: a forged
/// WG_WRAP_ENGINE_FD (fd 3 on /dev/null, which would read as an engine that
/// ended) and WG_WRAP_PIN (the pin wg-exec removes when PROG cannot run)
/// reach no link, whether the run makes a namespace, lands in a live one or
/// joins a pin.
#[test]
fn chain_variables_from_the_caller_reach_no_link() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let forged = |args: &str| {
        let script = format!("exec wg-wrap {args} 3</dev/null");
        crate::common::Cmd::from(&net.sb, std::path::Path::new("/bin/sh"))
            .in_netns(&net.host_ns)
            .env("WG_WRAP_ENGINE_FD", "3")
            .env("WG_WRAP_PIN", "keep")
            .args(["-c", &script])
            .run()
    };
    // New namespaces, with and without the handshake wait.
    for args in [
        "-q --handshake-timeout 0 vpn -- echo ran",
        "-q vpn -- echo ran",
    ] {
        assert_eq!(forged(args).ok(), "ran\n", "{args}");
    }
    net.wrap(&["--pin", "keep", "vpn", "--", "true"]).run().ok();
    // The live namespace of the key, and the pin.
    for args in [
        "-q --handshake-timeout 0 --pin other vpn -- echo ran",
        "--join keep -- echo ran",
    ] {
        assert_eq!(forged(args).ok(), "ran\n", "{args}");
    }
    // PROG cannot run: the pin wg-exec removes is its own, never "keep".
    forged("--join keep -- /nonexistent").fails(127, "cannot execute");
    net.pin_engine("keep");
    net.cmd("wg-pin").args(["--remove", "other"]).run().ok();
    net.cmd("wg-pin").args(["--remove", "keep"]).run().ok();
}

/// A program inside cannot hold an identity's lock: flock needs no write
/// access, and a lock held from inside would stall every later start of its
/// key. Its view of the runtime directory has no locks.
#[test]
fn a_program_inside_cannot_hold_a_profiles_lock() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let other = crate::common::net::Keys::generate();
    net.import(
        "other",
        &net.profile("198.19.0.0/24")
            .replace(&net.client.private, &other.private),
    );
    // While "vpn" is pinned, its lock file is there.
    net.wrap(&["-q", "--pin", "held", "vpn", "--", "true"])
        .run()
        .ok();
    let locks = net.sb.runtime.join("wg-wrap/locks");
    let files: Vec<String> = std::fs::read_dir(&locks)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let script = format!(
        "ls -A {}; flock -n {} true && echo held",
        locks.display(),
        files[0]
    );
    let out = (net.wrap(&["-q", "--handshake-timeout", "0", "other", "--"]))
        .args(["sh", "-c", &script])
        .run();
    assert_eq!(out.stdout, "", "{out:?}");
    net.cmd("wg-pin").args(["--remove", "held"]).run().ok();
}
