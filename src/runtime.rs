//! The runtime directory: `$XDG_RUNTIME_DIR/wg-wrap/` (0700).
//!
//! Without XDG_RUNTIME_DIR (cron, sudo): `/run/user/$UID/wg-wrap` if
//! `/run/user/$UID` exists, else `/tmp/wg-wrap-$UID`. A program inside
//! cannot move either away (it sees the directory read-only, and cannot
//! rename /run/user or /tmp), which it could do to a directory in its HOME.
//! If another user has taken `/tmp/wg-wrap-$UID` first, `wg-wrap-runtime`
//! in the user's cache directory (`$XDG_CACHE_HOME`, `~/.cache`) is used.
//! Whatever the place, it is refused unless it is a real directory owned
//! by the caller.

use crate::error::{Error, Result};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
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
    ensure_private(&dir, uid)?;
    Ok(dir)
}

/// The shared fallback, `/tmp/wg-wrap-$UID`, made (0700) if missing; None
/// when it is not a directory of this user's. A program inside sees it
/// read-only (see `ns::prog_view`), so that it cannot plant a registry
/// there for a later run of the user's without XDG_RUNTIME_DIR.
pub fn shared_fallback() -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let tmp = PathBuf::from(format!("/tmp/wg-wrap-{uid}"));
    ensure_private(&tmp, uid).ok().map(|()| tmp)
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

/// Creates `dir` 0700, or checks an existing one is a real directory of ours.
pub fn ensure_private(dir: &Path, uid: u32) -> Result<()> {
    let fail = |e| Error::sys(format_args!("use runtime directory {}", dir.display()), e);
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(fail(e).hint("set XDG_RUNTIME_DIR to a directory of yours"));
        }
        Err(_) => {}
    }
    let meta = std::fs::symlink_metadata(dir).map_err(fail)?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(Error::new(format!(
            "cannot use runtime directory {}: not a directory owned by you",
            dir.display()
        ))
        .hint("remove it, or set XDG_RUNTIME_DIR to a directory of yours"));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}
