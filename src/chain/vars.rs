//! Every variable the chain sets, declared once: who sets it, who reads it,
//! who unsets it. The man pages' ENVIRONMENT sections are made from this
//! table, and wg-exec removes whatever of it is left before PROG runs.
//!
//! A variable either names an inherited descriptor (`fd`) or carries text;
//! none carries a secret (keys travel only in the sealed memfd of
//! `CONF_FD`).

use crate::error::{Error, Result};
use rustix::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use rustix::io::{FdFlags, fcntl_getfd, fcntl_setfd};
use std::ffi::OsStr;

/// One variable of the chain.
#[derive(Debug)]
pub struct Var {
    pub name: &'static str,
    /// The links that set it.
    pub set_by: &'static [&'static str],
    /// The links (or PROG) that read it.
    pub read_by: &'static [&'static str],
    /// The link that unsets it once read ("" for PROG's own variable).
    pub unset_by: &'static str,
    /// It names an inherited descriptor.
    pub fd: bool,
    /// What it holds, for the man pages.
    pub what: &'static str,
}

/// Prefix of every chain variable; wg-exec removes them all before PROG runs.
pub const PREFIX: &str = "WG_WRAP_";

macro_rules! vars {
    ($($(#[$doc:meta])* $id:ident = $name:literal {
        set: [$($set:literal),*], read: [$($read:literal),*], unset: $unset:literal, fd: $fd:literal, what: $what:literal
    })*) => {
        $($(#[$doc])* pub const $id: Var = Var {
            name: $name,
            set_by: &[$($set),*],
            read_by: &[$($read),*],
            unset_by: $unset,
            fd: $fd,
            what: $what,
        };)*
        /// The whole table, in the order the chain sets them.
        pub const ALL: &[Var] = &[$($id),*];
    };
}

vars! {
    VERBOSITY = "WG_WRAP_VERBOSITY" {
        set: ["wg-wrap"], read: ["wg-unshare", "wg-up", "wg-pin", "wg-exec"], unset: "wg-exec", fd: false,
        what: "0 quiet, 1 default, 2 verbose, from -q and -v"
    }
    CORE_LIMIT = "WG_WRAP_CORE_LIMIT" {
        set: ["wg-unshare"], read: ["wg-exec"], unset: "wg-exec", fd: false,
        what: "the caller's core-file limit, lowered to 0 while keys are held and given back to PROG"
    }
    UDP_FD = "WG_WRAP_UDP_FD" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: true,
        what: "the UDP socket bound in the host's network namespace"
    }
    CONF_FD = "WG_WRAP_CONF_FD" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: true,
        what: "a sealed memfd holding the profile, endpoints resolved and the MTU chosen"
    }
    PROFILE = "WG_WRAP_PROFILE" {
        set: ["wg-unshare"], read: ["wg-up", "wg-pin", "wg-exec"], unset: "wg-exec", fd: false,
        what: "the profile's name or path, for the registry"
    }
    STORE = "WG_WRAP_STORE" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: false,
        what: "the profile store wg-unshare hid, DEV:INODE:PATH"
    }
    LOCK_FD = "WG_WRAP_LOCK_FD" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: true,
        what: "the lock on the profile's identity, held by the engine until it is registered"
    }
    HOST_BUS = "WG_WRAP_HOST_BUS" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: false,
        what: "set when PROG gets the host's session bus (--host-session-bus), for the registry"
    }
    BUS_FD = "WG_WRAP_BUS_FD" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: true,
        what: "the session bus proxy's lifeline, kept by the engine"
    }
    PUBLISH = "WG_WRAP_PUBLISH" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: false,
        what: "the published ports' host sockets, FD:PROTO:PORT,..."
    }
    RESOLVER_FD = "WG_WRAP_RESOLVER_FD" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: true,
        what: "the host-side endpoint resolver"
    }
    RESOLVER_PEERS = "WG_WRAP_RESOLVER_PEERS" {
        set: ["wg-unshare"], read: ["wg-up"], unset: "wg-up", fd: false,
        what: "the peers (indices) whose endpoints are names"
    }
    NETNS_FD = "WG_WRAP_NETNS_FD" {
        set: ["wg-unshare"], read: ["wg-pin"], unset: "wg-pin", fd: true,
        what: "as real root, the helper that binds /run/netns/NAME"
    }
    ENGINE_PID = "WG_WRAP_ENGINE_PID" {
        set: ["wg-up", "wg-unshare"], read: ["wg-pin", "wg-exec"], unset: "wg-exec", fd: false,
        what: "the engine serving this namespace; wg-unshare sets it when it joins a live one"
    }
    ENGINE_FD = "WG_WRAP_ENGINE_FD" {
        set: ["wg-up"], read: ["wg-exec"], unset: "wg-exec", fd: true,
        what: "the engine's report pipe, when wg-up waits for no handshake: PROG runs once the engine says it is ready"
    }
    IFACE = "WG_WRAP_IFACE" {
        set: ["wg-up", "wg-unshare"], read: ["wg-exec"], unset: "wg-exec", fd: false,
        what: "the TUN interface's name"
    }
    PIN = "WG_WRAP_PIN" {
        set: ["wg-pin"], read: ["wg-exec"], unset: "wg-exec", fd: false,
        what: "the name just pinned, removed again when PROG cannot be executed"
    }
    NAMESPACE = "WGWRAP_NAMESPACE" {
        set: ["wg-exec"], read: ["PROG"], unset: "", fd: false,
        what: "the pin's or the profile's name, for prompts and scripts; not a chain variable"
    }
}

