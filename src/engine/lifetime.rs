//! When the engine ends: after PROG and every other process of the namespace
//! are gone (unless pinned), once the namespace's TCP sockets have delivered
//! what they hold (at most [`MAX_DRAIN`]) and the TUN has been quiet for a
//! moment.

use rustix::fd::OwnedFd;
use rustix::fs::stat;
use std::time::{Duration, Instant};

/// The kernel still sends closing packets (FIN, last ACKs) after PROG exits.
pub const QUIET: Duration = Duration::from_millis(300);
pub const MAX_LINGER: Duration = Duration::from_millis(800);
/// Longest the engine outlives PROG to deliver what its TCP connections had
/// not sent yet (a program may `write`, `close` and exit long before the
/// data has left, as it may without wg-wrap).
pub const MAX_DRAIN: Duration = Duration::from_secs(60);

pub struct Lifetime {
    /// Readable once PROG has exited.
    pub pidfd: OwnedFd,
    prog_gone: bool,
    own_pid: u32,
    netns: u64,
    linger_start: Option<Instant>,
    /// Where wg-pin registers pinned namespaces; a pin naming this engine keeps it.
    pins: crate::live::registry::Dir,
    start_time: u64,
    /// The caller's terminal (stderr, when it was one), for the one warning
    /// the engine may give after PROG ended: data dropped at [`MAX_DRAIN`].
    tty: Option<std::fs::File>,
    /// The engine's live entry, and its identity's lock (see `identity`):
    /// the engine removes its entry holding the lock, so a `wg-wrap` of the
    /// same identity never joins a namespace that is ending.
    live: crate::live::registry::Dir,
    lock_path: Option<std::path::PathBuf>,
    /// Processes of the engine's own (the port relay) that do not keep it.
    helpers: Vec<u32>,
}

impl Lifetime {
    pub fn new(
        pidfd: OwnedFd,
        runtime: &std::path::Path,
        tty: Option<std::fs::File>,
        identity: &str,
    ) -> std::io::Result<Lifetime> {
        let netns = stat("/proc/self/ns/net")?.st_ino;
        let own_pid = std::process::id();
        Ok(Lifetime {
            pidfd,
            prog_gone: false,
            own_pid,
            netns,
            linger_start: None,
            pins: crate::live::registry::Dir::pins(runtime),
            start_time: crate::live::registry::start_time(own_pid).unwrap_or(0),
            tty,
            live: crate::live::registry::Dir::live(runtime),
            lock_path: Some(crate::identity::lock_path(runtime, identity)),
            helpers: Vec::new(),
        })
    }

