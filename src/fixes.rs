//! What the host refuses, and the fix to print: read off its sysctls, its
//! seccomp state and whether this is a container. One place, so that
//! `wg-wrap doctor` and the errors of a run say the same.

use std::fs;
use std::path::Path;

fn sysctl(name: &str) -> Option<String> {
    fs::read_to_string(Path::new("/proc/sys").join(name.replace('.', "/")))
        .ok()
        .map(|v| v.trim().to_string())
}

/// The container engine this runs under, if any (podman writes
/// /run/.containerenv, Docker /.dockerenv; toolbox and distrobox are podman).
pub fn container() -> Option<&'static str> {
    if Path::new("/run/.containerenv").exists() {
        Some("podman")
    } else if Path::new("/.dockerenv").exists() {
        Some("docker")
    } else {
        std::env::var_os("container").map(|_| "the container engine")
    }
}

/// Whether a seccomp filter is applied to this process (a container's
/// default profile, systemd's SystemCallFilter=).
fn seccomp_filtered() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|l| l.strip_prefix("Seccomp:").is_some_and(|v| v.trim() == "2"))
    })
}

/// Why this host refuses user namespaces, and the fix.
pub fn userns() -> String {
    if sysctl("user.max_user_namespaces").as_deref() == Some("0") {
        "user.max_user_namespaces is 0: `sysctl -w user.max_user_namespaces=15000` (and in /etc/sysctl.d/)".into()
    } else if sysctl("kernel.unprivileged_userns_clone").as_deref() == Some("0") {
        "kernel.unprivileged_userns_clone is 0: `sysctl -w kernel.unprivileged_userns_clone=1`"
            .into()
    } else if sysctl("kernel.apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        "AppArmor restricts unprivileged user namespaces: load wg-wrap's profile \
         (`apparmor_parser -r /etc/apparmor.d/wg-wrap`, from packaging/apparmor/) or \
         `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
            .into()
    } else if seccomp_filtered() {
        match container() {
            Some("docker") => "Docker's seccomp profile refuses unshare: start the container with \
                 `--security-opt seccomp=unconfined` (and `--device /dev/net/tun`)"
                .into(),
            Some(engine) => format!(
                "a seccomp filter refuses unshare: start the container ({engine}) with \
                 `--security-opt seccomp=unconfined`"
            ),
            None => {
                "a seccomp filter on this process refuses unshare: run wg-wrap outside it".into()
            }
        }
    } else {
        "the kernel or a security module refuses them for this user".into()
    }
}

/// Root of the host: uid 0 in the initial user namespace (not uid 0 mapped
/// in a user namespace of someone's, as in a rootless container).
pub fn real_root() -> bool {
    rustix::process::getuid().is_root()
        && fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

/// The fix when /dev/net/tun is missing.
pub fn tun_missing() -> String {
    match container() {
        Some(engine) => format!("start the container ({engine}) with `--device /dev/net/tun`"),
        None => "load the tun module: `modprobe tun`".into(),
    }
}

/// The fix when /dev/net/tun cannot be opened.
pub fn tun_denied() -> String {
    "make it mode 0666, as distributions ship it: `chmod 0666 /dev/net/tun`".into()
}
