//! Namespaces: the unshare, the id maps, and the mounts that hide secrets and
//! keep DNS inside the tunnel.

use crate::conf::Dns;
use crate::error::{Error, Result};
use crate::log;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::thread::UnshareFlags;
use std::fs;
use std::path::{Path, PathBuf};

/// Directories holding the host resolver's AF_UNIX sockets (nss-resolve's
/// varlink and D-Bus, nscd), which would carry DNS out of the namespace.
pub const RESOLVER_SOCKET_DIRS: &[&str] = &["/run/systemd/resolve", "/run/nscd", "/var/run/nscd"];

/// Leaves the host's namespaces: a new user, network and mount namespace,
/// with the caller mapped to itself (or to root with `map_root`).
/// Must run while the process has a single thread.
pub fn unshare(map_root: bool) -> Result<()> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    // SAFETY: unshare changes only this (single-threaded) process's namespaces;
    // no Rust invariant depends on them.
    let done = unsafe {
        rustix::thread::unshare_unsafe(
            UnshareFlags::NEWUSER | UnshareFlags::NEWNET | UnshareFlags::NEWNS,
        )
    };
    done.map_err(|e| {
        let err = Error::sys("create user namespace", e);
        match e {
            rustix::io::Errno::INVAL => {
                err.hint("wg-unshare must run single-threaded; this is a bug")
            }
            _ => err.hint(crate::fixes::userns()),
        }
    })?;
    let inside = if map_root { 0 } else { uid };
    let gid_inside = if map_root { 0 } else { gid };
    let write = |path: &str, text: String| {
        fs::write(path, text).map_err(|e| Error::sys(format_args!("write {path}"), e))
    };
    // The maps are files of /proc/self, which belong to root while the
    // process is non-dumpable (as wg-unshare is, holding the keys): dumpable
    // for the three writes, and not again right after.
    let dumpable = |on: bool| {
        use rustix::process::{DumpableBehavior, set_dumpable_behavior};
        let how = if on {
            DumpableBehavior::Dumpable
        } else {
            DumpableBehavior::NotDumpable
        };
        set_dumpable_behavior(how).map_err(|e| Error::sys("set whether wg-unshare is dumpable", e))
    };
    dumpable(true)?;
    let written = write("/proc/self/setgroups", "deny".into())
        .and_then(|()| write("/proc/self/uid_map", format!("{inside} {uid} 1")))
        .and_then(|()| write("/proc/self/gid_map", format!("{gid_inside} {gid} 1")));
    dumpable(false)?;
    written?;
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(|e| Error::sys("make mounts private", e))?;
    Ok(())
}

/// An empty tmpfs over `dir`; `read_only` for the profile store.
fn mask_dir(dir: &Path, read_only: bool) -> Result<()> {
    let mut flags = MountFlags::NOSUID | MountFlags::NODEV;
    if read_only {
        flags |= MountFlags::RDONLY;
    }
    tmpfs(dir, flags, c"mode=0755")
}

/// An empty tmpfs over `dir` (`mode` as tmpfs takes it, e.g. `mode=0700`):
/// what hides a directory inside.
pub fn tmpfs(dir: &Path, flags: MountFlags, mode: &std::ffi::CStr) -> Result<()> {
    rustix::mount::mount("wg-wrap", dir, "tmpfs", flags, mode)
        .map_err(|e| Error::sys(format_args!("hide {}", dir.display()), e))
}

