//! One WireGuard identity, one namespace. A server keeps one session per
//! key: two engines with the same private key would take it from each
//! other. So a second `wg-wrap PROFILE` whose key is already in use by a
//! live namespace of this user runs in that namespace, as `--join` would;
//! one whose key matches but whose addresses, DNS or peers differ is
//! refused. A lock per identity in the runtime directory makes concurrent
//! starts end in one namespace.

use crate::conf::Conf;
use crate::error::{Error, Result};
use crate::live::registry::{Dir, Entry, Processes};
use rustix::fd::OwnedFd;
use std::path::Path;

/// The identity (the public key, not secret) and the shape (a digest of
/// addresses, DNS and peers: what two profiles of one identity must share
/// to share a namespace; endpoints and MTU may differ in spelling).
pub fn of(conf: &Conf) -> (String, String) {
    let mut text = String::new();
    for address in &conf.interface.addresses {
        text.push_str(&format!("address {address}\n"));
    }
    for server in &conf.interface.dns.servers {
        text.push_str(&format!("dns {server}\n"));
    }
    for domain in &conf.interface.dns.search {
        text.push_str(&format!("search {domain}\n"));
    }
    for peer in &conf.peers {
        text.push_str(&format!("peer {}\n", peer.public_key));
        for allowed in &peer.allowed_ips {
            text.push_str(&format!("allowed {allowed}\n"));
        }
    }
    let identity = conf.interface.private_key.public_key().to_string();
    (identity, format!("{:016x}", fnv1a(text.as_bytes())))
}

/// FNV-1a, 64 bits: stable across builds (the registry outlives a binary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The directory of the identities' locks.
pub fn locks_dir(runtime: &Path) -> std::path::PathBuf {
    runtime.join("locks")
}

/// The identity's lock file (named by a digest: base64 has '/').
pub fn lock_path(runtime: &Path, identity: &str) -> std::path::PathBuf {
    locks_dir(runtime).join(format!("{:016x}", fnv1a(identity.as_bytes())))
}

/// Takes the identity's lock (waiting for whoever holds it), held until
/// the fd is closed: by the engine once it is registered.
pub fn lock(runtime: &Path, identity: &str) -> Result<OwnedFd> {
    use rustix::fs::{FlockOperation, Mode, OFlags};
    let path = lock_path(runtime, identity);
    if let Some(dir) = path.parent() {
        crate::live::private(dir)?;
    }
    // The engine that ends removes the file while it holds the lock: a lock
    // taken on a file no longer at the path is taken again, on the new one.
    loop {
        let fd = rustix::fs::open(
            &path,
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::sys(format_args!("open {}", path.display()), e))?;
        rustix::fs::flock(&fd, FlockOperation::LockExclusive)
            .map_err(|e| Error::sys(format_args!("lock {}", path.display()), e))?;
        let held = rustix::fs::fstat(&fd).map(|s| (s.st_dev, s.st_ino));
        let named = rustix::fs::stat(&path).map(|s| (s.st_dev, s.st_ino));
        if held.is_ok() && held == named {
            return Ok(fd);
        }
    }
}

/// Removes the identity's lock file unless someone holds the lock (an
/// engine that ends by a signal, not through its lifetime's check).
pub fn remove_lock_if_free(runtime: &Path, identity: &str) {
    use rustix::fs::{FlockOperation, Mode, OFlags};
    let path = lock_path(runtime, identity);
    let flags = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
    if let Ok(fd) = rustix::fs::open(&path, flags, Mode::empty())
        && rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok()
    {
        let _ = std::fs::remove_file(&path);
    }
}

/// The live namespace of this identity, if any: pinned, or with a process
/// in it besides the engine and its relay. One whose programs have all
/// ended is only draining its last packets before it goes: it is not
/// joined (a new one is made).
pub fn live(runtime: &Path, identity: &str) -> Option<Entry> {
    let pinned: Vec<u32> = (Dir::pins(runtime).live_entries().into_iter())
        .map(|(_, entry)| entry.engine_pid)
        .collect();
    let entries: Vec<Entry> = (Dir::live(runtime).live_entries().into_iter())
        .map(|(_, entry)| entry)
        .filter(|entry| entry.identity.as_deref() == Some(identity))
        .collect();
    if let Some(pinned) = entries.iter().find(|e| pinned.contains(&e.engine_pid)) {
        return Some(pinned.clone());
    }
    if entries.is_empty() {
        return None;
    }
    // One walk of /proc for all of them (ending ones may be many).
    let processes = Processes::read();
    entries
        .into_iter()
        .find(|entry| occupied_in(entry, &processes))
}

