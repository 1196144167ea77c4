//! Runtime state: everything under the runtime directory,
//! `$XDG_RUNTIME_DIR/wg-wrap/` (0700):
//! - `registry`: `live/PID` for every running engine, `pins/NAME` for
//!   pinned namespaces;
//! - `status`: the engines' status sockets, `engine-PID.sock`, and their
//!   protocol (both sides);
//! - `listing`: a live namespace as `wg-wrap status` and `wg-pin --list`
//!   show it.
//!
//! This file finds the directory.
//! Without XDG_RUNTIME_DIR (cron, sudo): `/run/user/$UID/wg-wrap` if
//! `/run/user/$UID` exists, else `/tmp/wg-wrap-$UID`. A program inside
//! cannot move either away (it sees the directory read-only, and cannot
//! rename /run/user or /tmp), which it could do to a directory in its HOME.
//! If another user has taken `/tmp/wg-wrap-$UID` first, `wg-wrap-runtime`
//! in the user's cache directory (`$XDG_CACHE_HOME`, `~/.cache`) is used.
//! Whatever the place, it is refused unless it is a real directory owned
//! by the caller.

pub mod listing;
pub mod registry;
pub mod status;

use crate::error::{Error, Result};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Finds (and creates) this user's runtime directory.
pub fn dir() -> Result<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(base) if base.is_absolute() => base.join("wg-wrap"),
        _ => {
            let run_user = PathBuf::from(format!("/run/user/{uid}"));
            if run_user.is_dir() {
                run_user.join("wg-wrap")
            } else {
                if let Some(tmp) = shared_fallback() {
                    return Ok(tmp);
                }
                cache_dir()?.join("wg-wrap-runtime")
            }
        }
    };
    private(&dir)?;
    Ok(dir)
}

/// The shared fallback, `/tmp/wg-wrap-$UID`, made (0700) if missing; None
/// when it is not a directory of this user's. A program inside sees it
/// read-only (see `ns::prog_view`), so that it cannot plant a registry
/// there for a later run of the user's without XDG_RUNTIME_DIR.
pub fn shared_fallback() -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let tmp = PathBuf::from(format!("/tmp/wg-wrap-{uid}"));
    crate::files::private_dir(&tmp, "runtime directory", crate::files::Links::Refuse)
        .ok()
        .map(|()| tmp)
}

/// Every runtime directory this user may have, that exists and is theirs
/// (whichever environment made a namespace, its entry is in one of them).
pub fn known_dirs() -> Vec<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let mut dirs = Vec::new();
    if let Some(base) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        dirs.push(base.join("wg-wrap"));
    }
    dirs.push(PathBuf::from(format!("/run/user/{uid}/wg-wrap")));
    dirs.push(PathBuf::from(format!("/tmp/wg-wrap-{uid}")));
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    dirs.extend(cache.map(|c| c.join("wg-wrap-runtime")));
    dirs.retain(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir() && m.uid() == uid));
    dirs.dedup();
    dirs
}

/// `$XDG_CACHE_HOME`, else `$HOME/.cache` (made 0700 if missing).
fn cache_dir() -> Result<PathBuf> {
    let absolute = |var| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let cache = absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .ok_or_else(|| {
            Error::new("cannot find a runtime directory: neither XDG_RUNTIME_DIR nor HOME is set")
                .hint("set XDG_RUNTIME_DIR to a directory of yours")
        })?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cache)
        .map_err(|e| {
            Error::sys(format_args!("create {}", cache.display()), e)
                .hint("set XDG_RUNTIME_DIR to a directory of yours")
        })?;
    Ok(cache)
}

/// The runtime directory made private, or why not (with what to do).
pub fn private(dir: &Path) -> Result<()> {
    crate::files::private_dir(dir, "runtime directory", crate::files::Links::Refuse)
        .map_err(|e| e.hint("remove it, or set XDG_RUNTIME_DIR to a directory of yours"))
}