/// Makes `path` (a file or directory) read-only where it is, keeping the
/// flags the kernel locks on a mount inherited from a more privileged
/// namespace (nosuid, nodev, noexec, atime): a remount without them fails.
fn remount_read_only(path: &Path) -> rustix::io::Result<()> {
    use rustix::fs::StatVfsMountFlags as Vfs;
    let had = rustix::fs::statvfs(path)?.f_flag;
    let mut flags = MountFlags::BIND | MountFlags::RDONLY;
    for (vfs, mount) in [
        (Vfs::NOSUID, MountFlags::NOSUID),
        (Vfs::NODEV, MountFlags::NODEV),
        (Vfs::NOEXEC, MountFlags::NOEXEC),
        (Vfs::NOATIME, MountFlags::NOATIME),
        (Vfs::NODIRATIME, MountFlags::NODIRATIME),
        (Vfs::RELATIME, MountFlags::RELATIME),
    ] {
        if had.contains(vfs) {
            flags |= mount;
        }
    }
    rustix::mount::mount_remount(path, flags, "")
}

/// PROG's own view, made by wg-exec just before it drops its capabilities:
/// a mount namespace of PROG's where the runtime directory (the pins, the
/// engines' entries and status sockets) is read-only, so nothing PROG
/// starts can forge or remove a pin; so is the shared fallback
/// /tmp/wg-wrap-UID, where it could plant a registry for a later run. The engine, in the namespace this one
/// was copied from, keeps writing there. Must run single-threaded.
pub fn prog_view(runtime: &Path) -> Result<()> {
    let fail = |e| Error::sys(format_args!("make {} read-only", runtime.display()), e);
    // SAFETY: unshare changes only this (single-threaded) process's mount
    // namespace; no Rust invariant depends on it.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }.map_err(fail)?;
    let mut dirs = vec![runtime.to_path_buf()];
    dirs.extend(crate::live::shared_fallback().filter(|d| d != runtime));
    for dir in dirs {
        let fail = |e| Error::sys(format_args!("make {} read-only", dir.display()), e);
        // The identities' locks are hidden: flock needs no write access, and
        // a lock held from inside would stall every later start of its key.
        // Made now if missing: one made later would show through the bind.
        let locks = crate::identity::locks_dir(&dir);
        let _ = crate::live::private(&locks);
        rustix::mount::mount_bind(&dir, &dir).map_err(fail)?;
        remount_read_only(&dir).map_err(fail)?;
        if locks.is_dir() {
            mask_dir(&locks, true)?;
        }
    }
    Ok(())
}

/// Hides the profiles: an empty read-only tmpfs over the store (made first
/// if it does not exist yet), and
/// /dev/null (read-only) over a profile given by path.
/// Returns the store's identity (`DEV:INODE:PATH`) as it was before the mask.
pub fn hide_profiles(store_root: &Path, profile_file: Option<&Path>) -> Result<Option<String>> {
    // Compared and masked as resolved (`..`, symlinks): `store/../../x.conf`
    // is not in the store, whatever its spelling.
    let resolved = profile_file.map(|f| f.canonicalize().unwrap_or_else(|_| f.to_path_buf()));
    let store = store_root
        .canonicalize()
        .unwrap_or_else(|_| store_root.to_path_buf());
    // Masked even before the first import: made now (0700, as wg-profile
    // makes it), a store created later is created under the mask. (Where it
    // cannot be made, as root with another user's HOME, neither can a
    // profile be imported there by this user.)
    if !store_root.exists() {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(store_root);
    }
    let id = crate::live::registry::dir_id(store_root);
    if store_root.is_dir() {
        mask_dir(store_root, true)?;
    }
    // A profile from a pipe (`<(cat work.conf)`) is gone once read: only a
    // file on disk is left to hide.
    if let Some(file) = resolved.as_deref()
        && !file.starts_with(&store)
        && file.is_file()
    {
        hide_file(file)?;
    }
    Ok(id)
}

/// /dev/null, read-only, over `file` (a profile given by path, resolved).
/// Also in a live namespace that a run of the same identity joins.
pub fn hide_file(file: &Path) -> Result<()> {
    let fail = |e| Error::sys(format_args!("hide {}", file.display()), e);
    rustix::mount::mount_bind("/dev/null", file).map_err(fail)?;
    remount_read_only(file).map_err(fail)
}

