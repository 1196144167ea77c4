//! The userspace WireGuard engine, forked by wg-up.
//!
//! Forked before any thread exists, then double-forked and `setsid`, so it
//! is neither a child of PROG nor hit by the terminal's Ctrl-C. It is
//! non-dumpable (PROG, same uid, cannot ptrace it or read its memory), keeps
//! only CAP_SYS_PTRACE (for its scan of the namespace's processes), and holds
//! nothing of the caller's but the TUN, the UDP socket and a pidfd on PROG.
//!
//! Readiness protocol, one line each on a pipe to wg-up: `pid N`, then
//! `ready` (or `error MESSAGE`), then `handshake I` as peer I completes its
//! first handshake; the pipe closes when every peer has. When wg-up waits
//! for no handshake, it hands the pipe to wg-exec, which reads `ready` just
//! before PROG runs: the engine starts while wg-exec does.
//!
//! The engine holds the identity's lock (see `identity`) from its fork until
//! its registry entry is written and its status socket answers: a concurrent
//! start of the same key either waits for the lock and joins it, or finds
//! neither.

pub mod core;
mod lifetime;
pub mod peers;
mod run;
pub mod uapi;
mod udp;

use crate::caps;
use crate::conf::Conf;
use crate::error::{Error, Result};
use crate::live::registry;
use crate::process;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the engine takes from the host side of the chain.
pub struct HostFds {
    /// The UDP socket bound in the host's network namespace.
    pub udp: OwnedFd,
    /// The read end of the session bus proxy's pipe (see `services`).
    pub bus_proxy: Option<OwnedFd>,
    /// Published ports' host sockets, for the relay (see `relay`).
    pub published: Vec<crate::publish::Published>,
    /// The host-side endpoint resolver's socket, and the peers with names.
    pub resolver: Option<(OwnedFd, Vec<usize>)>,
    /// The lock on the profile's identity (see `identity::lock`), released
    /// once the engine is registered and its status socket answers.
    pub lock: Option<OwnedFd>,
}

/// A running engine, seen from wg-up.
pub struct Engine {
    pub pid: u32,
    report: BufReader<File>,
    /// Peers with an endpoint: the ones whose first handshake wg-up waits for.
    awaited: Vec<usize>,
}

/// Forks the engine for `conf` over `tun` and `udp`. Must be called while
/// the process has one thread. Returns once the engine said `pid`.
/// `runtime` is the user's runtime directory (for the registry and the
/// status socket); `labels` are what the registry says of it.
pub fn spawn(
    conf: Conf,
    tun: tun_rs::SyncDevice,
    host: HostFds,
    runtime: &Path,
    labels: &registry::Labels,
) -> Result<Engine> {
    let awaited = (conf.peers.iter().enumerate())
        .filter(|(_, p)| p.endpoint.is_some())
        .map(|(i, _)| i)
        .collect();
    let prog = rustix::process::getpid();
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::sys("create a pipe to the engine", e))?;
    // wg-up starts no thread before this. The conf moves into the engine;
    // wg-up's copy of the keys is zeroed as the closure is dropped here.
    process::spawn_detached("the engine", move || {
        engine_main(conf, tun, host, write, prog, runtime, labels)
    })?;
    let mut report = BufReader::new(File::from(read));
    let mut line = String::new();
    let _ = report.read_line(&mut line);
    let pid = line
        .trim()
        .strip_prefix("pid ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Error::new("cannot start the engine: it exited at once"))?;
    Ok(Engine {
        pid,
        report,
        awaited,
    })
}

/// What wg-up learns while waiting.
pub struct Readiness {
    /// Peers (by index) that completed a handshake in time.
    pub handshakes: Vec<usize>,
}

impl Engine {
    /// Waits for `ready` (or the engine's error), then up to `timeout` for
    /// the first handshake of every peer that has an endpoint.
    pub fn wait(mut self, timeout: Duration) -> Result<Readiness> {
        self.ready()?;
        let mut line = String::new();
        let mut handshakes = Vec::new();
        let deadline = Instant::now() + timeout;
        while !self.awaited.iter().all(|i| handshakes.contains(i)) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            line.clear();
            if self.read_line(&mut line, left).is_err() || line.is_empty() {
                break;
            }
            if let Some(index) = line
                .trim()
                .strip_prefix("handshake ")
                .and_then(|i| i.parse().ok())
            {
                handshakes.push(index);
            }
        }
        Ok(Readiness { handshakes })
    }

    /// The pipe the engine reports on, for a later link to wait for `ready`
    /// (see [`await_ready`]) when wg-up waits for no handshake. None when
    /// the engine has answered already (its answer is read here).
    pub fn hand_over(mut self) -> Result<Option<OwnedFd>> {
        if !self.report.buffer().is_empty() {
            return self.ready().map(|()| None);
        }
        Ok(Some(OwnedFd::from(self.report.into_inner())))
    }

    /// Waits for `ready`, or the engine's error.
    fn ready(&mut self) -> Result<()> {
        let mut line = String::new();
        self.read_line(&mut line, Duration::from_secs(10))?;
        if let Some(message) = line.trim().strip_prefix("error ") {
            return Err(Error::new(format!("the engine failed: {message}")));
        }
        if line.trim() != "ready" {
            return Err(Error::new(
                "cannot start the engine: it ended before it was ready",
            ));
        }
        Ok(())
    }

    fn read_line(&mut self, line: &mut String, timeout: Duration) -> Result<()> {
        if self.report.buffer().is_empty() {
            let fd = self.report.get_ref().as_fd();
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let spec = rustix::event::Timespec {
                tv_sec: timeout.as_secs() as i64,
                tv_nsec: i64::from(timeout.subsec_nanos()),
            };
            match rustix::event::poll(&mut fds, Some(&spec)) {
                Ok(0) => return Err(Error::new("the engine did not answer in time")),
                Ok(_) => {}
                Err(e) => return Err(Error::sys("wait for the engine", e)),
            }
        }
        self.report
            .read_line(line)
            .map(drop)
            .map_err(|e| Error::sys("read from the engine", e))
    }
}

