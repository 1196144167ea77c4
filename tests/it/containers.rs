//! Hosts unlike the test machine: /etc with bind mounts under it (as in
//! Docker, Podman, toolbox and distrobox containers, or a private hosts
//! entry), resolv.conf as a symlink into /run or out of /etc; each built as
//! root and again without root (`unshare -Urm`, as rootless containers are).
//! Inside, DNS is exactly the profile's for PROG's whole life, and the rest
//! of /etc reads as on the host.

use crate::common::net::{self, Net};

/// A layout: the script that builds it (on a writable copy of /etc; `D` is
/// scratch space of the user's) and the host's resolv.conf update that
/// follows once PROG has read its own (a new file renamed over the old).
struct Layout {
    build: &'static str,
    update: &'static str,
}

/// /etc made writable (as root: an overlay of the machine's), with a private
/// hosts entry and a host name of the "container".
const WRITABLE_ETC: &str = "mkdir -p $D/upper $D/work $D/files
    mount -t overlay overlay -o lowerdir=/etc,upperdir=$D/upper,workdir=$D/work /etc
    FILES";

/// Without root, the machine's /etc cannot be written even through an
/// overlay (its owner is not mapped): a copy on a tmpfs, as a rootless
/// container's own /etc is.
const WRITABLE_ETC_ROOTLESS: &str = "mkdir -p $D/old $D/files
    mount --rbind /etc $D/old
    mount -t tmpfs etc /etc
    cp -rP $D/old/. /etc/ 2>/dev/null || true
    umount -l $D/old
    FILES";

const FILES: &str = "echo '198.18.9.9 private-host' > $D/files/hosts
    echo 'container-x' > $D/files/hostname
    echo 'nameserver 198.18.0.66' > $D/files/resolv.conf";

const PLAIN: Layout = Layout {
    build: "cp $D/files/hosts $D/files/hostname $D/files/resolv.conf /etc/",
    update: "echo 'nameserver 198.18.0.77' > /etc/resolv.conf.new && mv /etc/resolv.conf.new /etc/resolv.conf",
};

const SYSTEMD_RESOLVED: Layout = Layout {
    build: "cp $D/files/hosts $D/files/hostname /etc/
        mkdir -p $D/resolve && cp $D/files/resolv.conf $D/resolve/stub-resolv.conf
        rm -f /etc/resolv.conf && ln -s $D/resolve/stub-resolv.conf /etc/resolv.conf",
    update: "echo 'nameserver 198.18.0.77' > $D/resolve/new && mv $D/resolve/new $D/resolve/stub-resolv.conf",
};

const BIND_HOSTS: Layout = Layout {
    build: "cp $D/files/hostname $D/files/resolv.conf /etc/
        mount --bind $D/files/hosts /etc/hosts",
    update: PLAIN.update,
};

const BIND_RESOLV_CONF: Layout = Layout {
    build: "cp $D/files/hosts $D/files/hostname /etc/
        mount --bind $D/files/resolv.conf /etc/resolv.conf",
    update: "echo 'nameserver 198.18.0.77' > $D/files/new && mv $D/files/new $D/files/resolv.conf",
};

const BIND_ALL_THREE: Layout = Layout {
    build: "mount --bind $D/files/hosts /etc/hosts
        mount --bind $D/files/hostname /etc/hostname
        mount --bind $D/files/resolv.conf /etc/resolv.conf",
    update: BIND_RESOLV_CONF.update,
};

const SYMLINK_OUT_OF_ETC: Layout = Layout {
    build: "cp $D/files/hosts $D/files/hostname /etc/
        mkdir -p $D/wsl && cp $D/files/resolv.conf $D/wsl/resolv.conf
        rm -f /etc/resolv.conf && ln -s $D/wsl/resolv.conf /etc/resolv.conf",
    update: "echo 'nameserver 198.18.0.77' > $D/wsl/new && mv $D/wsl/new $D/wsl/resolv.conf",
};

/// Builds `layout` (as root, or as the user in a user namespace of their
/// own), runs PROG inside wg-wrap, and checks what PROG sees before and
/// after the host's update.
fn check(layout: &Layout, rootless: bool) {
    let net = Net::with_wireguard_go_server();
    net.import("vpn", &net.profile("0.0.0.0/0, ::/0"));
    let d = net.sb.home.join("layout");
    std::fs::create_dir(&d).unwrap();
    net.sb.chown(&d);
    let home = net.sb.home.display();
    let writable = if rootless {
        WRITABLE_ETC_ROOTLESS
    } else {
        WRITABLE_ETC
    };
    let setup = format!(
        "set -e; D={d}
         {writable}
         {build}
         cat /etc/hosts /etc/hostname > $D/host-view
         ( for i in $(seq 100); do [ -e {home}/read1 ] && break; sleep 0.05; done
           {update}
           touch {home}/updated ) &",
        d = d.display(),
        writable = writable.replace("FILES", FILES),
        build = layout.build,
        update = layout.update,
    );
    let script = "cat /etc/resolv.conf; touch $HOME/read1
        for i in $(seq 100); do [ -e $HOME/updated ] && break; sleep 0.05; done
        echo ---; cat /etc/resolv.conf
        echo ---; cat /etc/hosts /etc/hostname
        echo ---; getent hosts private-host";
    let wrap = net.wrap(&["vpn", "--", "sh", "-c", script]);
    let cmd = if rootless {
        let outer = format!("{setup}\nexec \"$@\"");
        wrap.user_pre(&["unshare", "-Urm", "sh", "-c", &outer, "sh"])
    } else {
        wrap.in_host_layout(&setup)
    };
    let out = cmd.run();
    let parts: Vec<&str> = out.ok().split("---\n").collect();
    let ours = [format!("nameserver {}", net::SERVER_TUN)];
    let servers = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(String::from)
            .collect()
    };
    assert!(
        net.sb.home.join("updated").exists(),
        "the host's update did not run: {out:?}"
    );
    assert_eq!(servers(parts[0]), ours, "{out:?}");
    assert_eq!(
        servers(parts[1]),
        ours,
        "changed by the host's update: {out:?}"
    );
    let host_view = std::fs::read_to_string(d.join("host-view")).unwrap();
    assert_eq!(
        parts[2], host_view,
        "/etc/hosts or /etc/hostname differ: {out:?}"
    );
    assert!(parts[3].starts_with("198.18.9.9"), "{out:?}");
}