/// Refuses a profile that is also open on PROG's standard input, output or
/// error (`wg-wrap /dev/stdin -- PROG < work.conf`), and a directory there
/// (`< ~`): hidden by path, the profiles would still be read through the
/// descriptor (`/proc/self/fd/0/.config/wg-wrap/...`).
pub fn check_not_on_stdio(profile: &Path) -> Result<()> {
    let Ok(file) = rustix::fs::stat(profile) else {
        return Ok(());
    };
    for (fd, name) in [
        (rustix::stdio::stdin(), "standard input"),
        (rustix::stdio::stdout(), "standard output"),
        (rustix::stdio::stderr(), "standard error"),
    ] {
        let Ok(st) = rustix::fs::fstat(fd) else {
            continue;
        };
        if st.st_dev == file.st_dev && st.st_ino == file.st_ino {
            return Err(Error::new(format!(
                "the profile is open on {name}: the program would read its keys there"
            ))
            .hint("give the profile by its path or name, not on a descriptor"));
        }
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
            return Err(Error::new(format!(
                "{name} is a directory: the program could read the hidden profiles through it"
            ))
            .hint("give the program a file or a terminal there"));
        }
    }
    Ok(())
}

/// Enters the working directory `cwd` again by its path, so that what was
/// masked since (the profile store) is seen masked: a directory kept open
/// would still show what lies under the mask. Where the path is gone
/// inside: $HOME, with a warning.
pub fn reenter_cwd(cwd: Option<PathBuf>) {
    let Some(cwd) = cwd else {
        return;
    };
    if std::env::set_current_dir(&cwd).is_ok() {
        return;
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    log::warn(format_args!(
        "the working directory {} is hidden inside: starting in {}",
        cwd.display(),
        home.display()
    ));
    let _ = std::env::set_current_dir(&home);
}

/// How DNS will work inside, decided on the host side before any mount.
pub struct DnsPlan {
    /// The resolv.conf PROG will read, when the host's must be replaced.
    pub resolv_conf: Option<String>,
}

/// Plans DNS: the profile's servers; else the host's upstream servers
/// (reached through the tunnel), with a warning that DNS is not the VPN's.
pub fn plan_dns(dns: &Dns) -> DnsPlan {
    if !dns.servers.is_empty() {
        let mut text = String::from("# generated by wg-wrap: the profile's DNS servers\n");
        for server in &dns.servers {
            text.push_str(&format!("nameserver {server}\n"));
        }
        if !dns.search.is_empty() {
            text.push_str(&format!("search {}\n", dns.search.join(" ")));
        }
        let servers: Vec<String> = dns.servers.iter().map(ToString::to_string).collect();
        log::info(format_args!(
            "DNS inside: {} (the profile's)",
            servers.join(", ")
        ));
        return DnsPlan {
            resolv_conf: Some(text),
        };
    }
    // No DNS in the profile. Where /etc/resolv.conf points into a directory
    // that will be masked (the systemd-resolved stub), take the upstream
    // servers systemd-resolved lists; otherwise the host's file stays.
    let target =
        fs::canonicalize("/etc/resolv.conf").unwrap_or_else(|_| PathBuf::from("/etc/resolv.conf"));
    let into_masked = RESOLVER_SOCKET_DIRS
        .iter()
        .any(|dir| target.starts_with(resolve_dir(dir)));
    let upstream = if into_masked {
        "/run/systemd/resolve/resolv.conf"
    } else {
        "/etc/resolv.conf"
    };
    let text = fs::read_to_string(upstream).unwrap_or_default();
    let servers = nameservers(&text);
    if servers.is_empty() || only_local(&servers) {
        log::warn(
            "the profile has no DNS and the host knows only a local resolver: names will not resolve inside (add `DNS = ...` to the profile)",
        );
    } else {
        log::warn(
            "the profile has no DNS: using the host's name servers through the tunnel, not the VPN's (add `DNS = ...` to the profile)",
        );
    }
    DnsPlan {
        resolv_conf: into_masked.then_some(text),
    }
}

/// The `nameserver` entries of resolv.conf text.
pub fn nameservers(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .collect()
}

/// True when every server is a local stub (127.x, ::1), out of reach inside.
pub fn only_local(servers: &[&str]) -> bool {
    servers.iter().all(|s| s.starts_with("127.") || *s == "::1")
}

fn resolve_dir(dir: &str) -> PathBuf {
    fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir))
}

