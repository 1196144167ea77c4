//! No host service acts for PROG outside the tunnel: the session bus is a
//! filtered one (no activation, no systemd, no portal), and the system bus,
//! avahi, sssd, winbind, CUPS, container engines, systemd's user manager and
//! gpg's dirmngr are out of reach. Windows and sound keep working.

use crate::common::net::Net;
use crate::common::{Cmd, Running};
use std::path::Path;
use std::time::{Duration, Instant};

/// The user's session bus (a real dbus-daemon with the standard session
/// configuration: activation from ~/.local/share/dbus-1/services), and a
/// service file there that records the network namespace it runs in.
struct SessionBus {
    daemon: Option<Running>,
    marker: std::path::PathBuf,
}

impl SessionBus {
    fn start(net: &Net) -> SessionBus {
        let sb = &net.sb;
        let services = sb.home.join(".local/share/dbus-1/services");
        std::fs::create_dir_all(&services).unwrap();
        let marker = sb.home.join("escaped");
        let service = format!(
            "[D-BUS Service]\nName=org.example.Escape\nExec=/bin/sh -c 'readlink /proc/self/ns/net > {}'\n",
            marker.display()
        );
        std::fs::write(services.join("org.example.Escape.service"), &service).unwrap();
        // The portal's name, as xdg-open and GTK's "open URI" reach it.
        std::fs::write(
            services.join("org.freedesktop.portal.Desktop.service"),
            service.replace("org.example.Escape", "org.freedesktop.portal.Desktop"),
        )
        .unwrap();
        for dir in [
            ".local",
            ".local/share",
            ".local/share/dbus-1",
            ".local/share/dbus-1/services",
        ] {
            sb.chown(&sb.home.join(dir));
        }
        let address = format!("unix:path={}/bus", sb.runtime.display());
        let daemon = Cmd::from(sb, Path::new("/usr/bin/dbus-daemon"))
            .args([
                "--session",
                "--nofork",
                "--nopidfile",
                "--address",
                &address,
            ])
            .env("XDG_DATA_HOME", sb.home.join(".local/share"))
            .spawn();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sb.runtime.join("bus").exists() {
            assert!(Instant::now() < deadline, "dbus-daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        SessionBus {
            daemon: Some(daemon),
            marker,
        }
    }

    /// What ran outside: the network namespace the service started in.
    fn escaped(&self) -> Option<String> {
        std::thread::sleep(Duration::from_millis(500));
        std::fs::read_to_string(&self.marker).ok()
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.signal("TERM");
            daemon.wait();
        }
    }
}

/// The attacks on the session bus: start a service by name, call the portal
/// (auto-start), change the activation environment, ask systemd's user
/// manager to run a unit. Each prints `escape-N: ok` if the bus answered it
/// (a service started outside may never answer: the marker file tells).
const BUS_ATTACKS: &str = r#"
    send() { dbus-send --session --print-reply --reply-timeout=2000 "$@" >/dev/null 2>&1; }
    send --dest=org.freedesktop.DBus / org.freedesktop.DBus.StartServiceByName string:org.example.Escape uint32:0 && echo escape-1: ok
    send --dest=org.freedesktop.portal.Desktop /org/freedesktop/portal/desktop org.freedesktop.portal.OpenURI.OpenURI string: string:http://198.18.9.9/ dict:string:string: && echo escape-2: ok
    send --dest=org.freedesktop.DBus / org.freedesktop.DBus.UpdateActivationEnvironment dict:string:string:PATH,/tmp && echo escape-3: ok
    timeout 5 systemd-run --user --quiet true >/dev/null 2>&1 && echo escape-4: ok
    send --dest=org.freedesktop.DBus / org.freedesktop.DBus.GetId && echo bus: works
    true
"#;

