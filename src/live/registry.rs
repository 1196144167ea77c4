//! The registry of live namespaces, under the runtime directory:
//! `live/PID` for every running engine (written by the engine) and
//! `pins/NAME` for pinned ones (written by wg-pin). Each entry names the
//! engine by pid *and* start time, so a reused pid is never taken for it.

use crate::error::{Error, Result};
use crate::files::{self, Durability, write_atomic};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the engine's registry entry says besides its own ids.
pub struct Labels {
    /// The profile's name, or the file it was read from.
    pub profile: String,
    /// The store the namespace hid (`DEV:INODE:PATH`).
    pub store: Option<String>,
    /// The identity and shape (see `identity`).
    pub identity: String,
    pub shape: String,
    /// PROG gets the host's session bus (`--host-session-bus`).
    pub host_bus: bool,
}

/// One live (or once live) namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub engine_pid: u32,
    /// The engine's start time in clock ticks since boot (/proc/PID/stat field 22).
    pub start_time: u64,
    /// Inode of the namespace's network namespace.
    pub netns: u64,
    /// The profile's name, or the file it was read from.
    pub profile: String,
    /// When it was made, in seconds since the epoch.
    pub created: u64,
    /// The profile store this namespace hid, as `DEV:INODE:PATH` (live entries).
    pub store: Option<String>,
    /// The WireGuard identity (public key) and shape (see `identity`).
    pub identity: Option<String>,
    pub shape: Option<String>,
    /// `host` when its programs get the host's session bus, unfiltered.
    pub session_bus: Option<String>,
}

impl Entry {
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "engine_pid={}\nstart_time={}\nnetns={}\nprofile={}\ncreated={}\n",
            self.engine_pid, self.start_time, self.netns, self.profile, self.created
        );
        for (key, value) in [
            ("store", &self.store),
            ("identity", &self.identity),
            ("shape", &self.shape),
            ("session_bus", &self.session_bus),
        ] {
            if let Some(value) = value {
                text.push_str(&format!("{key}={value}\n"));
            }
        }
        text
    }

    pub fn parse(text: &str) -> Option<Entry> {
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        Some(Entry {
            engine_pid: get("engine_pid")?.parse().ok()?,
            start_time: get("start_time")?.parse().ok()?,
            netns: get("netns")?.parse().ok()?,
            profile: get("profile")?,
            created: get("created")?.parse().ok()?,
            store: get("store"),
            identity: get("identity"),
            shape: get("shape"),
            session_bus: get("session_bus"),
        })
    }

    /// Whether the engine it names still runs (same pid, same start time).
    pub fn is_live(&self) -> bool {
        start_time(self.engine_pid) == Some(self.start_time)
    }

    /// The engine's status socket.
    pub fn socket(&self, runtime: &Path) -> PathBuf {
        super::status::socket_path(runtime, self.engine_pid)
    }

    pub fn age_secs(&self) -> u64 {
        now().saturating_sub(self.created)
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A directory's identity and path, `DEV:INODE:PATH`, as live entries
/// record the store.
pub fn dir_id(dir: &Path) -> Option<String> {
    let st = rustix::fs::stat(dir).ok()?;
    Some(format!(
        "{}:{}:{}",
        st.st_dev,
        st.st_ino,
        resolved(dir).display()
    ))
}

/// `dir` with `..`, `//` and symlinks resolved, or as given if it is gone.
fn resolved(dir: &Path) -> PathBuf {
    fs::canonicalize(dir).unwrap_or_else(|_| dir.components().collect())
}

/// Refuses to write a profile into a store that is not the one a live
/// namespace hid: a program inside can rename a parent of the store (its
/// HOME is writable) and make a new, visible store where the old one was.
pub fn check_store_unmoved(store_root: &Path) -> Result<()> {
    let now = dir_id(store_root);
    let path = resolved(store_root);
    let same_path = |id: &str| id.splitn(3, ':').nth(2) == Some(&*path.to_string_lossy());
    let registries = crate::live::known_dirs();
    let live = registries
        .iter()
        .flat_map(|runtime| Dir::live(runtime).live_entries());
    for (_, entry) in live {
        if let Some(hid) = &entry.store
            && same_path(hid)
            && now.as_ref() != Some(hid)
        {
            return Err(Error::new(format!(
                "{} is not the store the namespace of engine {} ({}) hid: a program inside may have moved it",
                store_root.display(),
                entry.engine_pid,
                entry.profile
            ))
            .hint(format!(
                "end that namespace (`wg-wrap status` lists it), then check {}",
                store_root.display()
            )));
        }
    }
    Ok(())
}

/// Whether a process that `skip` does not exclude is in network namespace
/// `netns` (by inode): what keeps a namespace alive.
pub fn anyone_in_netns(netns: u64, skip: impl Fn(u32) -> bool) -> bool {
    Processes::read().anyone_in(netns, skip)
}

/// Every process we can see with its network namespace, read from /proc
/// once (a stat per process): checking many namespaces against one reading
/// costs one walk, not one each.
pub struct Processes(Vec<(u32, u64)>);

impl Processes {
    pub fn read() -> Processes {
        let Ok(dir) = fs::read_dir("/proc") else {
            return Processes(Vec::new());
        };
        let pids = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok());
        Processes(
            pids.filter_map(|pid| {
                let st = rustix::fs::stat(format!("/proc/{pid}/ns/net").as_str()).ok()?;
                Some((pid, st.st_ino))
            })
            .collect(),
        )
    }

    /// Whether a process not skipped is in network namespace `netns`.
    pub fn anyone_in(&self, netns: u64, skip: impl Fn(u32) -> bool) -> bool {
        self.0.iter().any(|(pid, ns)| *ns == netns && !skip(*pid))
    }
}

