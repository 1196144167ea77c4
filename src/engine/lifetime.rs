//! When the engine ends: after PROG and every other process of the namespace
//! are gone (unless pinned), once the TUN has been quiet for a moment.

use rustix::fd::OwnedFd;
use rustix::fs::stat;
use std::time::{Duration, Instant};

/// The kernel still sends closing packets (FIN, last ACKs) after PROG exits.
pub const QUIET: Duration = Duration::from_millis(300);
pub const MAX_LINGER: Duration = Duration::from_millis(800);

pub struct Lifetime {
    /// Readable once PROG has exited.
    pub pidfd: OwnedFd,
    prog_gone: bool,
    own_pid: u32,
    netns: u64,
    linger_start: Option<Instant>,
    /// Where wg-pin registers pinned namespaces; a pin naming this engine keeps it.
    pins: crate::registry::Dir,
    start_time: u64,
}

impl Lifetime {
    pub fn new(pidfd: OwnedFd, runtime: &std::path::Path) -> std::io::Result<Lifetime> {
        let netns = stat("/proc/self/ns/net")?.st_ino;
        let own_pid = std::process::id();
        Ok(Lifetime {
            pidfd,
            prog_gone: false,
            own_pid,
            netns,
            linger_start: None,
            pins: crate::registry::Dir::pins(runtime),
            start_time: crate::registry::start_time(own_pid).unwrap_or(0),
        })
    }

    /// True while the engine waits for the TUN to go quiet before it ends.
    pub fn lingering(&self) -> bool {
        self.linger_start.is_some()
    }

    pub fn netns(&self) -> u64 {
        self.netns
    }

    /// Whether a pin names this engine.
    pub fn pinned(&self) -> bool {
        self.pins.list().live.iter().any(|(_, entry)| {
            entry.engine_pid == self.own_pid && entry.start_time == self.start_time
        })
    }

    pub fn prog_gone(&mut self) -> bool {
        if !self.prog_gone {
            let mut fds = [rustix::event::PollFd::new(
                &self.pidfd,
                rustix::event::PollFlags::IN,
            )];
            let zero = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            self.prog_gone = rustix::event::poll(&mut fds, Some(&zero)).is_ok_and(|n| n > 0);
        }
        self.prog_gone
    }

    /// True when the engine should end now; `last_tun` is the time of the
    /// last packet read from the TUN.
    pub fn should_end(&mut self, last_tun: Instant) -> bool {
        // The pin check reads one directory; the other scans all of /proc.
        if !self.prog_gone() || self.pinned() || self.others_inside() {
            self.linger_start = None;
            return false;
        }
        let start = *self.linger_start.get_or_insert_with(Instant::now);
        last_tun.elapsed() >= QUIET || start.elapsed() >= MAX_LINGER
    }

    /// Whether any process but the engine lives in this network namespace.
    fn others_inside(&self) -> bool {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return false;
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| *pid != self.own_pid)
            .any(|pid| {
                stat(format!("/proc/{pid}/ns/net").as_str()).is_ok_and(|st| st.st_ino == self.netns)
            })
    }
}
