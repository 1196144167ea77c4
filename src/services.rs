//! Host services within reach over AF_UNIX that act for their clients
//! outside the tunnel: the session bus (service activation, systemd's user
//! manager, portals that open URLs), the system bus, avahi, sssd, winbind,
//! CUPS, container engines, gvfs, gpg's dirmngr. None is within reach
//! inside, whatever the host does later (a daemon that restarts makes its
//! socket anew, which would undo a mask on the socket itself):
//!
//! - /run is a tmpfs holding the host's entries (bound) but those of such
//!   services; an entry the host makes later does not appear;
//! - the user's runtime directory ($XDG_RUNTIME_DIR) is a tmpfs holding only
//!   what draws, plays and keeps secrets (Wayland, PipeWire, PulseAudio,
//!   keyrings and agents), wg-wrap's own directory, and the session bus: a
//!   filtering `xdg-dbus-proxy` (the proxy Flatpak uses) through which
//!   clients may talk to the bus itself and to each other and nothing else —
//!   no activation, no systemd, no portal. Flatpak builds its sandboxes'
//!   runtime directory the same way;
//! - sssd's pipes are an empty directory.
//!
//! Windows and sound stay within reach (X11, Wayland, PipeWire, PulseAudio):
//! they draw and play, and start nothing.

use crate::chain;
use crate::error::{Error, Result};
use crate::log;
use rustix::fd::OwnedFd;
use rustix::mount::MountFlags;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Entries of /run left out inside: the system bus, avahi, CUPS, samba's
/// winbind, container engines, snapd.
const RUN_DENIED: &[&str] = &[
    "dbus",
    "avahi-daemon",
    "cups",
    "samba",
    "podman",
    "docker",
    "docker.sock",
    "snapd.socket",
    "snapd-snap.socket",
];

/// Directories of system services' sockets outside /run, emptied inside.
const OTHER_DIRS: &[&str] = &["/var/lib/sss/pipes"];

/// Entries of the user's runtime directory kept inside (a trailing `*`
/// matches any rest of the name): display, sound, keyrings and agents, X
/// authority files, dconf, wg-wrap's own directory.
const RUNTIME_KEPT: &[&str] = &[
    "wayland-*",
    "pipewire-0",
    "pipewire-0.lock",
    "pulse",
    "dconf",
    "keyring",
    "gcr",
    "ssh-agent.socket",
    "openssh_agent",
    ".mutter-Xwaylandauth.*",
    "xauth_*",
    "ICEauthority",
    "wg-wrap",
];

/// In `gnupg/`: the agent's sockets, not dirmngr's (it fetches keys).
const GNUPG_KEPT: &[&str] = &["S.gpg-agent*"];

fn matches(patterns: &[&str], name: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *p,
    })
}

/// The proxy's binary, found on PATH.
pub const PROXY: &str = "xdg-dbus-proxy";

/// What PROG gets for a session bus.
pub enum BusMode {
    /// A filtering proxy (the default).
    Filtered,
    /// The host's bus, unfiltered (`--host-session-bus`).
    Host,
}

/// The session bus as it will be inside, decided on the host side.
pub struct SessionBus {
    /// The bus's socket paths PROG could use: each `unix:path=` of
    /// DBUS_SESSION_BUS_ADDRESS, and $XDG_RUNTIME_DIR/bus.
    paths: Vec<PathBuf>,
    /// The proxy's socket (put over each path), or None (/dev/null goes
    /// there, or nothing with the host's bus).
    proxy: Option<PathBuf>,
    host: bool,
    /// The read end of the proxy's pipe, passed on as `chain::BUS_FD`:
    /// held until the exec, then by the engine.
    _keep: Option<OwnedFd>,
}

impl Drop for SessionBus {
    /// Where the chain fails before the exec, the proxy's socket goes (the
    /// proxy itself ends as its pipe closes).
    fn drop(&mut self) {
        if let Some(proxy) = &self.proxy {
            let _ = std::fs::remove_file(proxy);
        }
    }
}

fn runtime_base() -> Option<PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Some(dir),
        _ => {
            let dir = PathBuf::from(format!("/run/user/{}", rustix::process::getuid().as_raw()));
            dir.is_dir().then_some(dir)
        }
    }
}

/// The `unix:path=` sockets of a D-Bus address list (`;`-separated, values
/// %-escaped).
pub fn address_paths(address: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for entry in address.split(';') {
        let Some(params) = entry.strip_prefix("unix:") else {
            continue;
        };
        for param in params.split(',') {
            if let Some(value) = param.strip_prefix("path=") {
                paths.push(PathBuf::from(unescape(value)));
            }
        }
    }
    paths
}

fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The session bus proxy, found on PATH.
pub fn proxy_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(PROXY))
        .find(|p| rustix::fs::access(p, rustix::fs::Access::EXEC_OK).is_ok() && p.is_file())
}