    /// `pid` (a helper of the engine's) does not keep the namespace.
    pub fn ignore(&mut self, pid: Option<u32>) {
        self.helpers.extend(pid);
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
        self.pins.live_entries().iter().any(|(_, entry)| {
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
        if !self.prog_gone() {
            return false;
        }
        // Lingering while the TUN is still busy: nothing costly until it
        // is quiet (the checks below scan /proc and the kernel's whole TCP
        // table, and a lingering engine ticks every 50 ms).
        if let Some(start) = self.linger_start
            && last_tun.elapsed() < QUIET
            && start.elapsed() < MAX_LINGER
        {
            return false;
        }
        // The pin check reads one directory; the other scans all of /proc.
        if self.pinned() || self.others_inside() {
            self.linger_start = None;
            return false;
        }
        let start = *self.linger_start.get_or_insert_with(Instant::now);
        let end = match undelivered_tcp() {
            Some(_) if start.elapsed() < MAX_DRAIN => false,
            Some(bytes) => {
                self.warn_dropped(bytes);
                true
            }
            None => last_tun.elapsed() >= QUIET || start.elapsed() >= MAX_LINGER,
        };
        end && self.claim_end()
    }

    /// Takes the identity's lock (not waiting: a `wg-wrap` of this identity
    /// holding it may be joining), looks once more for processes inside, and
    /// removes the live entry: from then on nobody joins.
    fn claim_end(&mut self) -> bool {
        use rustix::fs::{FlockOperation, Mode, OFlags};
        let mut lock = None;
        if let Some(path) = &self.lock_path {
            let flags = OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            let Ok(fd) = rustix::fs::open(path, flags, Mode::from_raw_mode(0o600)) else {
                return true;
            };
            if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
                return false;
            }
            if self.others_inside() {
                return false;
            }
            // Gone with the engine, as every runtime file (see `identity::lock`).
            let _ = std::fs::remove_file(path);
            lock = Some(fd);
        }
        self.live.remove(&self.own_pid.to_string());
        // Released now, not at exit: the entry is gone, so nobody joins, and
        // the rest of the end (the TUN's unregistering waits for RCU grace
        // periods) would hold up every start of this identity.
        drop(lock);
        true
    }

    fn warn_dropped(&mut self, bytes: u64) {
        if let Some(tty) = self.tty.as_mut() {
            use std::io::Write;
            let _ = writeln!(
                tty,
                "{}: warning: {bytes} bytes PROG had written to TCP connections were not delivered \
                 within {} s after it ended and are dropped (the peer stopped taking data)",
                crate::log::applet(),
                MAX_DRAIN.as_secs()
            );
        }
    }

    /// Whether any process but the engine lives in this network namespace.
    fn others_inside(&self) -> bool {
        crate::live::registry::anyone_in_netns(self.netns, |pid| {
            pid == self.own_pid || self.helpers.contains(&pid)
        })
    }
}

/// How many TCP sockets (IPv4 and IPv6) this network namespace has, from
/// its own /proc/self/net/sockstat{,6}; None if they cannot be read.
fn tcp_sockets_here() -> Option<u64> {
    let mut total = 0;
    for (file, key) in [
        ("/proc/self/net/sockstat", "TCP:"),
        ("/proc/self/net/sockstat6", "TCP6:"),
    ] {
        let text = std::fs::read_to_string(file).ok()?;
        total += in_use(&text, key)?;
    }
    Some(total)
}

/// The `inuse` count of `key`'s line (`TCP: inuse 3 orphan 0 ...`).
fn in_use(sockstat: &str, key: &str) -> Option<u64> {
    let line = sockstat.lines().find(|l| l.starts_with(key))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "inuse")?;
    words.next()?.parse().ok()
}

/// TCP states that still owe the peer something after the owner closed:
/// FIN_WAIT1, CLOSING, LAST_ACK (our FIN, or data before it, unacknowledged).
const CLOSING_STATES: [u8; 3] = [0x04, 0x0B, 0x09];
const LISTEN: u8 = 0x0A;

/// The bytes this namespace's TCP sockets have yet to deliver, when any
/// socket has some or is still closing; from /proc/self/net/tcp{,6}.
fn undelivered_tcp() -> Option<u64> {
    // The tables list the whole kernel's TCP hash (every namespace's), a
    // walk of milliseconds on a large machine; this namespace's count of
    // TCP sockets is one line. None at all: nothing owed.
    if tcp_sockets_here() == Some(0) {
        return None;
    }
    let mut owed = None;
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for (state, unsent) in text.lines().skip(1).filter_map(socket_queue) {
            // A listening socket's "tx_queue" is its backlog.
            if state != LISTEN && (unsent > 0 || CLOSING_STATES.contains(&state)) {
                *owed.get_or_insert(0) += unsent;
            }
        }
    }
    owed
}

/// A /proc/net/tcp line's state and send queue.
fn socket_queue(line: &str) -> Option<(u8, u64)> {
    let mut fields = line.split_whitespace().skip(3);
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let (tx, _) = fields.next()?.split_once(':')?;
    Some((state, u64::from_str_radix(tx, 16).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines() {
        let listen = "   0: 00000000:1F91 00000000:0000 0A 00000080:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 100 0 0 10 0";
        let fin_wait1 = "   1: 020013C6:A1B2 010013C6:2329 04 0001E240:00000000 01:00000014 00000000  1000        0 0 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(socket_queue(listen), Some((LISTEN, 0x80)));
        assert_eq!(socket_queue(fin_wait1), Some((0x04, 123456)));
        assert_eq!(
            socket_queue("  sl  local_address rem_address   st tx_queue"),
            None
        );
    }

    #[test]
    fn sockstat_counts_a_namespaces_tcp_sockets() {
        let v4 = "sockets: used 7\nTCP: inuse 2 orphan 0 tw 0 alloc 3 mem 1\nUDP: inuse 5 mem 0\n";
        assert_eq!(in_use(v4, "TCP:"), Some(2));
        assert_eq!(in_use("TCP6: inuse 0\nUDP6: inuse 1\n", "TCP6:"), Some(0));
        assert_eq!(in_use(v4, "TCP6:"), None);
    }
}