/// A running process's start time (clock ticks since boot); None when it
/// does not exist or has exited (a zombie is not running).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// An entry is a few short lines.
const MAX_ENTRY: i64 = 4096;

/// A directory of entries: `live/` or `pins/` under the runtime directory.
pub struct Dir {
    path: PathBuf,
}

/// What listing found: live entries, and stale ones (already removed).
pub struct Listing {
    pub live: Vec<(String, Entry)>,
    pub stale: Vec<(String, Option<Entry>)>,
}

impl Dir {
    pub fn live(runtime: &Path) -> Dir {
        Dir {
            path: runtime.join("live"),
        }
    }

    pub fn pins(runtime: &Path) -> Dir {
        Dir {
            path: runtime.join("pins"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads entry NAME: `Ok(None)` when there is none, or when NAME is not
    /// a small regular file (a FIFO, a symlink, a device: whatever a
    /// program could leave there, it is opened without blocking or
    /// following a link, and not read).
    pub fn read(&self, name: &str) -> Result<Option<Entry>> {
        use rustix::fs::{FileType, Mode, OFlags};
        let path = self.path(name);
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::open(&path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP) => return Ok(None),
            Err(e) => return Err(Error::sys(format_args!("read {}", path.display()), e)),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| Error::sys("read the registry", e))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile
            || stat.st_size > MAX_ENTRY
        {
            return Ok(None);
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut fs::File::from(fd), &mut text)
            .map_err(|e| Error::sys(format_args!("read {}", path.display()), e))?;
        Ok(Entry::parse(&text))
    }

    /// Adds entry NAME; fails if a live one exists (a stale one is replaced).
    pub fn create(&self, name: &str, entry: &Entry) -> Result<()> {
        files::private_dir(&self.path, "registry directory", files::Links::Refuse)?;
        let path = self.path(name);
        let tmp = self
            .path
            .join(format!(".{name}.new-{}", std::process::id()));
        write_atomic(&tmp, entry.to_text().as_bytes(), Durability::Volatile)?;
        for _ in 0..2 {
            match fs::hard_link(&tmp, &path) {
                Ok(()) => {
                    let _ = fs::remove_file(&tmp);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if let Ok(Some(old)) = self.read(name)
                        && old.is_live()
                    {
                        let _ = fs::remove_file(&tmp);
                        return Err(Error::new(format!(
                            "\"{name}\" is already pinned (engine {}, profile {})",
                            old.engine_pid, old.profile
                        ))
                        .hint(format!("join it with `wg-wrap --join {name} -- PROG`, or remove it with `wg-pin --remove {name}`")));
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(Error::sys(format_args!("write {}", path.display()), e));
                }
            }
        }
        let _ = fs::remove_file(&tmp);
        Err(Error::new(format!(
            "cannot write {}: it keeps changing",
            path.display()
        )))
    }

    pub fn remove(&self, name: &str) {
        let _ = fs::remove_file(self.path(name));
    }

    /// The status socket a dead engine left behind (SIGKILL ends it before it
    /// can remove its own). Only for `live/`, whose entries are named by the
    /// engine's pid: a new engine that got the same pid replaces the entry
    /// before it binds the socket.
    fn remove_socket(&self, entry: Option<&Entry>) {
        if let (Some(entry), Some(runtime)) = (entry, self.path.parent())
            && self.path.ends_with("live")
        {
            let _ = fs::remove_file(super::status::socket_path(runtime, entry.engine_pid));
        }
    }

    fn names(&self) -> Vec<String> {
        let Ok(dir) = fs::read_dir(&self.path) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// The live entries, sorted by name, leaving stale ones as they are: for
    /// engines and wg-unshare, so that the user's next listing or join is
    /// the one that reports a stale pin.
    pub fn live_entries(&self) -> Vec<(String, Entry)> {
        (self.names().into_iter())
            .filter_map(|name| match self.read(&name) {
                Ok(Some(entry)) if entry.is_live() => Some((name, entry)),
                _ => None,
            })
            .collect()
    }

    /// Every entry, sorted by name; stale ones are removed and reported.
    pub fn list(&self) -> Listing {
        let mut listing = Listing {
            live: Vec::new(),
            stale: Vec::new(),
        };
        for name in self.names() {
            match self.read(&name) {
                Ok(Some(entry)) if entry.is_live() => listing.live.push((name, entry)),
                Ok(entry) => {
                    self.remove(&name);
                    self.remove_socket(entry.as_ref());
                    listing.stale.push((name, entry));
                }
                Err(_) => {}
            }
        }
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_know_their_engine() {
        let me = std::process::id();
        let entry = Entry {
            engine_pid: me,
            start_time: start_time(me).unwrap(),
            netns: 4026531840,
            profile: "work".into(),
            created: now(),
            store: Some("2049:1234:/home/u/.config/wg-wrap".into()),
            identity: Some("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=".into()),
            shape: Some("0123456789abcdef".into()),
            session_bus: Some("host".into()),
        };
        assert_eq!(Entry::parse(&entry.to_text()), Some(entry.clone()));
        assert!(entry.is_live());
        let reused = Entry {
            start_time: entry.start_time + 1,
            ..entry
        };
        assert!(!reused.is_live(), "a reused pid is not the engine");
    }
}