/// On the host side, before the unshare: finds the session bus and, unless
/// the host's is wanted, starts the proxy with its socket in `runtime`.
/// The proxy ends when the fd passed on as `chain::BUS_FD` closes (the
/// engine keeps it for the namespace's life).
pub fn plan_bus(mode: BusMode, runtime: &Path) -> Result<SessionBus> {
    let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok();
    let mut paths = address.as_deref().map(address_paths).unwrap_or_default();
    let default = runtime_base().map(|base| base.join("bus"));
    if let Some(default) = default.filter(|p| p.exists() && !paths.contains(p)) {
        paths.push(default);
    }
    paths.retain(|p| p.exists());
    let host = matches!(mode, BusMode::Host);
    if host || paths.is_empty() {
        return Ok(SessionBus {
            paths,
            proxy: None,
            host,
            _keep: None,
        });
    }
    let upstream = address.unwrap_or_else(|| format!("unix:path={}", paths[0].display()));
    let (proxy, keep) = match proxy_binary() {
        Some(binary) => start_proxy(&binary, &upstream, runtime)?.unzip(),
        None => {
            log::note(format_args!(
                "no session bus inside: install {PROXY} for a filtered one (or pass --host-session-bus for the host's, unfiltered)"
            ));
            (None, None)
        }
    };
    Ok(SessionBus {
        paths,
        proxy,
        host: false,
        _keep: keep,
    })
}

