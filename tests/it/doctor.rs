//! `wg-wrap doctor`: every check, passing here and made to fail in a
//! namespace or an environment of the test's own.

use crate::common::Sandbox;

fn line<'a>(text: &'a str, what: &str) -> &'a str {
    text.lines()
        .find(|l| l[6..].starts_with(what))
        .unwrap_or_else(|| panic!("no {what} line in:\n{text}"))
}

#[test]
fn on_this_host_everything_is_fine() {
    let sb = Sandbox::new();
    let out = sb.cmd("wg-wrap").arg("doctor").run();
    let text = out.ok();
    assert_eq!(
        line(text, "user namespaces"),
        "ok    user namespaces: allowed"
    );
    assert_eq!(
        line(text, "/dev/net/tun"),
        "ok    /dev/net/tun: readable and writable"
    );
    assert_eq!(
        line(text, "runtime directory"),
        format!("ok    runtime directory: {}/wg-wrap", sb.runtime.display())
    );
    assert!(line(text, "wireguard-go").starts_with("ok    wireguard-go: /"));
    assert_eq!(line(text, "/etc:"), "ok    /etc: nothing mounted under it");
    assert_eq!(
        line(text, "session bus"),
        "ok    session bus: filtered inside by /usr/bin/xdg-dbus-proxy"
    );
    assert_eq!(text.lines().count(), 8, "{text}");
}

/// A container's layout (files bound under /etc) is a note: it works, and
/// /etc inside is links.
#[test]
fn mounts_under_etc_are_a_note() {
    let sb = Sandbox::new();
    let out = sb
        .cmd("wg-wrap")
        .arg("doctor")
        .in_host_layout("mount --bind /etc/hostname /etc/hosts")
        .run();
    assert_eq!(
        line(out.ok(), "/etc:"),
        "note  /etc: /etc/hosts mounted under it (a container's layout): inside, /etc is read-only links into this one, with the profile's resolv.conf"
    );
}

#[test]
fn user_namespaces_refused() {
    let sb = Sandbox::new();
    let out = sb
        .cmd("wg-wrap")
        .arg("doctor")
        .without_user_namespaces()
        .run();
    assert_eq!(out.code, 125, "{out:?}");
    assert!(
        line(&out.stdout, "user namespaces").starts_with("FAIL  user namespaces: cannot create one: no space left on device (user.max_user_namespaces is 0: `sysctl -w user.max_user_namespaces="),
        "{out:?}"
    );
}

#[test]
fn tun_missing_or_closed() {
    let sb = Sandbox::new();
    let missing = sb
        .cmd("wg-wrap")
        .arg("doctor")
        .in_host_layout("mount -t tmpfs none /dev/net")
        .run();
    assert_eq!(missing.code, 125);
    // The test machine may itself be a Docker image (/.dockerenv).
    let fix = if std::path::Path::new("/.dockerenv").exists() {
        "start the container (docker) with `--device /dev/net/tun`"
    } else {
        "load the tun module: `modprobe tun`"
    };
    assert_eq!(
        line(&missing.stdout, "/dev/net/tun"),
        format!("FAIL  /dev/net/tun: missing ({fix})")
    );
    let closed = sb
        .cmd("wg-wrap")
        .arg("doctor")
        .in_host_layout("mount -t tmpfs none /dev/net\nmknod -m 600 /dev/net/tun c 10 200")
        .run();
    assert_eq!(closed.code, 125);
    assert_eq!(
        line(&closed.stdout, "/dev/net/tun"),
        "FAIL  /dev/net/tun: permission denied (make it mode 0666, as distributions ship it: `chmod 0666 /dev/net/tun`)"
    );
}

#[test]
fn runtime_directory_not_ours_or_not_set() {
    let sb = Sandbox::new();
    // A directory owned by root: refused.
    let out = sb
        .cmd("wg-wrap")
        .arg("doctor")
        .env("XDG_RUNTIME_DIR", &sb.root)
        .run();
    assert_eq!(out.code, 125);
    assert!(
        line(&out.stdout, "runtime directory")
            .starts_with("FAIL  runtime directory: cannot use runtime directory"),
        "{out:?}"
    );
    // Not set (as under cron): the fallback, said as a note.
    let fallback = if std::path::Path::new(&format!("/run/user/{}", sb.user.uid)).is_dir() {
        format!("/run/user/{}/wg-wrap", sb.user.uid)
    } else {
        format!("/tmp/wg-wrap-{}", sb.user.uid)
    };
    let existed = std::path::Path::new(&fallback).exists();
    let out = sb
        .cmd("wg-wrap")
        .arg("doctor")
        .env_remove("XDG_RUNTIME_DIR")
        .run();
    if !existed {
        let _ = std::fs::remove_dir(&fallback);
    }
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        line(&out.stdout, "runtime directory"),
        format!("note  runtime directory: XDG_RUNTIME_DIR is not set; using {fallback}")
    );
}

