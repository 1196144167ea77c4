//! Pinned namespaces: register one under a name, join it, remove it.
//!
//! As real root the pinned netns is also bind-mounted at /run/netns/NAME, for
//! `ip netns exec`. A mount made inside the new mount namespace never reaches
//! the host's, so wg-unshare forks a helper *before* it unshares; wg-pin asks
//! it (over a socketpair) to bind /proc/ENGINE/ns/net.

use crate::chain;
use crate::error::{Error, Result};
use crate::live::registry::{self, Dir, Entry};
use crate::profile::check_name;
use rustix::fd::OwnedFd;
use rustix::thread::ThreadNameSpaceType;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Where `ip netns` looks for named network namespaces.
pub const RUN_NETNS: &str = "/run/netns";

/// Checks a pin's name: the rules of profile names.
pub fn check_pin_name(name: &str) -> Result<()> {
    check_name(name, &[]).map_err(|_| {
        Error::new(format!("invalid pin name \"{name}\""))
            .hint("use letters, digits, '.', '_' and '-', up to 64 characters")
    })
}

/// Registers this namespace (whose engine wg-up named) as NAME.
pub fn pin(name: &str, runtime: &Path) -> Result<Entry> {
    check_pin_name(name)?;
    let pid: u32 = chain::ENGINE_PID
        .get()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| {
            Error::new("WG_WRAP_ENGINE_PID is not set: wg-up must run before wg-pin")
                .hint("use `wg-wrap --pin NAME PROFILE -- PROG`")
        })?;
    let netns = rustix::fs::stat("/proc/self/ns/net")
        .map_err(|e| Error::sys("read this network namespace", e))?
        .st_ino;
    let entry = Entry {
        engine_pid: pid,
        start_time: registry::start_time(pid).ok_or_else(|| {
            Error::new("cannot pin: the engine is gone")
                .hint("the tunnel ended before it was pinned; run the command again")
        })?,
        netns,
        profile: chain::PROFILE.get().unwrap_or_else(|| "-".into()),
        created: registry::now(),
        store: None,
        identity: None,
        shape: None,
        session_bus: None,
    };
    Dir::pins(runtime).create(name, &entry)?;
    Ok(entry)
}

