//! The chain protocol: state handed from one link to the next, and the exec.
//!
//! Each link consumes what it was given (sets `FD_CLOEXEC`, unsets the
//! variable) and execs the next. State travels in inherited fds named by
//! environment variables; secrets never travel in argv or the environment.

use crate::error::{EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, Error, Result};
use rustix::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use rustix::io::{FdFlags, fcntl_getfd, fcntl_setfd};
use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Fd number of the UDP socket bound in the host namespace.
/// Set by wg-unshare, taken (and unset) by wg-up. PROG never sees it.
pub const UDP_FD: &str = "WG_WRAP_UDP_FD";
/// Fd number of a sealed memfd holding the profile as wg-quick text, endpoints
/// resolved to addresses and the MTU filled in.
/// Set by wg-unshare, taken (and unset) by wg-up. PROG never sees it.
pub const CONF_FD: &str = "WG_WRAP_CONF_FD";
/// The profile's name (or path), for the registry. Not a secret.
/// Set by wg-unshare, taken (and unset) by wg-up.
pub const PROFILE: &str = "WG_WRAP_PROFILE";
/// Pid of the engine serving this namespace. Set by wg-up, for wg-pin and wg-exec.
pub const ENGINE_PID: &str = "WG_WRAP_ENGINE_PID";
/// Name of the TUN interface. Set by wg-up, for wg-pin and wg-exec.
pub const IFACE: &str = "WG_WRAP_IFACE";
/// The name wg-pin just pinned the namespace as. Set by wg-pin, read by
/// wg-exec: when PROG cannot be executed, the pin is removed again (it would
/// keep an engine nobody asked for).
pub const PIN: &str = "WG_WRAP_PIN";
/// The caller's soft RLIMIT_CORE (bytes or `unlimited`). Set by wg-unshare,
/// which lowers the limit to 0 for the links that hold keys (see `guard`);
/// wg-exec gives it back to PROG.
pub const CORE_LIMIT: &str = "WG_WRAP_CORE_LIMIT";
/// Fd number of the read end of the session bus proxy's pipe: the proxy
/// ends when it closes. Set by wg-unshare, taken by wg-up, kept by the engine.
pub const BUS_FD: &str = "WG_WRAP_BUS_FD";
/// The profile store wg-unshare hid, `DEV:INODE:PATH`. Set by wg-unshare, taken
/// by wg-up for the engine's registry entry (see `registry::check_store_unmoved`).
pub const STORE: &str = "WG_WRAP_STORE";
/// Fd of the lock on this profile's WireGuard identity (see `identity`).
/// Set by wg-unshare, taken by wg-up, closed once the engine is registered.
pub const LOCK_FD: &str = "WG_WRAP_LOCK_FD";
/// The published ports' host sockets, `FD:PROTO:PORT,...` (see `publish`).
/// Set by wg-unshare, taken by wg-up for the engine's relay.
pub const PUBLISH: &str = "WG_WRAP_PUBLISH";
/// Fd of the host-side endpoint resolver (see `resolver`), and the peers
/// (indices, `0,2`) whose endpoints are names. Set by wg-unshare, taken by
/// wg-up for the engine.
pub const RESOLVER_FD: &str = "WG_WRAP_RESOLVER_FD";
pub const RESOLVER_PEERS: &str = "WG_WRAP_RESOLVER_PEERS";
/// Set for PROG (not a chain variable, nothing secret): the namespace's
/// name, its pin's or its profile's, for prompts and scripts, as vopono's
/// VOPONO_NS.
pub const NAMESPACE: &str = "WGWRAP_NAMESPACE";
/// Prefix of every chain variable; wg-exec removes them all before PROG runs.
pub const PREFIX: &str = "WG_WRAP_";

