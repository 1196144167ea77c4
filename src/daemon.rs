//! What a background process of ours does to hold nothing of its caller's.

use crate::error::{Error, Result};
use rustix::fd::{FromRawFd, OwnedFd, RawFd};

/// Runs `child` in a new process that is neither our child nor in our
/// session (double fork, `setsid`), as daemons start; returns once the
/// intermediate process has been reaped. Must be called while the process
/// has one thread. `child`'s result is the new process's exit status; in
/// this process, `child` and what it captured are dropped.
pub fn spawn_detached(what: &str, child: impl FnOnce() -> i32) -> Result<()> {
    // SAFETY: the caller is single-threaded, so the child may run any code;
    // both children end with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::sys(
            format_args!("start {what}"),
            std::io::Error::last_os_error(),
        ));
    }
    if pid == 0 {
        let _ = rustix::process::setsid();
        // SAFETY: still single-threaded, as above.
        if unsafe { libc::fork() } == 0 {
            let code = child();
            // SAFETY: _exit ends the process without running the parent's
            // atexit handlers or flushing its inherited stdio buffers.
            unsafe { libc::_exit(code) }
        }
        // SAFETY: as above; the intermediate process has nothing to clean up.
        unsafe { libc::_exit(0) }
    }
    drop(child);
    let mut status = 0;
    // SAFETY: reaps the intermediate child just forked; status is a valid out pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    Ok(())
}

/// Standard input, output and error on /dev/null: the engine never holds the
/// caller's terminal or pipes (so `x=$(wg-wrap ...)` returns when PROG ends).
pub fn detach_stdio() -> Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::sys("open /dev/null", e))?;
    let fail = |e| Error::sys("detach from the terminal", e);
    rustix::stdio::dup2_stdin(&null).map_err(fail)?;
    rustix::stdio::dup2_stdout(&null).map_err(fail)?;
    rustix::stdio::dup2_stderr(&null).map_err(fail)?;
    Ok(())
}

/// A copy of stderr when it is a terminal: somewhere a detached process can
/// still say something without holding a pipe open (a reader of a pipe
/// would wait for it).
pub fn stderr_tty() -> Option<std::fs::File> {
    let stderr = rustix::stdio::stderr();
    if !rustix::termios::isatty(stderr) {
        return None;
    }
    rustix::io::fcntl_dupfd_cloexec(stderr, 3)
        .ok()
        .map(std::fs::File::from)
}

/// Closes every fd above 2 that is not in `keep`.
pub fn close_all_but(keep: &[RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    for fd in fds {
        // SAFETY: borrowed only to ask whether the number is open (the
        // directory handle listed above has been closed since).
        if rustix::io::fcntl_getfd(unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) }).is_err() {
            continue;
        }
        // SAFETY: an open fd inherited from wg-up that nothing in this
        // process owns.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

/// Forks a host-side helper (`what` names it in errors) that talks to the
/// chain over a socketpair: `serve` gets the helper's end, with stdio on
/// /dev/null and every other fd closed; the caller gets its own end. The
/// caller must be single-threaded (wg-unshare is).
pub fn spawn_helper(
    what: &str,
    serve: impl FnOnce(rustix::fd::OwnedFd),
) -> Result<rustix::fd::OwnedFd> {
    use rustix::fd::AsRawFd;
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys(format_args!("start {what}"), e))?;
    spawn_detached(what, move || {
        let _ = detach_stdio();
        close_all_but(&[theirs.as_raw_fd()]);
        serve(theirs);
        0
    })?;
    Ok(ours)
}
