//! Host services within reach over AF_UNIX that act for their clients
//! outside the tunnel: the session bus (service activation, systemd's user
//! manager, portals that open URLs), the system bus, avahi, sssd, winbind,
//! CUPS, container engines, gpg's dirmngr. Inside, each is masked: an empty
//! directory, or /dev/null over the socket. The session bus is replaced by
//! a filtering `xdg-dbus-proxy` (the proxy Flatpak uses): clients may talk
//! to the bus itself and to each other, and nothing else — no activation, no
//! systemd, no portal.
//!
//! Windows and sound stay within reach (X11 and Wayland sockets, PipeWire,
//! PulseAudio): they draw and play, and start nothing.

use crate::chain;
use crate::error::{Error, Result};
use crate::log;
use rustix::fd::OwnedFd;
use rustix::mount::MountFlags;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Directories of system services' sockets, emptied inside.
const SYSTEM_DIRS: &[&str] = &[
    "/run/dbus",
    "/run/avahi-daemon",
    "/var/lib/sss/pipes",
    "/run/samba/winbindd",
    "/run/cups",
    "/run/podman",
];

/// System services' sockets, /dev/null inside.
const SYSTEM_SOCKETS: &[&str] = &[
    "/run/docker.sock",
    "/run/snapd.socket",
    "/run/snapd-snap.socket",
];

/// Directories under $XDG_RUNTIME_DIR, emptied inside: systemd's user
/// manager, gvfs, the accessibility bus, rootless podman.
const RUNTIME_DIRS: &[&str] = &["systemd", "gvfsd", "at-spi", "podman"];

/// Sockets under $XDG_RUNTIME_DIR, /dev/null inside.
const RUNTIME_SOCKETS: &[&str] = &["docker.sock", "gnupg/S.dirmngr"];

/// Names under $XDG_RUNTIME_DIR starting so (KDE's kdeinit5 launcher).
const RUNTIME_PREFIXES: &[&str] = &["kdeinit5__"];

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

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
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
    let (proxy, keep) = match on_path(PROXY) {
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
    crate::daemon::spawn_detached("the session bus proxy", move || {
        let _ = crate::daemon::detach_stdio();
        let raw = rustix::fd::AsRawFd::as_raw_fd(&stop);
        crate::daemon::close_all_but(&[raw]);
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
    chain::pass_fd(chain::BUS_FD, &ready)?;
    Ok(Some((socket, ready)))
}

/// An empty tmpfs over `dir`.
fn empty_dir(dir: &Path) -> Result<()> {
    rustix::mount::mount(
        "wg-wrap",
        dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        c"mode=0755",
    )
    .map_err(|e| Error::sys(format_args!("hide {}", dir.display()), e))
}

/// `source` bound over the socket `target`.
fn cover(source: &Path, target: &Path) -> Result<()> {
    rustix::mount::mount_bind(source, target)
        .map_err(|e| Error::sys(format_args!("hide {}", target.display()), e))
}

fn resolved(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Inside, after the unshare: masks every service above and puts the proxy
/// (or /dev/null) over the session bus.
pub fn mask(bus: &SessionBus) -> Result<()> {
    let base = runtime_base();
    let mut dirs: Vec<PathBuf> = SYSTEM_DIRS.iter().map(PathBuf::from).collect();
    let mut sockets: Vec<PathBuf> = SYSTEM_SOCKETS.iter().map(PathBuf::from).collect();
    if let Some(base) = &base {
        dirs.extend(RUNTIME_DIRS.iter().map(|d| base.join(d)));
        sockets.extend(RUNTIME_SOCKETS.iter().map(|s| base.join(s)));
        if let Ok(entries) = std::fs::read_dir(base) {
            let named = |name: &str| RUNTIME_PREFIXES.iter().any(|p| name.starts_with(p));
            sockets.extend(
                entries
                    .flatten()
                    .filter(|e| named(&e.file_name().to_string_lossy()))
                    .map(|e| e.path()),
            );
        }
    }
    let mut done: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        if let Some(real) = resolved(&dir).filter(|r| r.is_dir() && !done.contains(r)) {
            empty_dir(&real)?;
            done.push(real);
        }
    }
    for socket in sockets {
        if let Some(real) = resolved(&socket).filter(|r| !r.is_dir() && !done.contains(r)) {
            cover(Path::new("/dev/null"), &real)?;
            done.push(real);
        }
    }
    if !bus.host {
        let source = bus.proxy.as_deref().unwrap_or(Path::new("/dev/null"));
        for path in &bus.paths {
            if let Some(real) = resolved(path).filter(|r| !done.contains(r)) {
                cover(source, &real)?;
                done.push(real);
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