/// Whether a process other than the engine and its children (the relay)
/// is in the entry's network namespace: a namespace without one has ended,
/// its engine only delivering the last packets.
pub fn occupied(entry: &Entry) -> bool {
    occupied_in(entry, &Processes::read())
}

fn occupied_in(entry: &Entry, processes: &Processes) -> bool {
    processes.anyone_in(entry.netns, |pid| {
        pid == entry.engine_pid || parent(pid) == Some(entry.engine_pid)
    })
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Checks that the live namespace maps the caller as this run would
/// (`--map-root` or not): its programs would otherwise see another uid.
pub fn check_map(entry: &Entry, map_root: bool) -> Result<()> {
    let map =
        std::fs::read_to_string(format!("/proc/{}/uid_map", entry.engine_pid)).unwrap_or_default();
    let inside_root = map.split_whitespace().next() == Some("0");
    if inside_root == map_root {
        return Ok(());
    }
    let (has, wants) = if inside_root {
        ("with", "without")
    } else {
        ("without", "with")
    };
    Err(runs_otherwise(
        entry,
        format_args!("runs {has} --map-root; this run is {wants}"),
    ))
}

/// The live namespace of our key runs otherwise than this run asks.
fn runs_otherwise(entry: &Entry, how: std::fmt::Arguments) -> Error {
    Error::new(format!(
        "the live namespace of engine {} with this profile's key {how}",
        entry.engine_pid
    ))
    .hint("run it as that namespace runs, or end that namespace first")
}

/// Checks that the live namespace gives its programs the session bus this
/// run asks for: a run without `--host-session-bus` never lands where the
/// host's bus is reachable, nor the other way round.
pub fn check_bus(entry: &Entry, host_bus: bool) -> Result<()> {
    let has_host = entry.session_bus.as_deref() == Some("host");
    if has_host == host_bus {
        return Ok(());
    }
    let (has, wants) = if has_host {
        (
            "the host's session bus, unfiltered (--host-session-bus)",
            "a filtered one",
        )
    } else {
        ("a filtered session bus", "the host's (--host-session-bus)")
    };
    Err(runs_otherwise(
        entry,
        format_args!("gives its programs {has}; this run asks for {wants}"),
    ))
}

/// Checks that `entry` (the live namespace of our identity) has our shape.
pub fn check_shape(entry: &Entry, shape: &str, profile: &str) -> Result<()> {
    if entry.shape.as_deref() == Some(shape) {
        return Ok(());
    }
    Err(Error::new(format!(
        "{profile} has the key of the live namespace of engine {} (profile {}), but other addresses, DNS or peers",
        entry.engine_pid, entry.profile
    ))
    .hint(
        "one key, one namespace: run in that one with its profile, or end it (`wg-wrap status` lists it; quit its programs or `wg-pin --remove`)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_ignores_endpoints_and_keys_but_not_addresses() {
        let text = |address: &str, endpoint: &str| {
            format!(
                "[Interface]\nPrivateKey = {}\nAddress = {address}\n[Peer]\nPublicKey = {}\nAllowedIPs = 0.0.0.0/0\nEndpoint = {endpoint}\n",
                "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
                "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
            )
        };
        let shape = |t: String| of(&Conf::parse(&t, "t").unwrap().conf);
        let a = shape(text("198.19.0.2/32", "198.18.0.1:51820"));
        let b = shape(text("198.19.0.2/32", "vpn.example:51820"));
        let c = shape(text("198.19.0.3/32", "198.18.0.1:51820"));
        assert_eq!(a, b);
        assert_eq!(a.0, c.0);
        assert_ne!(a.1, c.1);
    }
}
