//! wg-exec: the last link.

use crate::cli::{self, Parsed};
use argh::FromArgs;
use rustix::fd::AsRawFd;
use rustix::fs::{Mode, OFlags};
use std::ffi::OsString;
use std::path::PathBuf;
use wg_wrap::{Error, caps, chain, guard, ns, pin, runtime, tunnel};

/// Run PROG in this wg-wrap namespace (or, with --join, in pinned namespace
/// NAME) with no privileges: every WG_WRAP_* variable removed, every fd but
/// 0, 1 and 2 closed, every capability dropped, the runtime directory (the
/// pins) read-only; then execute into PROG (found on PATH).
#[derive(FromArgs)]
pub struct Args {
    /// first enter the namespaces pinned as NAME
    #[argh(option, arg_name = "NAME")]
    join: Option<String>,
    /// PROG and its arguments
    #[argh(positional, greedy, arg_name = "PROG")]
    rest: Vec<String>,
}

pub fn main(name: &str, args: Vec<OsString>) -> Result<u8, Error> {
    let Parsed::Run(opts) = cli::parse::<Args>(name, &args)? else {
        return Ok(0);
    };
    let prog = chain::strip_dashes(cli::tail(&args, opts.rest.len()));
    let runtime = runtime::dir()?;
    match &opts.join {
        Some(pin_name) => pin::join(pin_name, &runtime)?,
        None => tunnel::check_live()?,
    }
    // Pinned by wg-pin just now: if PROG cannot run, nothing asked for the pin.
    let just_pinned = std::env::var(chain::PIN).ok();
    // The runtime directory as it is before PROG's read-only view: the way
    // to remove that pin should PROG not run.
    let writable = rustix::fs::open(
        &runtime,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(format_args!("open {}", runtime.display()), e))?;
    ns::prog_view(&runtime)?;
    guard::restore_for_prog();
    let name = (opts.join.clone())
        .or_else(|| std::env::var(chain::PIN).ok())
        .or_else(|| std::env::var(chain::PROFILE).ok());
    if let Some(name) = name {
        chain::set(chain::NAMESPACE, name);
    }
    chain::clear_vars();
    chain::cloexec_all_but_stdio()?;
    caps::drop_all_for_prog()?;
    let err = chain::exec_prog(&prog);
    if let Some(pin_name) = just_pinned {
        let writable = PathBuf::from(format!("/proc/self/fd/{}", writable.as_raw_fd()));
        let _ = pin::remove(&pin_name, &writable);
    }
    Err(err)
}