/// The names of the live pins, for error messages.
pub fn live_names(runtime: &Path) -> Vec<String> {
    Dir::pins(runtime)
        .list()
        .live
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The live pin NAME, or an error that lists the live ones.
pub fn find(name: &str, runtime: &Path) -> Result<Entry> {
    check_pin_name(name)?;
    let pins = Dir::pins(runtime);
    match pins.read(name)? {
        Some(entry) if entry.is_live() => return Ok(entry),
        Some(entry) => {
            pins.remove(name);
            return Err(Error::new(format!(
                "pin \"{name}\" was stale (its engine {} had ended) and is removed",
                entry.engine_pid
            ))
            .hint(format!(
                "make it again: `wg-wrap --pin {name} {} -- true`",
                entry.profile
            )));
        }
        None => {}
    }
    let names = live_names(runtime);
    let hint = if names.is_empty() {
        "nothing is pinned: make one with `wg-wrap --pin NAME PROFILE -- true`".to_string()
    } else {
        format!("pinned: {}", names.join(", "))
    };
    Err(Error::new(format!("no pinned namespace \"{name}\"")).hint(hint))
}

/// Enters pin NAME's user, network and mount namespaces (and the cwd again,
/// by path: see `ns::reenter_cwd`).
/// Must run while the process has one thread.
pub fn join(name: &str, runtime: &Path) -> Result<()> {
    let entry = find(name, runtime)?;
    enter(&entry, &format!("\"{name}\""), runtime, || {
        find(name, runtime).err().unwrap_or_else(|| {
            Error::new(format!("pin \"{name}\" changed while joining it"))
                .hint("run the command again")
        })
    })
}

/// Enters the namespaces of live engine PID (as `wg-wrap PROFILE` does
/// when the profile's key is in use there). False when the engine has
/// ended meanwhile (nothing was entered).
pub fn join_engine(pid: u32, runtime: &Path) -> Result<bool> {
    let gone = || Error::new(format!("engine {pid} ended"));
    let Some(entry) = Dir::live(runtime)
        .read(&pid.to_string())?
        .filter(Entry::is_live)
    else {
        return Ok(false);
    };
    match enter(&entry, &format!("engine {pid}"), runtime, gone) {
        Ok(()) => Ok(true),
        Err(_) if !entry.is_live() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Enters the user, network and mount namespaces of `entry`'s engine,
/// once it is verified to be one of this user's (`what` names it in
/// errors; `changed` is the error when the engine is no longer there).
fn enter(entry: &Entry, what: &str, runtime: &Path, changed: impl Fn() -> Error) -> Result<()> {
    let pid = rustix::process::Pid::from_raw(entry.engine_pid as i32)
        .ok_or_else(|| Error::new(format!("{what} names no process")))?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| Error::sys(format_args!("join {what}"), e))?;
    // The pidfd holds the process: if the start time still matches now, it is the engine.
    if !entry.is_live() {
        return Err(changed());
    }
    if !is_our_engine(entry, runtime) {
        return Err(Error::new(format!(
            "refusing to join {what}: it is not a wg-wrap engine of yours"
        ))
        .hint("something rewrote its entry; remove it with `wg-pin --remove NAME`"));
    }
    let cwd = std::env::current_dir().ok();
    rustix::thread::move_into_thread_name_spaces(
        rustix::fd::AsFd::as_fd(&pidfd),
        ThreadNameSpaceType::USER | ThreadNameSpaceType::NETWORK | ThreadNameSpaceType::MOUNT,
    )
    .map_err(|e| {
        Error::sys(format_args!("join {what}"), e)
            .hint("only the user who made a namespace can join it")
    })?;
    crate::ns::reenter_cwd(cwd);
    let netns = rustix::fs::stat("/proc/self/ns/net")
        .map(|s| s.st_ino)
        .unwrap_or(0);
    if netns != entry.netns {
        return Err(Error::new(format!(
            "cannot join {what}: its network namespace changed"
        )));
    }
    Ok(())
}

/// Pins the live namespace of `entry` (found by its identity) as NAME.
pub fn pin_existing(name: &str, entry: &Entry, runtime: &Path) -> Result<()> {
    check_pin_name(name)?;
    let pinned = Entry {
        created: registry::now(),
        store: None,
        identity: None,
        shape: None,
        session_bus: None,
        ..entry.clone()
    };
    Dir::pins(runtime).create(name, &pinned)
}

/// Whether `entry` names one of this user's engines: the process serves the
/// status socket in our runtime directory (by its peer credentials) and its
/// user namespace was made from ours, not nested in one of wg-wrap's.
fn is_our_engine(entry: &Entry, runtime: &Path) -> bool {
    let Ok(stream) = crate::live::status::connect(&entry.socket(runtime)) else {
        return false;
    };
    let peer = rustix::net::sockopt::socket_peercred(&stream);
    peer.is_ok_and(|peer| {
        peer.pid.as_raw_nonzero().get() as u32 == entry.engine_pid
            && peer.uid == rustix::process::getuid()
    }) && crate::ns::userns_is_child(entry.engine_pid)
}

/// Removes pin NAME; with the last name of its namespace, ends it: SIGTERM
/// to its engine (the TUN goes with it), entry removed.
pub fn remove(name: &str, runtime: &Path) -> Result<Entry> {
    let entry = find(name, runtime)?;
    // A namespace pinned under another name too keeps its engine: only
    // this name goes.
    let also_pinned = (Dir::pins(runtime).live_entries().iter()).any(|(other, pin)| {
        other != name && pin.engine_pid == entry.engine_pid && pin.start_time == entry.start_time
    });
    if also_pinned {
        Dir::pins(runtime).remove(name);
        if rustix::process::getuid().is_root() {
            unbind_netns(name);
        }
        return Ok(entry);
    }
    if let Some(pid) = rustix::process::Pid::from_raw(entry.engine_pid as i32)
        && let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        && entry.is_live()
    {
        rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::TERM)
            .map_err(|e| Error::sys(format_args!("end \"{name}\""), e))?;
    }
    Dir::pins(runtime).remove(name);
    Dir::live(runtime).remove(&entry.engine_pid.to_string());
    let _ = std::fs::remove_file(entry.socket(runtime));
    if rustix::process::getuid().is_root() {
        unbind_netns(name);
    }
    Ok(entry)
}

fn netns_path(name: &str) -> PathBuf {
    Path::new(RUN_NETNS).join(name)
}

/// As real root, before the unshare: forks the helper that will bind the
/// pinned netns at /run/netns/NAME, and returns the socket to it.
pub fn spawn_netns_helper() -> Result<OwnedFd> {
    crate::process::spawn_helper("the /run/netns helper", serve_netns_helper)
}

/// The helper: one request `PID NAME`, one answer, then it ends (also when
/// the chain closes the socket without asking).
fn serve_netns_helper(socket: OwnedFd) {
    let mut stream = std::fs::File::from(socket);
    let mut line = String::new();
    if BufReader::new(&stream).read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(pid), Some(name)) = (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next(),
    ) else {
        return;
    };
    let answer = match bind_netns(pid, name) {
        Ok(()) => "ok\n".to_string(),
        Err(e) => format!("error {e}\n"),
    };
    let _ = stream.write_all(answer.as_bytes());
}

fn bind_netns(pid: u32, name: &str) -> Result<()> {
    check_pin_name(name)?;
    std::fs::create_dir_all(RUN_NETNS)
        .map_err(|e| Error::sys(format_args!("create {RUN_NETNS}"), e))?;
    let target = netns_path(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| {
            Error::sys(format_args!("create {}", target.display()), e)
                .hint("is an `ip netns` of that name in use?")
        })?;
    rustix::mount::mount_bind(format!("/proc/{pid}/ns/net").as_str(), &target).map_err(|e| {
        let _ = std::fs::remove_file(&target);
        Error::sys(format_args!("bind {}", target.display()), e)
    })
}

/// wg-pin, as real root: asks the helper to bind the engine's netns at
/// /run/netns/NAME. Without the helper (not real root), does nothing.
pub fn request_netns_bind(engine_pid: u32, name: &str) -> Result<()> {
    let Some(socket) = chain::NETNS_FD.take_fd_if_set()? else {
        return Ok(());
    };
    let mut stream = std::fs::File::from(socket);
    writeln!(stream, "{engine_pid} {name}")
        .map_err(|e| Error::sys("ask the /run/netns helper", e))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| Error::sys("hear from the /run/netns helper", e))?;
    match answer.trim().strip_prefix("error ") {
        Some(message) => Err(Error::new(message.to_string())),
        None if answer.trim() == "ok" => Ok(()),
        None => Err(Error::new("cannot bind /run/netns: the helper ended")),
    }
}

/// Unmounts and removes /run/netns/NAME, if it is there.
fn unbind_netns(name: &str) {
    let target = netns_path(name);
    let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH);
    let _ = std::fs::remove_file(&target);
}