/// Marks `fd` to be passed to the next link under `var`.
pub fn pass_fd(var: &str, fd: &impl AsFd) -> Result<()> {
    let fd = fd.as_fd();
    let flags = fcntl_getfd(fd).map_err(|e| Error::sys("pass a descriptor on", e))?;
    fcntl_setfd(fd, flags - FdFlags::CLOEXEC).map_err(|e| Error::sys("pass a descriptor on", e))?;
    // SAFETY: setting an environment variable is sound while the process has
    // one thread; the chain links never start a thread before they exec.
    unsafe { std::env::set_var(var, rustix::fd::AsRawFd::as_raw_fd(&fd).to_string()) };
    Ok(())
}

/// Takes the fd named by `var`: unsets the variable and marks the fd
/// close-on-exec. `before` names the link that should have set it.
pub fn take_fd(var: &str, before: &str) -> Result<OwnedFd> {
    let value = std::env::var(var).map_err(|_| {
        Error::new(format!(
            "{var} is not set: {before} must run before this link"
        ))
        .hint("run it as part of a chain, e.g. `wg-wrap PROFILE -- PROG`")
    })?;
    unset(var);
    let raw: RawFd = value
        .parse()
        .ok()
        .filter(|fd| *fd > 2)
        .ok_or_else(|| Error::new(format!("{var}={value} is not a descriptor number")))?;
    // SAFETY: the fd was handed to us by the previous link, which gave up its
    // own copy when it exec'd; we check it is open before taking ownership.
    let borrowed = unsafe { rustix::fd::BorrowedFd::borrow_raw(raw) };
    let flags = fcntl_getfd(borrowed).map_err(|e| {
        Error::sys(format_args!("use {var}={value}"), e)
            .hint(format!("{before} must run before this link"))
    })?;
    fcntl_setfd(borrowed, flags | FdFlags::CLOEXEC)
        .map_err(|e| Error::sys("take a descriptor", e))?;
    // SAFETY: as above: open, and owned by nobody else in this process.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Refuses to go on unless `var` was set by the link `before` (a link run
/// out of its chain says so first, before anything about the next link).
pub fn require(var: &str, before: &str) -> Result<()> {
    if std::env::var_os(var).is_some() {
        return Ok(());
    }
    Err(Error::new(format!(
        "{var} is not set: {before} must run before this link"
    ))
    .hint("run it as part of a chain, e.g. `wg-wrap PROFILE -- PROG`"))
}

/// Removes an environment variable.
pub fn unset(var: &str) {
    // SAFETY: see `pass_fd`: no other thread exists in a chain link.
    unsafe { std::env::remove_var(var) };
}

/// Sets an environment variable for the next links.
pub fn set(var: &str, value: impl AsRef<OsStr>) {
    // SAFETY: see `pass_fd`: no other thread exists in a chain link.
    unsafe { std::env::set_var(var, value) };
}

/// Drops a `--` where this applet's arguments end and the next link begins.
pub fn strip_dashes(mut next: Vec<OsString>) -> Vec<OsString> {
    if next.first().is_some_and(|a| a == "--") {
        next.remove(0);
    }
    next
}

fn basename(arg: &OsStr) -> &OsStr {
    Path::new(arg).file_name().unwrap_or(arg)
}

/// Checks, before any work is done, that the next link is one of `allowed`.
pub fn check_link(next: &[OsString], allowed: &[&str]) -> Result<()> {
    let Some(first) = next.first() else {
        return Err(
            Error::new(format!("missing the next link ({})", allowed.join(" or "))).hint(
                "e.g. `wg-unshare PROFILE wg-up wg-exec PROG`, or use `wg-wrap PROFILE -- PROG`",
            ),
        );
    };
    if allowed.iter().any(|a| OsStr::new(a) == basename(first)) {
        return Ok(());
    }
    Err(Error::new(format!(
        "refusing to run {:?} here: the next link must be {}",
        first,
        allowed.join(" or ")
    ))
    .hint("programs run only after wg-exec has dropped privileges: put wg-exec before PROG"))
}

/// Execs the next link of the chain, which must be one of `allowed` (applet
/// names): until wg-exec has dropped privileges nothing else may run.
/// The applet is run from `/proc/self/exe`, never looked up on PATH.
/// Returns only on failure.
pub fn exec_link(next: &[OsString], allowed: &[&str]) -> Error {
    if let Err(e) = check_link(next, allowed) {
        return e;
    }
    let name = basename(&next[0]);
    let Some(applet) = allowed.iter().find(|a| OsStr::new(a) == name) else {
        return Error::new("no next link");
    };
    let err = Command::new("/proc/self/exe")
        .arg0(applet)
        .args(&next[1..])
        .exec();
    Error::sys(format_args!("execute {applet}"), err)
}

/// Execs PROG, found on PATH. Exit 127 when it is not found, 126 when it
/// cannot be executed. Returns only on failure.
pub fn exec_prog(prog: &[OsString]) -> Error {
    let Some(first) = prog.first() else {
        return Error::new("missing PROG").hint("give the program to run, e.g. `wg-exec curl URL`");
    };
    let err = Command::new(first).args(&prog[1..]).exec();
    let shown = first.to_string_lossy();
    if err.kind() == std::io::ErrorKind::NotFound {
        Error::new(format!("cannot execute \"{shown}\": not found"))
            .hint("check the name, or give its full path")
            .with_code(EXIT_NOT_FOUND)
    } else {
        Error::sys(format_args!("execute \"{shown}\""), err).with_code(EXIT_CANNOT_EXECUTE)
    }
}

/// Marks every fd above 2 close-on-exec, so PROG inherits only 0, 1 and 2.
pub fn cloexec_all_but_stdio() -> Result<()> {
    let dir =
        std::fs::read_dir("/proc/self/fd").map_err(|e| Error::sys("list open descriptors", e))?;
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for raw in fds {
        // SAFETY: borrowed only for the fcntl; a fd that closed meanwhile
        // (the read_dir handle itself) just fails with EBADF.
        let fd = unsafe { rustix::fd::BorrowedFd::borrow_raw(raw) };
        if let Ok(flags) = fcntl_getfd(fd) {
            let _ = fcntl_setfd(fd, flags | FdFlags::CLOEXEC);
        }
    }
    Ok(())
}

/// Removes every `WG_WRAP_*` variable.
pub fn clear_vars() {
    let vars: Vec<OsString> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with(PREFIX))
        .collect();
    for var in vars {
        // SAFETY: see `pass_fd`.
        unsafe { std::env::remove_var(var) };
    }
}