/// Waits for `ready` (or the engine's error) on the pipe wg-up handed over
/// (see [`Engine::hand_over`]); its `pid` line was read already.
pub fn await_ready(report: OwnedFd) -> Result<()> {
    Engine {
        pid: 0,
        report: BufReader::new(File::from(report)),
        awaited: Vec::new(),
    }
    .ready()
}

/// The engine process. Returns its exit status.
fn engine_main(
    conf: Conf,
    tun: tun_rs::SyncDevice,
    host: HostFds,
    report: OwnedFd,
    prog: rustix::process::Pid,
    runtime: &Path,
    labels: &registry::Labels,
) -> i32 {
    let mut report = File::from(report);
    let _ = writeln!(report, "pid {}", std::process::id());
    match serve(conf, tun, host, &report, prog, runtime, labels) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(report, "error {e}");
            1
        }
    }
}

fn serve(
    conf: Conf,
    tun: tun_rs::SyncDevice,
    host: HostFds,
    errors: &File,
    prog: rustix::process::Pid,
    runtime: &Path,
    labels: &registry::Labels,
) -> Result<()> {
    // The event loop's copy; `errors` stays open for engine_main to say why
    // the engine could not start.
    let report = errors
        .try_clone()
        .map_err(|e| Error::sys("start the engine", e))?;
    crate::guard::hold_keys("the engine")?;
    let pidfd = rustix::process::pidfd_open(prog, rustix::process::PidfdFlags::empty())
        .map_err(|e| Error::sys("watch PROG", e))?;
    let tty = process::stderr_tty();
    let HostFds {
        udp,
        bus_proxy,
        published,
        resolver,
        lock,
    } = host;
    let mut keep = vec![
        tun.as_raw_fd(),
        udp.as_raw_fd(),
        report.as_raw_fd(),
        errors.as_raw_fd(),
        pidfd.as_raw_fd(),
    ];
    // Open while the engine runs; the session bus proxy ends with it.
    keep.extend(bus_proxy.as_ref().map(|fd| fd.as_raw_fd()));
    keep.extend(published.iter().map(|p| p.socket.as_raw_fd()));
    keep.extend(resolver.as_ref().map(|(fd, _)| fd.as_raw_fd()));
    keep.extend(lock.as_ref().map(|fd| fd.as_raw_fd()));
    keep.extend(tty.as_ref().map(|t| t.as_raw_fd()));
    process::detach_stdio()?;
    process::close_all_but(&keep);
    caps::keep_only(rustix::thread::CapabilitySet::SYS_PTRACE)?;
    // The relay serves the published ports; it is not a process "inside"
    // that keeps the namespace.
    let relay = if published.is_empty() {
        None
    } else {
        Some(crate::relay::spawn(published)?)
    };
    let mut lifetime = lifetime::Lifetime::new(pidfd, runtime, tty, &labels.identity)
        .map_err(|e| Error::sys("read the network namespace", e))?;
    lifetime.ignore(relay);
    let pid = std::process::id();
    let entry = registry::Entry {
        engine_pid: pid,
        start_time: registry::start_time(pid).unwrap_or(0),
        netns: lifetime.netns(),
        profile: labels.profile.clone(),
        store: labels.store.clone(),
        identity: Some(labels.identity.clone()),
        shape: Some(labels.shape.clone()),
        session_bus: labels.host_bus.then(|| "host".to_string()),
        created: registry::now(),
    };
    let core = core::Core::new(&conf, run::boottime());
    // boringtun holds the keys now; this copy is zeroed.
    drop(conf);
    let resolver = match resolver {
        Some((fd, named)) => Some(
            crate::resolver::Client::new(fd, named)
                .map_err(|e| Error::sys("use the endpoint resolver", e))?,
        ),
        None => None,
    };
    let live = registry::Dir::live(runtime);
    live.create(&pid.to_string(), &entry)?;
    let socket_path = crate::live::status::socket_path(runtime, pid);
    let _ = std::fs::remove_file(&socket_path);
    let result = UnixListener::bind(&socket_path)
        .map_err(|e| {
            Error::sys(
                format_args!("create the status socket {}", socket_path.display()),
                e,
            )
        })
        .and_then(|status| {
            // Registered, and its status socket answers (a join checks the
            // engine there): a start of this key from now on joins it.
            drop(lock);
            run(core, tun, udp, report, lifetime, status, resolver)
        });
    let _ = std::fs::remove_file(&socket_path);
    live.remove(&pid.to_string());
    crate::identity::remove_lock_if_free(runtime, &labels.identity);
    result
}

/// Readies the descriptors for the event loop and runs it.
fn run(
    core: core::Core,
    tun: tun_rs::SyncDevice,
    udp: OwnedFd,
    report: File,
    lifetime: lifetime::Lifetime,
    status: UnixListener,
    resolver: Option<crate::resolver::Client>,
) -> Result<()> {
    tun.set_nonblocking(true)
        .map_err(|e| Error::sys("use the TUN device", e))?;
    udp::tune(udp.as_fd());
    let mut engine = run::Engine::new(
        core,
        tun,
        std::net::UdpSocket::from(udp),
        report,
        lifetime,
        status,
        resolver,
    )
    .map_err(|e| Error::sys("start the engine", e))?;
    engine.run().map_err(|e| Error::sys("forward packets", e))
}