#[test]
fn plain_etc() {
    check(&PLAIN, false);
}

#[test]
fn plain_etc_rootless() {
    check(&PLAIN, true);
}

#[test]
fn resolv_conf_a_symlink_into_run() {
    check(&SYSTEMD_RESOLVED, false);
}

#[test]
fn resolv_conf_a_symlink_into_run_rootless() {
    check(&SYSTEMD_RESOLVED, true);
}

#[test]
fn a_bind_mount_over_etc_hosts() {
    check(&BIND_HOSTS, false);
}

#[test]
fn a_bind_mount_over_etc_hosts_rootless() {
    check(&BIND_HOSTS, true);
}

#[test]
fn a_bind_mount_over_resolv_conf_as_docker_and_podman_make() {
    check(&BIND_RESOLV_CONF, false);
}

#[test]
fn a_bind_mount_over_resolv_conf_rootless() {
    check(&BIND_RESOLV_CONF, true);
}

#[test]
fn bind_mounts_over_hosts_hostname_and_resolv_conf() {
    check(&BIND_ALL_THREE, false);
}

#[test]
fn bind_mounts_over_hosts_hostname_and_resolv_conf_rootless() {
    check(&BIND_ALL_THREE, true);
}

#[test]
fn resolv_conf_a_symlink_out_of_etc() {
    check(&SYMLINK_OUT_OF_ETC, false);
}

#[test]
fn resolv_conf_a_symlink_out_of_etc_rootless() {
    check(&SYMLINK_OUT_OF_ETC, true);
}

/// A real rootless podman container whose root filesystem is made from this
/// machine's own files (no image, no Internet): wg-wrap inside it fetches
/// through the tunnel with the profile's DNS, both started as toolbox and
/// distrobox start theirs (user namespace kept, host network, privileged)
/// and as a plain `podman run --device /dev/net/tun`.
#[test]
fn a_wrapped_fetch_inside_a_rootless_podman_container() {
    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("from-a-container", 1);
    let sb = &net.sb;
    let rootfs = sb.root.join("rootfs");
    let tools = ["/bin/sh", "/usr/bin/curl", "/bin/cat"];
    let made = std::process::Command::new("sh")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/common/mkroot.sh"
        ))
        .arg(&rootfs)
        .arg(&sb.user.name)
        .args(tools)
        .arg(sb.bin.join("wg-wrap"))
        .status()
        .unwrap();
    assert!(made.success());
    for applet in sb.applets() {
        if applet != "wg-wrap" {
            std::os::unix::fs::symlink("wg-wrap", rootfs.join("usr/bin").join(&applet)).unwrap();
        }
    }
    let profile = rootfs.join("vpn.conf");
    std::fs::write(&profile, net.profile("198.19.0.0/24")).unwrap();
    std::fs::set_permissions(
        &profile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    sb.chown(&profile);
    let inside = format!(
        "cat /proc/self/mountinfo; echo ---; wg-wrap -q /vpn.conf -- sh -c 'cat /etc/resolv.conf; echo ---; curl -sS --max-time 5 http://{}:8000/token'",
        net::SERVER_TUN
    );
    let toolbox = [
        "--userns=keep-id",
        "--network=host",
        "--pid=host",
        "--privileged",
        "--security-opt=label=disable",
    ];
    let plain = [
        "--userns=keep-id",
        "--network=host",
        "--device=/dev/net/tun",
        "--security-opt=label=disable",
    ];
    for flags in [&toolbox[..], &plain[..]] {
        // runc and cgroupfs: the machines this runs on have hybrid cgroups,
        // which crun refuses.
        let out = crate::common::Cmd::from(sb, std::path::Path::new("/usr/bin/podman"))
            .in_netns(&net.host_ns)
            .args(["--runtime=runc", "--cgroup-manager=cgroupfs", "run", "--rm"])
            .args(flags)
            .args(["-e", "XDG_RUNTIME_DIR=/run", "-e", "HOME=/home", "--rootfs"])
            .arg(&rootfs)
            .args(["/bin/sh", "-c", &inside])
            .run();
        let parts: Vec<&str> = out.ok().split("---\n").collect();
        assert_eq!(parts.len(), 3, "{flags:?}: {out:?}");
        assert!(
            parts[0]
                .lines()
                .any(|l| l.split(' ').nth(4) == Some("/etc/resolv.conf")),
            "{flags:?}: podman bound no resolv.conf: {out:?}"
        );
        let servers: Vec<&str> = parts[1]
            .lines()
            .filter(|l| l.starts_with("nameserver"))
            .collect();
        assert_eq!(
            servers,
            [format!("nameserver {}", net::SERVER_TUN)],
            "{flags:?}: {out:?}"
        );
        assert_eq!(parts[2], "from-a-container\n", "{flags:?}: {out:?}");
    }
}
