//! No secret within PROG's reach: not in any environment, command line,
//! readable memory or descriptor, not in the profile files.

use crate::common::net::{self, Net};

/// A secret as secrets.py wants it: its bytes XOR 0x5a, in hex.
fn disguised(base64_key: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64,sys; print(bytes(b^0x5a for b in base64.b64decode(sys.argv[1])).hex())",
            base64_key,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn keys_are_nowhere_prog_can_read() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("token", 1);
    let psk = std::process::Command::new("wg")
        .arg("genpsk")
        .output()
        .unwrap();
    let psk = String::from_utf8(psk.stdout).unwrap().trim().to_string();
    let psk_file = net.sb.root.join("psk");
    std::fs::write(&psk_file, format!("{psk}\n")).unwrap();
    let client = net.client.public.clone();
    net.wg(&["peer", &client, "preshared-key", psk_file.to_str().unwrap()]);
    let profile = net
        .profile("0.0.0.0/0, ::/0")
        .replace("AllowedIPs", &format!("PresharedKey = {psk}\nAllowedIPs"));
    net.import("vpn", &profile);
    let by_path = net.sb.user_file("direct.conf", &profile, 0o600);

    let script = net.sb.root.join("secrets.py");
    std::fs::write(&script, include_str!("../common/secrets.py")).unwrap();
    let needles = [disguised(&net.client.private), disguised(&psk)];
    // By name, the store is hidden; by path, that file is.
    let store_check = format!("echo hidden: $(ls -A {} | wc -l)", net.sb.store().display());
    let file_check = format!("echo hidden: $(cat {} | wc -c)", by_path.display());
    for (profile_arg, hidden_check) in [
        ("vpn", &store_check),
        (by_path.to_str().unwrap(), &file_check),
    ] {
        let prog = format!(
            "curl -sS --max-time 5 http://{}:8000/token && python3 {} {} {}
             {hidden_check}",
            net::SERVER_TUN,
            script.display(),
            needles[0],
            needles[1],
        );
        let out = net.wrap(&[profile_arg, "--", "sh", "-c", &prog]).run();
        let lines: Vec<&str> = out.ok().lines().collect();
        assert_eq!(
            lines[0], "token",
            "the tunnel (with the preshared key) works: {out:?}"
        );
        assert_eq!(lines.len(), 3, "a secret was found: {out:?}");
        let summary = lines[1];
        assert!(summary.contains("own fds 0,1,2,"), "{summary}");
        assert!(summary.contains("wg vars 0"), "{summary}");
        assert!(summary.contains("engine memory readable: no"), "{summary}");
        let readable: usize = summary
            .split(", ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            readable >= 1,
            "the scan read no memory at all (sh's should be readable): {summary}"
        );
        assert_eq!(
            lines[2], "hidden: 0",
            "the profile is readable inside: {out:?}"
        );
    }
}

/// While wg-up (and the engine it forked) hold the keys and wait for a
/// handshake that does not come, neither is dumpable: their /proc files
/// belong to root, so a program of the same uid can neither read their
/// memory nor ptrace them, and a signal leaves no core with the key (their
/// core limit is 0 too, for hosts that dump non-dumpable processes; PROG
/// gets the caller's limit back).
#[test]
fn the_links_that_hold_keys_are_not_dumpable_while_they_wait() {
    let mut net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.stop_wireguard_go();
    let running = net
        .wrap(&[
            "--handshake-timeout",
            "5",
            "vpn",
            "--",
            "sh",
            "-c",
            "ulimit -c",
        ])
        .user_pre(&["prlimit", "--core=409600:"])
        .spawn();
    // (pid, owner of /proc/PID/mem, soft core limit) of wg-up and its
    // engine; the short-lived process between their forks is skipped.
    let look = |pid: u32| {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(format!("/proc/{pid}/mem")).ok()?.uid();
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))?;
        Some((pid, owner, core.split_whitespace().nth(4)?.to_string()))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let mut holders = Vec::new();
    while holders.len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        holders = (net.sb.processes().into_iter())
            .filter(|(_, cmd)| cmd.starts_with("wg-up"))
            .filter_map(|(pid, _)| look(pid))
            .collect();
    }
    assert_eq!(holders.len(), 2, "wg-up and its engine were not both seen");
    for (pid, owner, core) in holders {
        assert_eq!(owner, 0, "process {pid} is dumpable");
        assert_eq!(core, "0", "process {pid} may dump core");
    }
    let out = running.wait();
    assert_eq!(
        out.stdout, "800\n",
        "PROG's core limit (512-byte blocks): {out:?}"
    );
}