#[test]
fn the_session_bus_inside_is_filtered_and_starts_nothing() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let bus = SessionBus::start(&net);
    let address = format!("unix:path={}/bus", net.sb.runtime.display());
    let out = net
        .wrap(&["vpn", "--", "sh", "-c", BUS_ATTACKS])
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .run();
    assert_eq!(out.ok(), "bus: works\n", "{out:?}");
    assert_eq!(bus.escaped(), None, "a service started outside");
    // Without DBUS_SESSION_BUS_ADDRESS, at the default path: the same.
    let out = net.wrap(&["vpn", "--", "sh", "-c", BUS_ATTACKS]).run();
    assert_eq!(out.ok(), "bus: works\n", "{out:?}");
    assert_eq!(bus.escaped(), None, "a service started outside");
    // The opt-in passes the real bus: the same attack starts the service
    // in the host's network namespace.
    let out = net
        .wrap(&["--host-session-bus", "vpn", "--", "sh", "-c", BUS_ATTACKS])
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .run();
    assert!(out.ok().contains("bus: works"), "{out:?}");
    let escaped = bus.escaped().expect("the opt-in did not pass the real bus");
    let outside = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(escaped.trim(), outside.to_str().unwrap());
}

/// Without xdg-dbus-proxy there is no bus inside at all, and one note says
/// why and what to do.
#[test]
fn without_the_proxy_there_is_no_bus_and_one_note() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let bus = SessionBus::start(&net);
    // A PATH with what the test needs, and no xdg-dbus-proxy.
    let tools = net.sb.root.join("tools");
    std::fs::create_dir(&tools).unwrap();
    let tools_wanted = [
        "sh",
        "dbus-send",
        "timeout",
        "systemd-run",
        "true",
        "nsenter",
        "setpriv",
    ];
    for tool in tools_wanted {
        std::os::unix::fs::symlink(Path::new("/usr/bin").join(tool), tools.join(tool)).unwrap();
    }
    let path = format!("{}:{}", net.sb.bin.display(), tools.display());
    let out = net
        .wrap(&["vpn", "--", "sh", "-c", BUS_ATTACKS])
        .env("PATH", &path)
        .run();
    assert_eq!(out.ok(), "", "{out:?}");
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("session bus"))
        .collect();
    assert_eq!(
        notes,
        [
            "wg-unshare: note: no session bus inside: install xdg-dbus-proxy for a filtered one (or pass --host-session-bus for the host's, unfiltered)"
        ],
        "{out:?}"
    );
    assert_eq!(bus.escaped(), None, "a service started outside");
}

/// System and per-user services that act for a client, each a listening
/// socket where the real one lives (in a mount namespace of the test's own):
/// reachable from the host, out of reach inside.
#[test]
fn system_and_user_services_are_out_of_reach() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let runtime = net.sb.runtime.display().to_string();
    let mut sockets: Vec<String> = [
        "/run/dbus/system_bus_socket",
        "/run/avahi-daemon/socket",
        "/var/lib/sss/pipes/nss",
        "/run/samba/winbindd/pipe",
        "/run/cups/cups.sock",
        "/run/podman/podman.sock",
        "/run/docker.sock",
        "/run/snapd.socket",
    ]
    .map(String::from)
    .to_vec();
    for inside_runtime in [
        "systemd/private",
        "gvfsd/socket-x",
        "at-spi/bus",
        "podman/podman.sock",
        "docker.sock",
        "gnupg/S.dirmngr",
        "kdeinit5__0",
    ] {
        sockets.push(format!("{runtime}/{inside_runtime}"));
    }
    let listen = net.sb.root.join("listen.py");
    std::fs::write(&listen, include_str!("../common/listen.py")).unwrap();
    let log = net.sb.root.join("connections");
    let setup = format!(
        "mount -t tmpfs tmpfs /run
         mount -t tmpfs tmpfs /var/lib
         python3 {} {} 20 {} &
         while [ ! -e {}.ready ]; do sleep 0.05; done",
        listen.display(),
        log.display(),
        sockets.join(" "),
        log.display()
    );
    let probe = "import socket, sys
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        print('reached', path)
    except OSError:
        pass";
    let script = "python3 -c \"$0\" \"$@\"; echo inside:; wg-wrap vpn -- python3 -c \"$0\" \"$@\"";
    let out = Cmd::from(&net.sb, Path::new("/bin/sh"))
        .in_netns(&net.host_ns)
        .in_host_layout(&setup)
        .args(["-c", script, probe])
        .args(&sockets)
        .run();
    let text = out.ok();
    let (host, inside) = text.split_once("inside:\n").unwrap();
    assert_eq!(
        host.lines().count(),
        sockets.len(),
        "not all reachable from the host: {out:?}"
    );
    assert_eq!(inside, "", "reached from inside: {out:?}");
    let connections = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(connections.lines().count(), sockets.len(), "{connections}");
}