#[test]
fn resolv_conf_layouts_are_explained() {
    let sb = Sandbox::new();
    let d = sb.root.join("etc");
    let stub = format!(
        "mkdir -p {d}/upper {d}/work
         mount -t tmpfs wg-wrap-test /run
         mkdir -p /run/systemd/resolve && echo 'nameserver 127.0.0.53' > /run/systemd/resolve/stub-resolv.conf
         ln -s ../run/systemd/resolve/stub-resolv.conf {d}/upper/resolv.conf
         mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/upper,workdir={d}/work /etc",
        d = d.display()
    );
    let out = sb.cmd("wg-wrap").arg("doctor").in_host_layout(&stub).run();
    assert!(
        line(out.ok(), "/etc/resolv.conf")
            .starts_with("note  /etc/resolv.conf: points to systemd-resolved's stub"),
        "{out:?}"
    );
    let d = sb.root.join("etc2");
    let local = format!(
        "mkdir -p {d}/upper {d}/work
         echo 'nameserver 127.0.0.1' > {d}/upper/resolv.conf
         mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/upper,workdir={d}/work /etc",
        d = d.display()
    );
    let out = sb.cmd("wg-wrap").arg("doctor").in_host_layout(&local).run();
    assert!(
        line(out.ok(), "/etc/resolv.conf")
            .starts_with("note  /etc/resolv.conf: lists only a local resolver"),
        "{out:?}"
    );
}

#[test]
fn optional_tools_missing_is_only_a_note() {
    let sb = Sandbox::new();
    let path = format!("PATH={}", sb.bin.display());
    let out = sb
        .cmd("wg-wrap")
        .arg("doctor")
        .user_pre(&["/usr/bin/env", &path])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        line(&out.stdout, "wireguard-go").starts_with("note  wireguard-go: not found (optional"),
        "{out:?}"
    );
    assert!(
        line(&out.stdout, "wg").starts_with("note  wg: not found (optional"),
        "{out:?}"
    );
}

/// Without XDG_RUNTIME_DIR and /run/user/UID, another user who made the
/// user's /tmp/wg-wrap-UID first stops nothing: the runtime directory is then
/// in the user's own cache directory.
#[test]
fn another_user_cannot_take_the_runtime_directory_first() {
    // The victim is the second test user (the first one's /tmp fallback is
    // another test's), the squatter the first.
    let sb = Sandbox::for_user(crate::common::User::other());
    if std::path::Path::new(&format!("/run/user/{}", sb.user.uid)).is_dir() {
        return;
    }
    let squatter = crate::common::User::test();
    let squatted = std::path::PathBuf::from(format!("/tmp/wg-wrap-{}", sb.user.uid));
    let made = std::fs::create_dir(&squatted).is_ok();
    std::os::unix::fs::chown(&squatted, Some(squatter.uid), Some(squatter.gid)).unwrap();
    let out = sb
        .cmd("wg-wrap")
        .arg("status")
        .env_remove("XDG_RUNTIME_DIR")
        .run();
    if made {
        let _ = std::fs::remove_dir(&squatted);
    } else {
        std::os::unix::fs::chown(&squatted, Some(sb.user.uid), Some(sb.user.gid)).unwrap();
    }
    assert_eq!(out.ok(), "");
    assert!(sb.home.join(".cache/wg-wrap-runtime").is_dir());
}

/// What refuses user namespaces, made in a namespace of the test's own:
/// a seccomp filter (as Docker's profile, here in a podman-like container)
/// and AppArmor's restriction (its sysctl, as Ubuntu sets it). Doctor and a
/// run say the same cause and fix.
#[test]
fn seccomp_and_apparmor_refusals_are_named() {
    let sb = Sandbox::new();
    let filter = sb.root.join("seccomp.py");
    std::fs::write(&filter, include_str!("common/seccomp.py")).unwrap();
    let filter = filter.to_str().unwrap().to_string();
    let cases = [
        (
            "mount -t tmpfs none /run\ntouch /run/.containerenv",
            "a seccomp filter refuses unshare: start the container (podman) with `--security-opt seccomp=unconfined`",
        ),
        (
            "mount -t tmpfs none /proc/sys/kernel\necho 1 > /proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "AppArmor restricts unprivileged user namespaces: load wg-wrap's profile",
        ),
    ];
    for (layout, fix) in cases {
        let doctor = sb
            .cmd("wg-wrap")
            .arg("doctor")
            .in_host_layout(layout)
            .user_pre(&["python3", &filter])
            .run();
        assert_eq!(doctor.code, 125, "{doctor:?}");
        let want =
            format!("FAIL  user namespaces: cannot create one: operation not permitted ({fix}");
        assert!(
            line(&doctor.stdout, "user namespaces").starts_with(&want),
            "{doctor:?}"
        );
        let profile = sb.user_file("p.conf", crate::common::sample_profile(), 0o600);
        let run = sb
            .cmd("wg-wrap")
            .arg(&profile)
            .args(["--", "true"])
            .in_host_layout(layout)
            .user_pre(&["python3", &filter])
            .run();
        run.fails(
            125,
            &format!("wg-unshare: cannot create user namespace: operation not permitted ({fix}"),
        );
    }
}

/// In a container without /dev/net/tun, the fix is the container's flag.
#[test]
fn tun_missing_in_a_container() {
    let sb = Sandbox::new();
    let out = sb
        .cmd("wg-wrap")
        .arg("doctor")
        .in_host_layout(
            "mount -t tmpfs none /dev/net\nmount -t tmpfs none /run\ntouch /run/.containerenv",
        )
        .run();
    assert_eq!(
        line(&out.stdout, "/dev/net/tun"),
        "FAIL  /dev/net/tun: missing (start the container (podman) with `--device /dev/net/tun`)"
    );
}
