//! The links that hold a key (wg-unshare, wg-up, the engine): no core dump
//! and no ptrace or /proc/PID/mem for a program of the same uid.
//!
//! Non-dumpable alone still dumps where `fs.suid_dumpable` is 2 (as root's
//! file or into a core handler): RLIMIT_CORE is lowered to 0 as well. PROG
//! gets the caller's limit back from wg-exec.

use crate::chain;
use crate::error::{Error, Result};
use rustix::process::{DumpableBehavior, Resource, Rlimit, getrlimit, setrlimit};

/// Guards this process (`who` names it in errors) until it execs or ends.
/// The first link records the caller's core limit for PROG.
pub fn hold_keys(who: &str) -> Result<()> {
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .map_err(|e| Error::sys(format_args!("make {who} non-dumpable"), e))?;
    let limit = getrlimit(Resource::Core);
    if !chain::CORE_LIMIT.is_set() {
        let text = limit
            .current
            .map_or_else(|| "unlimited".into(), |n| n.to_string());
        chain::CORE_LIMIT.set(text);
    }
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: limit.maximum,
        },
    )
    .map_err(|e| Error::sys(format_args!("disable core dumps of {who}"), e))
}

/// Gives PROG the core limit the caller had (wg-exec, before the exec).
pub fn restore_for_prog() {
    let Some(text) = chain::CORE_LIMIT.get() else {
        return;
    };
    let current = match text.as_str() {
        "unlimited" => None,
        n => match n.parse() {
            Ok(n) => Some(n),
            Err(_) => return,
        },
    };
    let maximum = getrlimit(Resource::Core).maximum;
    let _ = setrlimit(Resource::Core, Rlimit { current, maximum });
}
