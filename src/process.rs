//! Processes of ours: forking a child, a daemon or a helper, and sweeping
//! descriptors so that none holds anything of its caller's.

use crate::error::{Error, Result};
use rustix::fd::{FromRawFd, OwnedFd, RawFd};
use rustix::io::{FdFlags, fcntl_getfd, fcntl_setfd};

/// Forks a child that runs `child` and ends with its result as exit status
/// (it never returns into the caller's code); returns the child's pid. Must
/// be called while the process has one thread (`what` names it in errors).
pub fn fork(what: &str, child: impl FnOnce() -> i32) -> Result<i32> {
    // SAFETY: the caller is single-threaded, so the child may run any code;
    // it ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::sys(
            format_args!("start {what}"),
            std::io::Error::last_os_error(),
        ));
    }
    if pid == 0 {
        let code = child();
        // SAFETY: _exit ends the child without running the parent's atexit
        // handlers or flushing its inherited stdio buffers.
        unsafe { libc::_exit(code) }
    }
    Ok(pid)
}

/// Waits for child `pid` to end; its exit status (128 + N for signal N).
pub fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waits for a child of ours; status is a valid out pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        return 128;
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// Runs `child` in a new process that is neither our child nor in our
/// session (double fork, `setsid`), as daemons start; returns once the
/// intermediate process has been reaped. Must be called while the process
/// has one thread. `child`'s result is the new process's exit status; in
/// this process, `child` and what it captured are dropped.
pub fn spawn_detached(what: &str, child: impl FnOnce() -> i32) -> Result<()> {
    let pid = fork(what, || {
        let _ = rustix::process::setsid();
        match fork(what, child) {
            Ok(_) => 0,
            Err(_) => 1,
        }
    })?;
    wait(pid);
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

/// Marks every fd above 2 close-on-exec, so an exec'd program inherits
/// only 0, 1 and 2.
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