impl Var {
    /// Its value, if set.
    pub fn get(&self) -> Option<String> {
        std::env::var(self.name).ok()
    }

    pub fn is_set(&self) -> bool {
        std::env::var_os(self.name).is_some()
    }

    /// Sets it for the next links.
    pub fn set(&self, value: impl AsRef<OsStr>) {
        // SAFETY: setting an environment variable is sound while the process
        // has one thread; the chain links never start a thread before they exec.
        unsafe { std::env::set_var(self.name, value) };
    }

    pub fn unset(&self) {
        // SAFETY: see `set`.
        unsafe { std::env::remove_var(self.name) };
    }

    /// Its value, unset: this link is the last to read it.
    pub fn take(&self) -> Option<String> {
        let value = self.get();
        self.unset();
        value
    }

    /// The first link that sets it, for errors.
    fn setter(&self) -> &'static str {
        self.set_by.first().copied().unwrap_or("an earlier link")
    }

    fn missing(&self) -> Error {
        Error::new(format!(
            "{} is not set: {} must run before this link",
            self.name,
            self.setter()
        ))
        .hint("run it as part of a chain, e.g. `wg-wrap PROFILE -- PROG`")
    }

    /// Refuses to go on unless the previous links set it: a link run out of
    /// its chain says so first, before anything about the next link.
    pub fn require(&self) -> Result<()> {
        if self.is_set() {
            Ok(())
        } else {
            Err(self.missing())
        }
    }

    /// Marks `fd` to be passed to the next link under this name.
    pub fn pass_fd(&self, fd: &impl AsFd) -> Result<()> {
        let fd = fd.as_fd();
        let flags = fcntl_getfd(fd).map_err(|e| Error::sys("pass a descriptor on", e))?;
        fcntl_setfd(fd, flags - FdFlags::CLOEXEC)
            .map_err(|e| Error::sys("pass a descriptor on", e))?;
        self.set(fd.as_raw_fd().to_string());
        Ok(())
    }

    /// Takes the descriptor it names: unsets it and marks the descriptor
    /// close-on-exec.
    pub fn take_fd(&self) -> Result<OwnedFd> {
        let value = self.take().ok_or_else(|| self.missing())?;
        let name = self.name;
        let raw: RawFd = value
            .parse()
            .ok()
            .filter(|fd| *fd > 2)
            .ok_or_else(|| Error::new(format!("{name}={value} is not a descriptor number")))?;
        // SAFETY: the fd was handed to us by the previous link, which gave up
        // its own copy when it exec'd; we check it is open before owning it.
        let borrowed = unsafe { rustix::fd::BorrowedFd::borrow_raw(raw) };
        let flags = fcntl_getfd(borrowed).map_err(|e| {
            Error::sys(format_args!("use {name}={value}"), e)
                .hint(format!("{} must run before this link", self.setter()))
        })?;
        fcntl_setfd(borrowed, flags | FdFlags::CLOEXEC)
            .map_err(|e| Error::sys("take a descriptor", e))?;
        // SAFETY: as above: open, and owned by nobody else in this process.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    /// Takes the descriptor if the previous links passed one.
    pub fn take_fd_if_set(&self) -> Result<Option<OwnedFd>> {
        if self.is_set() {
            self.take_fd().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Removes what a caller left of the chain's variables: the first link of a
/// chain reads none of them but VERBOSITY (wg-wrap's -q and -v). A
/// WG_WRAP_ENGINE_FD or WG_WRAP_PIN from outside would otherwise reach the
/// link that reads it wherever no earlier link set it.
pub fn clear_inherited() {
    remove_all_but(Some(VERBOSITY.name));
}

/// Removes every chain variable (`WG_WRAP_*`), whoever set it.
pub fn clear() {
    remove_all_but(None);
}

fn remove_all_but(kept: Option<&str>) {
    let vars: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| {
            k.to_string_lossy().starts_with(PREFIX) && Some(k.as_os_str()) != kept.map(OsStr::new)
        })
        .collect();
    for var in vars {
        // SAFETY: see `Var::set`.
        unsafe { std::env::remove_var(var) };
    }
}

/// What `applet` does with the chain's variables, for its man page: one
/// sentence per verb, each variable with what it holds.
pub fn environment(applet: &str) -> String {
    let list = |vars: Vec<&Var>| -> String {
        let items: Vec<String> = (vars.iter())
            .map(|v| format!("  {}: {}", v.name, v.what))
            .collect();
        items.join("\n")
    };
    let sets: Vec<&Var> = ALL.iter().filter(|v| v.set_by.contains(&applet)).collect();
    let takes: Vec<&Var> = ALL
        .iter()
        .filter(|v| v.read_by.contains(&applet) && v.unset_by == applet)
        .collect();
    let reads: Vec<&Var> = ALL
        .iter()
        .filter(|v| v.read_by.contains(&applet) && v.unset_by != applet)
        .collect();
    let mut sentences = Vec::new();
    if !sets.is_empty() {
        sentences.push(format!("Sets:\n{}", list(sets)));
    }
    if !takes.is_empty() {
        sentences.push(format!("Takes and unsets:\n{}", list(takes)));
    }
    if !reads.is_empty() {
        sentences.push(format!("Reads:\n{}", list(reads)));
    }
    if ALL
        .iter()
        .any(|v| v.unset_by == applet && v.name.starts_with(PREFIX))
        && applet == "wg-exec"
    {
        sentences.push(format!(
            "Removes every {PREFIX}* variable left before PROG runs."
        ));
    }
    sentences.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINKS: &[&str] = &["wg-wrap", "wg-unshare", "wg-up", "wg-pin", "wg-exec"];

    #[test]
    fn every_variable_is_set_read_and_unset_by_known_links_in_order() {
        for var in ALL {
            let chain_var = var.name.starts_with(PREFIX);
            assert_eq!(chain_var, var.name != NAMESPACE.name, "{}", var.name);
            for link in var.set_by {
                assert!(LINKS.contains(link), "{} set by {link}", var.name);
            }
            if !chain_var {
                continue;
            }
            // Read only after it is set, unset by the last reader.
            let first_set = LINKS.iter().position(|l| var.set_by.contains(l)).unwrap();
            for link in var.read_by {
                let at = LINKS.iter().position(|l| l == link).unwrap();
                assert!(
                    at > first_set,
                    "{} read by {link} before it is set",
                    var.name
                );
            }
            let last_read = var.read_by.last().unwrap();
            assert_eq!(&var.unset_by, last_read, "{}", var.name);
        }
    }

    #[test]
    fn the_man_page_environment_says_what_each_link_does() {
        let section = |applet: &str, verb: &str| -> String {
            let text = environment(applet);
            let after = text
                .split(&format!("{verb}:\n"))
                .nth(1)
                .unwrap_or_default()
                .to_string();
            after
                .lines()
                .take_while(|l| l.starts_with("  "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(section("wg-up", "Sets").contains("WG_WRAP_ENGINE_PID"));
        assert!(section("wg-up", "Takes and unsets").contains("WG_WRAP_UDP_FD"));
        assert!(!section("wg-up", "Takes and unsets").contains("WG_WRAP_PROFILE"));
        assert!(section("wg-up", "Reads").contains("WG_WRAP_PROFILE"));
        assert!(section("wg-exec", "Sets").contains("WGWRAP_NAMESPACE"));
        assert!(section("wg-exec", "Takes and unsets").contains("WG_WRAP_PROFILE"));
    }
}
