//! `wg-wrap doctor`: checks what wg-wrap needs of the host, and explains.

use crate::live;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but something is worth knowing.
    Note,
    /// wg-wrap cannot work until this is fixed.
    Fail,
}

pub struct Check {
    pub verdict: Verdict,
    pub what: &'static str,
    /// What was found, and (for Note and Fail) what to do.
    pub text: String,
}

impl Check {
    fn new(verdict: Verdict, what: &'static str, text: impl Into<String>) -> Check {
        Check {
            verdict,
            what,
            text: text.into(),
        }
    }

    /// `ok    user namespaces: allowed`
    pub fn line(&self) -> String {
        let tag = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Note => "note",
            Verdict::Fail => "FAIL",
        };
        format!("{tag}  {}: {}", self.what, self.text)
    }
}

/// Every check, in the order a user would fix them.
pub fn run() -> Vec<Check> {
    vec![
        user_namespaces(),
        tun(),
        runtime_dir(),
        resolv_conf(),
        etc_mounts(),
        session_bus(),
        tool("wireguard-go"),
        tool("wg"),
    ]
}

/// Tries the real thing in a child process (unshare needs a single thread,
/// and must not change this process).
fn try_unshare_user() -> Result<(), rustix::io::Errno> {
    let child = || {
        // SAFETY: the child is single-threaded (just forked) and only
        // unshares before it ends.
        match unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER) } {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().clamp(1, 255),
        }
    };
    let pid = crate::process::fork("a user namespace test", child)
        .map_err(|_| rustix::io::Errno::AGAIN)?;
    match crate::process::wait(pid) {
        0 => Ok(()),
        code => Err(rustix::io::Errno::from_raw_os_error(code)),
    }
}

fn user_namespaces() -> Check {
    const WHAT: &str = "user namespaces";
    let Err(errno) = try_unshare_user() else {
        return Check::new(Verdict::Ok, WHAT, "allowed");
    };
    let cause = crate::error::cause(&errno.into());
    let fix = crate::fixes::userns();
    Check::new(
        Verdict::Fail,
        WHAT,
        format!("cannot create one: {cause} ({fix})"),
    )
}

fn tun() -> Check {
    const WHAT: &str = "/dev/net/tun";
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        Ok(_) => Check::new(Verdict::Ok, WHAT, "readable and writable"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::new(
            Verdict::Fail,
            WHAT,
            format!("missing ({})", crate::fixes::tun_missing()),
        ),
        Err(e) => Check::new(
            Verdict::Fail,
            WHAT,
            format!(
                "{} ({})",
                crate::error::cause(&e),
                crate::fixes::tun_denied()
            ),
        ),
    }
}

fn runtime_dir() -> Check {
    const WHAT: &str = "runtime directory";
    let set = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| !d.is_empty());
    match live::dir() {
        Ok(dir) if set => Check::new(Verdict::Ok, WHAT, dir.display().to_string()),
        Ok(dir) => Check::new(
            Verdict::Note,
            WHAT,
            format!("XDG_RUNTIME_DIR is not set; using {}", dir.display()),
        ),
        Err(e) => Check::new(Verdict::Fail, WHAT, e.to_string()),
    }
}

fn resolv_conf() -> Check {
    const WHAT: &str = "/etc/resolv.conf";
    let target = std::fs::canonicalize("/etc/resolv.conf").ok();
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers = crate::ns::nameservers(&text);
    if target
        .as_deref()
        .is_some_and(|t| t.starts_with("/run/systemd/resolve"))
    {
        return Check::new(
            Verdict::Note,
            WHAT,
            "points to systemd-resolved's stub: inside, the profile's DNS is used; a profile without DNS uses the upstream servers in /run/systemd/resolve/resolv.conf",
        );
    }
    if servers.is_empty() {
        return Check::new(
            Verdict::Note,
            WHAT,
            "lists no name server: give every profile a `DNS =` line",
        );
    }
    if crate::ns::only_local(&servers) {
        return Check::new(
            Verdict::Note,
            WHAT,
            "lists only a local resolver, which is out of reach inside: give every profile a `DNS =` line",
        );
    }
    Check::new(
        Verdict::Ok,
        WHAT,
        format!("name servers {}", servers.join(", ")),
    )
}

/// Mounts under /etc (a container's bind-mounted files): wg-wrap then shows
/// /etc inside as links (see `ns::setup_dns`).
fn etc_mounts() -> Check {
    const WHAT: &str = "/etc";
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let below: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with("/etc/"))
        .collect();
    if below.is_empty() {
        return Check::new(Verdict::Ok, WHAT, "nothing mounted under it");
    }
    Check::new(
        Verdict::Note,
        WHAT,
        format!(
            "{} mounted under it (a container's layout): inside, /etc is read-only links into this one, with the profile's resolv.conf",
            below.join(", ")
        ),
    )
}

/// The session bus the program will get.
fn session_bus() -> Check {
    const WHAT: &str = "session bus";
    match crate::services::proxy_binary() {
        Some(proxy) => Check::new(
            Verdict::Ok,
            WHAT,
            format!("filtered inside by {}", proxy.display()),
        ),
        None => Check::new(
            Verdict::Note,
            WHAT,
            format!(
                "{} is not installed: programs inside get no session bus (install it for a filtered one)",
                crate::services::PROXY
            ),
        ),
    }
}

/// Optional tools, found on PATH.
fn tool(name: &'static str) -> Check {
    let found = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or(None);
    match found {
        Some(path) => Check::new(Verdict::Ok, name, path.display().to_string()),
        None => Check::new(
            Verdict::Note,
            name,
            "not found (optional: a WireGuard peer for testing, from wireguard-go / wireguard-tools)",
        ),
    }
}