/// The profile in a sealed memfd (no file holds it; it dies with its last fd).
pub fn conf_memfd(text: &str) -> Result<OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fail = |e| Error::sys("hand the profile to the next link", e);
    let fd = rustix::fs::memfd_create(
        "wg-wrap-profile",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(fail)?;
    let mut written = 0;
    while written < text.len() {
        written += rustix::io::write(&fd, &text.as_bytes()[written..]).map_err(fail)?;
    }
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )
    .map_err(fail)?;
    Ok(fd)
}

/// Reads the profile wg-unshare left in `WG_WRAP_CONF_FD`.
pub fn take_conf() -> Result<crate::conf::Conf> {
    use std::os::unix::fs::FileExt;
    let fd = take_fd(CONF_FD, "wg-unshare")?;
    let file = std::fs::File::from(fd);
    let mut bytes = vec![0u8; crate::conf::MAX_SIZE as usize];
    let mut len = 0;
    loop {
        let n = file
            .read_at(&mut bytes[len..], len as u64)
            .map_err(|e| Error::sys("read the profile from wg-unshare", e))?;
        if n == 0 || len + n >= bytes.len() {
            len += n;
            break;
        }
        len += n;
    }
    let text = String::from_utf8(bytes[..len].to_vec());
    zeroize::Zeroize::zeroize(&mut bytes);
    let mut text = text.map_err(|_| Error::new("the profile from wg-unshare is not text"))?;
    let parsed = crate::conf::Conf::parse(&text, "the profile from wg-unshare");
    zeroize::Zeroize::zeroize(&mut text);
    Ok(parsed?.conf)
}