/// A namespace made before the profile store exists (a profile given by
/// path) finds the store masked once the user imports one, and after the
/// user removes and recreates the profiles directory.
#[test]
fn a_store_made_after_the_namespace_is_masked_too() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("token", 1);
    let file = net
        .sb
        .user_file("direct.conf", net.profile("198.19.0.0/24"), 0o600);
    let store = net.sb.store();
    assert!(!store.exists());
    net.wrap(&["--pin", "early", file.to_str().unwrap(), "--", "true"])
        .run()
        .ok();
    let look = format!(
        "cat {0}/profiles/late.conf 2>/dev/null; ls -A {0}; echo end",
        store.display()
    );
    for round in ["imported", "recreated"] {
        if round == "recreated" {
            std::fs::remove_dir_all(store.join("profiles")).unwrap();
        }
        net.import("late", &net.profile("198.19.0.0/24"));
        let out = net
            .wrap(&["--join", "early", "--", "sh", "-c", &look])
            .run();
        assert_eq!(out.ok(), "end\n", "{round}: the store is readable: {out:?}");
    }
    net.cmd("wg-pin").args(["--remove", "early"]).run().ok();
}

/// Started from inside the profile store (or from a directory below it),
/// PROG finds the store masked all the same: the working directory is
/// entered again by path after the mask, for a new namespace and a join.
#[test]
fn a_working_directory_inside_the_store_shows_the_mask() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("token", 1);
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let store = net.sb.store();
    let profiles = store.join("profiles");
    let look = "pwd; ls -A; cat profiles/vpn.conf vpn.conf 2>/dev/null; true";
    let fresh = net
        .wrap(&["vpn", "--", "sh", "-c", look])
        .current_dir(&store)
        .run();
    assert_eq!(fresh.ok(), format!("{}\n", store.display()), "{fresh:?}");
    net.wrap(&["--pin", "cwd", "vpn", "--", "true"]).run().ok();
    let joined = net
        .wrap(&["--join", "cwd", "--", "sh", "-c", look])
        .current_dir(&store)
        .run();
    assert_eq!(joined.ok(), format!("{}\n", store.display()), "{joined:?}");
    for args in [&["vpn", "--"][..], &["--join", "cwd", "--"]] {
        let deeper = net
            .wrap(args)
            .args(["sh", "-c", look])
            .current_dir(&profiles)
            .run();
        assert_eq!(
            deeper.ok(),
            format!("{}\n", net.sb.home.display()) + ".config\n"
        );
        assert!(
            deeper.stderr.contains("is hidden inside: starting in"),
            "{deeper:?}"
        );
    }
    net.cmd("wg-pin").args(["--remove", "cwd"]).run().ok();
}

/// A profile given by a path that only seems to lie in the store
/// (`store/../../work.conf`) is masked as the file it really is.
#[test]
fn a_profile_path_through_the_store_is_masked_as_resolved() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("token", 1);
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let file = net
        .sb
        .user_file("work.conf", net.profile("198.19.0.0/24"), 0o600);
    let spelled = net.sb.store().join("../../work.conf");
    let out = net
        .wrap(&[spelled.to_str().unwrap(), "--", "cat"])
        .arg(&file)
        .run();
    assert!(
        !out.ok().contains("PrivateKey"),
        "the key was readable: {out:?}"
    );
}