/// Masks the resolver sockets with empty directories and makes PROG's
/// /etc/resolv.conf the planned one, for PROG's whole life: an overlay on
/// /etc whose upper layer holds our resolv.conf, so a host that renames a new
/// file over its own (or whose resolv.conf is a symlink into a masked
/// directory) changes only the lower layer. Where the kernel refuses the
/// overlay — anything mounted under /etc, as in containers (/etc/hosts,
/// /etc/resolv.conf bind-mounted), is locked in a user namespace, and an
/// overlay would uncover what lies beneath — /etc becomes a directory of
/// links into the host's (see `etc_links`). `scratch` is an unused path in
/// a directory of the user's; it exists only while mounting.
pub fn setup_dns(plan: &DnsPlan, scratch: &Path) -> Result<()> {
    let mut masked = Vec::new();
    for dir in RESOLVER_SOCKET_DIRS {
        let real = resolve_dir(dir);
        if real.is_dir() && !masked.contains(&real) {
            mask_dir(&real, false)?;
            masked.push(real);
        }
    }
    let Some(text) = &plan.resolv_conf else {
        return Ok(());
    };
    fs::create_dir(scratch)
        .map_err(|e| Error::sys(format_args!("create {}", scratch.display()), e))?;
    let result = overlay_etc(text, scratch).or_else(|_| {
        let _ = rustix::mount::unmount(scratch, UnmountFlags::DETACH);
        etc_links(text, scratch)
    });
    let _ = rustix::mount::unmount(scratch, UnmountFlags::DETACH);
    let _ = fs::remove_dir(scratch);
    result
}

/// Where the host's /etc stays visible inside when /etc is links.
pub const HOST_ETC: &str = ".wg-wrap-host";

/// /etc as a read-only tmpfs holding our resolv.conf and, for every other
/// entry of the host's /etc, a link to it: the host's whole /etc tree (its
/// bind mounts included) is bound at /etc/.wg-wrap-host. A link follows the
/// host's name, so files the host replaces stay current; the host's own
/// links are copied as they are (relative ones resolve from /etc as on the
/// host). An entry the host adds to /etc later does not appear.
fn etc_links(text: &str, scratch: &Path) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| {
        Error::sys(
            format_args!("put the profile's resolv.conf in /etc ({what})"),
            e,
        )
    };
    rustix::mount::mount_bind_recursive("/etc", scratch)
        .map_err(|e| fail("bind the host's /etc", e.into()))?;
    mask_dir(Path::new("/etc"), false)?;
    let host = Path::new("/etc").join(HOST_ETC);
    fs::create_dir(&host).map_err(|e| fail("make the link target", e))?;
    rustix::mount::mount_move(scratch, &host)
        .map_err(|e| fail("move the host's /etc", e.into()))?;
    let entries = fs::read_dir(&host).map_err(|e| fail("read the host's /etc", e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == "resolv.conf" {
            continue;
        }
        let link = Path::new("/etc").join(&name);
        let target = match fs::read_link(entry.path()) {
            Ok(target) => target,
            Err(_) => Path::new(HOST_ETC).join(&name),
        };
        std::os::unix::fs::symlink(&target, &link).map_err(|e| fail("link an entry", e))?;
    }
    fs::write("/etc/resolv.conf", text).map_err(|e| fail("write resolv.conf", e))?;
    rustix::mount::mount_remount(
        "/etc",
        MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
        "",
    )
    .map_err(|e| fail("make it read-only", e.into()))
}

