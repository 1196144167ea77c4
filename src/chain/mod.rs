//! The chain: `wg-unshare PROFILE wg-up [wg-pin NAME] wg-exec PROG`, each
//! link doing one job and executing the next (execline style).
//!
//! - `links`: the grammar, which link may follow which;
//! - `vars`: every variable handed down, with who sets, reads and unsets it;
//! - `argv`: the chain `wg-wrap` builds from its options.
//!
//! Each link consumes what it was given (sets `FD_CLOEXEC`, unsets the
//! variable) and execs the next. State travels in inherited fds named by
//! environment variables; secrets never travel in argv or the environment.

pub mod argv;
pub mod links;
pub mod vars;

pub use vars::{
    BUS_FD, CONF_FD, CORE_LIMIT, ENGINE_FD, ENGINE_PID, HOST_BUS, IFACE, LOCK_FD, NAMESPACE,
    NETNS_FD, PIN, PROFILE, PUBLISH, RESOLVER_FD, RESOLVER_PEERS, STORE, UDP_FD, VERBOSITY, Var,
};

use crate::error::{EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, Error, Result};
use rustix::fd::OwnedFd;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Drops a `--` where this applet's arguments end and the next link begins.
pub fn strip_dashes(mut next: Vec<OsString>) -> Vec<OsString> {
    if next.first().is_some_and(|a| a == "--") {
        next.remove(0);
    }
    next
}

/// Checks, before any work is done, that `next` starts with a link that
/// may follow `from` (see `links`).
pub fn check_link(next: &[OsString], from: &str) -> Result<()> {
    let allowed = links::next_of(from).join(" or ");
    let Some(first) = next.first() else {
        return Err(
            Error::new(format!("missing the next link ({allowed})")).hint(
                "e.g. `wg-unshare PROFILE wg-up wg-exec PROG`, or use `wg-wrap PROFILE -- PROG`",
            ),
        );
    };
    match links::applet_of(first) {
        Some(applet) if links::next_of(from).contains(&applet) => Ok(()),
        _ => Err(Error::new(format!(
            "refusing to run {first:?} here: the next link must be {allowed}"
        ))
        .hint("programs run only after wg-exec has dropped privileges: put wg-exec before PROG")),
    }
}

/// Execs the next link of the chain, which must be one that may follow
/// `from` (wg-wrap may start a chain anywhere): until wg-exec has dropped
/// privileges nothing else may run. The applet is run from
/// `/proc/self/exe`, never looked up on PATH. Returns only on failure.
pub fn exec_link(next: &[OsString], from: &str) -> Error {
    let applet = match next.first().and_then(|first| links::applet_of(first)) {
        Some(applet) if from == "wg-wrap" => applet,
        _ => match check_link(next, from) {
            Err(e) => return e,
            Ok(()) => match links::applet_of(&next[0]) {
                Some(applet) => applet,
                None => return Error::new("no next link"),
            },
        },
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
    let fd = CONF_FD.take_fd()?;
    let file = std::fs::File::from(fd);
    // Sealed: its size is final. One buffer of that size (no growth, which
    // would leave copies of the keys behind), zeroed after.
    let size = (file.metadata())
        .map_err(|e| Error::sys("read the profile from wg-unshare", e))?
        .len()
        .min(crate::conf::MAX_SIZE);
    let mut bytes = vec![0u8; size as usize + 1];
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
    let text = String::from_utf8(bytes[..len.min(size as usize)].to_vec());
    zeroize::Zeroize::zeroize(&mut bytes);
    let mut text = text.map_err(|_| Error::new("the profile from wg-unshare is not text"))?;
    let parsed = crate::conf::Conf::parse(&text, "the profile from wg-unshare");
    zeroize::Zeroize::zeroize(&mut text);
    Ok(parsed?.conf)
}