/// A profile that is also PROG's standard input (`wg-wrap /dev/stdin -- PROG
/// < work.conf`) is refused: hidden by path, it would be read through fd 0.
#[test]
fn a_profile_on_standard_input_is_refused() {
    let net = Net::with_wireguard_go_server();
    let file = net
        .sb
        .user_file("work.conf", net.profile("198.19.0.0/24"), 0o600);
    for profile in ["/dev/stdin", file.to_str().unwrap()] {
        let script = format!("exec wg-wrap {profile} -- cat < {}", file.display());
        let out = crate::common::Cmd::from(&net.sb, std::path::Path::new("/bin/sh"))
            .in_netns(&net.host_ns)
            .args(["-c", &script])
            .run();
        out.fails(
            125,
            "wg-unshare: the profile is open on standard input: the program would read its keys there",
        );
        assert!(!out.stdout.contains("PrivateKey"));
    }
}

/// A program inside renames a parent of the store away (its HOME is
/// writable; the mask moves with it) and leaves an empty store in its place:
/// the user's next import would land where the program reads. It is refused
/// while that namespace lives, and works once it has ended.
#[test]
fn a_store_moved_away_from_inside_is_not_written_to() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    net.wrap(&["--pin", "mover", "vpn", "--", "true"])
        .run()
        .ok();
    let config = net.sb.home.join(".config");
    let attack = format!(
        "mv {c} {c}.old && mkdir -p {c}/wg-wrap/profiles && echo moved",
        c = config.display()
    );
    let out = net
        .wrap(&["--join", "mover", "--", "sh", "-c", &attack])
        .run();
    assert_eq!(out.ok(), "moved\n");
    let import = net
        .sb
        .cmd("wg-profile")
        .args(["import", "-", "late"])
        .stdin(net.profile("198.19.0.0/24"))
        .run();
    import.fails(125, "is not the store the namespace of engine");
    // Spelled otherwise: the same.
    let home = format!("{}//", net.sb.home.display());
    let out = (net.sb.cmd("wg-profile").args(["import", "-", "late"]))
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .stdin(net.profile("198.19.0.0/24"))
        .run();
    out.fails(125, "is not the store the namespace of engine");
    assert!(!config.join("wg-wrap/profiles/late.conf").exists());
    net.cmd("wg-pin").args(["--remove", "mover"]).run().ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !net.sb.processes().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the engine did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    net.import("late", &net.profile("198.19.0.0/24"));
}

/// A directory on PROG's standard input (`< ~`) would reach the store below
/// the masks through /proc/self/fd/0: refused.
#[test]
fn a_directory_on_standard_input_is_refused() {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("198.19.0.0/24"));
    let script =
        "exec wg-wrap vpn -- sh -c 'cat /proc/self/fd/0/.config/wg-wrap/profiles/vpn.conf' < $HOME";
    let out = crate::common::Cmd::from(&net.sb, std::path::Path::new("/bin/sh"))
        .in_netns(&net.host_ns)
        .args(["-c", script])
        .run();
    out.fails(
        125,
        "wg-unshare: standard input is a directory: the program could read the hidden profiles through it",
    );
    assert!(!out.stdout.contains("PrivateKey"));
}

/// A profile from a pipe (`<(cat work.conf)`, as scripts pass decrypted
/// profiles) works; nothing of it is left inside: PROG has fds 0, 1, 2.
#[test]
fn a_profile_from_a_pipe_works_and_leaves_nothing_inside() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("piped", 1);
    let file = net
        .sb
        .user_file("work.conf", net.profile("198.19.0.0/24"), 0o600);
    let script = format!(
        "exec wg-wrap -q <(cat {}) -- sh -c 'ls /proc/self/fd | wc -l; curl -sS --max-time 5 http://198.19.0.1:8000/token'",
        file.display()
    );
    let out = crate::common::Cmd::from(&net.sb, std::path::Path::new("/bin/bash"))
        .in_netns(&net.host_ns)
        .args(["-c", &script])
        .run();
    // ls's own listing: 0, 1, 2 and the directory it reads.
    assert_eq!(out.ok(), "4\npiped\n", "{out:?}");
}
