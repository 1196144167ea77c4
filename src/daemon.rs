//! What a background process of ours does to hold nothing of its caller's.

use crate::error::{Error, Result};
use rustix::fd::{FromRawFd, OwnedFd, RawFd};

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