/// A GUI program on an X server and one on a Wayland compositor, and a
/// PulseAudio client, work inside as outside.
#[test]
fn windows_and_sound_keep_working() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let sb = &net.sb;
    let display = format!(":{}", 50 + std::process::id() % 900);
    let xvfb = Cmd::from(sb, Path::new("/usr/bin/Xvfb"))
        .args([display.as_str(), "-nolisten", "tcp"])
        .spawn();
    let weston = Cmd::from(sb, Path::new("/usr/bin/weston"))
        .args([
            "--backend=headless-backend.so",
            "--socket=wayland-t",
            "--idle-time=0",
        ])
        .spawn();
    let pulse = Cmd::from(sb, Path::new("/usr/bin/pulseaudio"))
        .args([
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disable-shm",
            "-L",
            "module-native-protocol-unix",
            "-L",
            "module-null-sink",
        ])
        .spawn();
    let wait_for = |path: &Path| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !path.exists() {
            assert!(
                Instant::now() < deadline,
                "{} did not appear",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let x_socket = format!("/tmp/.X11-unix/X{}", &display[1..]);
    wait_for(Path::new(&x_socket));
    wait_for(&sb.runtime.join("wayland-t"));
    wait_for(&sb.runtime.join("pulse/native"));
    let script = "xdpyinfo | grep -c '^name of display'
        WAYLAND_DISPLAY=wayland-t wayland-info | grep -c 'wl_compositor'
        pactl info | grep -c '^Server Name: pulseaudio'";
    for args in [
        &["sh", "-c", script][..],
        &["wg-wrap", "vpn", "--", "sh", "-c", script],
    ] {
        let out = Cmd::from(sb, Path::new("/usr/bin/env"))
            .in_netns(&net.host_ns)
            .env("DISPLAY", &display)
            .args(args)
            .run();
        assert_eq!(out.ok(), "1\n1\n1\n", "{args:?}: {out:?}");
    }
    for daemon in [xvfb, weston, pulse] {
        daemon.signal("TERM");
        daemon.wait();
    }
}

/// A session bus that appears, or comes back, after the namespace was made
/// (the daemon removes its socket and makes a new one) is not reachable
/// inside: the runtime directory inside holds only what it held at the start.
#[test]
fn a_bus_started_or_restarted_later_is_out_of_reach() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.wrap(&["--pin", "early", "vpn", "--", "true"])
        .run()
        .ok();
    let bus = SessionBus::start(&net);
    let out = net
        .wrap(&["--join", "early", "--", "sh", "-c", BUS_ATTACKS])
        .run();
    assert_eq!(out.ok(), "", "{out:?}");
    assert_eq!(bus.escaped(), None, "a service started outside");
    // A namespace made with the bus, which then restarts.
    net.wrap(&["--pin", "late", "vpn", "--", "true"]).run().ok();
    drop(bus);
    let bus = SessionBus::start(&net);
    let out = net
        .wrap(&["--join", "late", "--", "sh", "-c", BUS_ATTACKS])
        .run();
    assert!(!out.stdout.contains("escape"), "{out:?}");
    assert_eq!(bus.escaped(), None, "a service started outside");
    for pin in ["early", "late"] {
        net.cmd("wg-pin").args(["--remove", pin]).run().ok();
    }
}