/// Starts the proxy in a session of its own; waits (at most 5 s) for its
/// "ready" byte. None, with a note, when it cannot reach the bus.
fn start_proxy(
    binary: &Path,
    upstream: &str,
    runtime: &Path,
) -> Result<Option<(PathBuf, OwnedFd)>> {
    use std::os::unix::process::CommandExt;
    let socket = runtime.join(format!("bus-{}", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let (ready, stop) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::sys("start the session bus proxy", e))?;
    let (binary, upstream, listen) = (binary.to_owned(), upstream.to_owned(), socket.clone());
    // wg-unshare is single-threaded.
    crate::process::spawn_detached("the session bus proxy", move || {
        let _ = crate::process::detach_stdio();
        let raw = rustix::fd::AsRawFd::as_raw_fd(&stop);
        crate::process::close_all_but(&[raw]);
        // Inherited by the proxy: CLOEXEC is the only fd flag.
        if rustix::io::fcntl_setfd(&stop, rustix::io::FdFlags::empty()).is_err() {
            return 1;
        }
        let _ = std::process::Command::new(&binary)
            .arg(format!("--fd={raw}"))
            .arg(&upstream)
            .arg(&listen)
            .arg("--filter")
            .exec();
        127
    })?;
    let mut byte = [0u8; 1];
    let mut fds = [rustix::event::PollFd::new(
        &ready,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec::try_from(Duration::from_secs(5)).ok();
    let polled = rustix::event::poll(&mut fds, timeout.as_ref());
    let got =
        polled.is_ok_and(|n| n > 0) && rustix::io::read(&ready, &mut byte).is_ok_and(|n| n == 1);
    if !got {
        let _ = std::fs::remove_file(&socket);
        log::note(format_args!(
            "no session bus inside: {PROXY} could not reach the session bus"
        ));
        return Ok(None);
    }
    chain::BUS_FD.pass_fd(&ready)?;
    Ok(Some((socket, ready)))
}

/// An empty tmpfs over `dir`, mode `mode`.
fn tmpfs(dir: &Path, mode: &std::ffi::CStr) -> Result<()> {
    crate::ns::tmpfs(dir, MountFlags::NOSUID | MountFlags::NODEV, mode)
}

/// `source` bound over the socket (or file) `target`.
fn cover(source: &Path, target: &Path) -> Result<()> {
    rustix::mount::mount_bind(source, target)
        .map_err(|e| Error::sys(format_args!("hide {}", target.display()), e))
}

/// Puts `source` (a file, directory or symlink) at `target` in a tmpfs: a
/// symlink is copied, anything else bound (directories with what is
/// mounted below them).
fn bring(source: &Path, target: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(source)?;
    if meta.file_type().is_symlink() {
        return std::os::unix::fs::symlink(std::fs::read_link(source)?, target);
    }
    if meta.is_dir() {
        std::fs::create_dir(target)?;
        rustix::mount::mount_bind_recursive(source, target)?;
    } else {
        std::fs::File::create(target)?;
        rustix::mount::mount_bind(source, target)?;
    }
    Ok(())
}

/// Remakes `dir` as a tmpfs (mode `mode`) holding the entries of the old one
/// that `keep` accepts. The old tree is kept aside at `scratch` (a new path
/// in a directory of the user's) while the entries are brought over.
fn rebuild(
    dir: &Path,
    mode: &std::ffi::CStr,
    scratch: &Path,
    keep: &dyn Fn(&str, &Path) -> Option<Bring>,
) -> Result<()> {
    use rustix::fd::AsRawFd;
    let fail = |e: std::io::Error| Error::sys(format_args!("rebuild {}", dir.display()), e);
    std::fs::create_dir(scratch).map_err(fail)?;
    let result = (|| {
        rustix::mount::mount_bind_recursive(dir, scratch).map_err(|e| fail(e.into()))?;
        // Reached by descriptor: the new tmpfs may cover the scratch path.
        let saved = rustix::fs::open(
            scratch,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| fail(e.into()))?;
        let old = PathBuf::from(format!("/proc/self/fd/{}", saved.as_raw_fd()));
        tmpfs(dir, mode)?;
        let entries = std::fs::read_dir(&old).map_err(fail)?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let source = old.join(&name);
            let target = dir.join(&name);
            match keep(&name.to_string_lossy(), &source) {
                None => {}
                Some(Bring::Whole) => bring(&source, &target).map_err(fail)?,
                Some(Bring::Only(patterns)) => {
                    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
                    std::fs::create_dir(&target).map_err(fail)?;
                    for inner in std::fs::read_dir(&source).map_err(fail)?.flatten() {
                        let inner_name = inner.file_name();
                        if matches(&patterns, &inner_name.to_string_lossy()) {
                            bring(&inner.path(), &target.join(&inner_name)).map_err(fail)?;
                        }
                    }
                }
            }
        }
        let _ = rustix::mount::unmount(&old, rustix::mount::UnmountFlags::DETACH);
        Ok(())
    })();
    let _ = rustix::mount::unmount(scratch, rustix::mount::UnmountFlags::DETACH);
    let _ = std::fs::remove_dir(scratch);
    result
}

/// How much of an entry a rebuilt directory gets.
enum Bring {
    Whole,
    /// A directory with only the entries these patterns match.
    Only(Vec<String>),
}

fn resolved(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Inside, after the unshare: rebuilds /run and the user's runtime
/// directory without the services above, empties sssd's pipes, and puts
/// the proxy (or nothing) where the session bus was. `runtime` is wg-wrap's
/// runtime directory (scratch space).
pub fn mask(bus: &SessionBus, runtime: &Path) -> Result<()> {
    let scratch = |what: &str| runtime.join(format!("{what}-{}", std::process::id()));
    if Path::new("/run").is_dir() {
        // /run/user: only this user's directory, as it is now; one the host
        // makes later (a login after a pin made from cron, a logout and a
        // login again) stays outside.
        let uid = rustix::process::getuid().as_raw().to_string();
        rebuild(
            Path::new("/run"),
            c"mode=0755",
            &scratch("run"),
            &|name, _| {
                if name == "user" {
                    Some(Bring::Only(vec![uid.clone()]))
                } else {
                    (!matches(RUN_DENIED, name)).then_some(Bring::Whole)
                }
            },
        )?;
    }
    for dir in OTHER_DIRS {
        if let Some(real) = resolved(Path::new(dir)).filter(|r| r.is_dir()) {
            tmpfs(&real, c"mode=0755")?;
        }
    }
    let base = runtime_base()
        .and_then(|b| resolved(&b))
        .filter(|b| b.is_dir());
    if let Some(base) = &base {
        let keep_bus = bus.host;
        rebuild(base, c"mode=0700", &scratch("xdg"), &|name, _| {
            if name == "gnupg" {
                Some(Bring::Only(
                    GNUPG_KEPT.iter().map(|p| p.to_string()).collect(),
                ))
            } else if matches(RUNTIME_KEPT, name) || (keep_bus && name == "bus") {
                Some(Bring::Whole)
            } else {
                None
            }
        })?;
    }
    if !bus.host {
        for path in &bus.paths {
            let inside_base = base
                .as_ref()
                .is_some_and(|b| path.parent() == Some(b.as_path()));
            match (&bus.proxy, inside_base) {
                (Some(proxy), true) => {
                    std::fs::File::create(path)
                        .map_err(|e| Error::sys(format_args!("create {}", path.display()), e))?;
                    cover(proxy, path)?;
                }
                (None, true) => {}
                (source, false) => {
                    if let Some(real) = resolved(path) {
                        cover(source.as_deref().unwrap_or(Path::new("/dev/null")), &real)?;
                    }
                }
            }
        }
    }
    // The proxy's socket is reached through the mounts from now on.
    if let Some(proxy) = &bus.proxy {
        let _ = std::fs::remove_file(proxy);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_paths_reads_each_unix_path_unescaped() {
        let address = "unix:path=/run/user/1000/bus,guid=abc;unix:abstract=/tmp/x;tcp:host=a;unix:path=/tmp/a%20b";
        assert_eq!(
            address_paths(address),
            vec![
                PathBuf::from("/run/user/1000/bus"),
                PathBuf::from("/tmp/a b")
            ]
        );
        assert!(address_paths("unix:abstract=/tmp/dbus-x").is_empty());
        assert_eq!(unescape("%zz%41"), "%zzA");
    }
}