fn overlay_etc(text: &str, scratch: &Path) -> Result<()> {
    mask_dir(scratch, false)?;
    let (upper, work) = (scratch.join("upper"), scratch.join("work"));
    for dir in [&upper, &work] {
        fs::create_dir(dir).map_err(|e| Error::sys(format_args!("create {}", dir.display()), e))?;
    }
    let file = upper.join("resolv.conf");
    fs::write(&file, text).map_err(|e| Error::sys(format_args!("write {}", file.display()), e))?;
    let options = format!(
        "lowerdir=/etc,upperdir={},workdir={},userxattr",
        upper.display(),
        work.display()
    );
    let options = std::ffi::CString::new(options)
        .map_err(|_| Error::new("runtime directory path contains a NUL byte"))?;
    rustix::mount::mount(
        "wg-wrap",
        "/etc",
        "overlay",
        MountFlags::NOSUID | MountFlags::NODEV,
        options.as_c_str(),
    )
    .map_err(|e| {
        Error::sys("put the profile's resolv.conf over /etc", e)
            .hint("the kernel needs overlayfs in user namespaces (Linux 5.11 or later)")
    })
}

/// `NS_GET_PARENT` (linux/nsfs.h): a namespace's parent, as a new fd.
struct GetParent;

// SAFETY: NS_GET_PARENT takes no argument and writes no user memory; its
// return value is a new descriptor that nothing else owns.
unsafe impl rustix::ioctl::Ioctl for GetParent {
    type Output = rustix::fd::OwnedFd;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> rustix::ioctl::Opcode {
        rustix::ioctl::opcode::none(0xb7, 2)
    }

    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        std::ptr::null_mut()
    }

    unsafe fn output_from_ptr(
        out: rustix::ioctl::IoctlOutput,
        _: *mut std::ffi::c_void,
    ) -> rustix::io::Result<Self::Output> {
        // SAFETY: a successful NS_GET_PARENT returns a fresh descriptor.
        Ok(unsafe { rustix::fd::FromRawFd::from_raw_fd(out) })
    }
}

/// Whether process `pid`'s user namespace is a child of this process's own:
/// one made from here, as wg-unshare makes them, and not one nested inside
/// (which is all a program inside a wg-wrap namespace can make).
pub fn userns_is_child(pid: u32) -> bool {
    let theirs = rustix::fs::open(
        format!("/proc/{pid}/ns/user"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    );
    let Ok(theirs) = theirs else {
        return false;
    };
    // SAFETY: see `GetParent`.
    let parent = unsafe { rustix::ioctl::ioctl(&theirs, GetParent) };
    let (Ok(parent), Ok(ours)) = (parent, rustix::fs::stat("/proc/self/ns/user")) else {
        return false;
    };
    rustix::fs::fstat(&parent).is_ok_and(|p| p.st_ino == ours.st_ino && p.st_dev == ours.st_dev)
}

/// /sys/class/net and /sys/devices/virtual/net as this network namespace
/// has them (lo, wg0), not the host's: from a sysfs mounted here (sysfs
/// shows the network namespace of whoever mounts it). Best effort: where
/// the kernel refuses, the host's stay (nothing there reaches the network).
pub fn own_sysfs_net(scratch: &Path) {
    if fs::create_dir(scratch).is_err() {
        return;
    }
    if rustix::mount::mount(
        "sysfs",
        scratch,
        "sysfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        c"",
    )
    .is_ok()
    {
        for dir in ["class/net", "devices/virtual/net"] {
            let _ = rustix::mount::mount_bind(scratch.join(dir), Path::new("/sys").join(dir));
        }
        let _ = rustix::mount::unmount(scratch, UnmountFlags::DETACH);
    }
    let _ = fs::remove_dir(scratch);
}
