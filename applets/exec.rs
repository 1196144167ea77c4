//! wg-exec: the last link.

use crate::man::{CHAIN_EXIT, Extra};
use argh::{ArgsInfo, FromArgs};
use rustix::fd::AsRawFd;
use rustix::fs::{Mode, OFlags};
use std::ffi::OsString;
use std::path::PathBuf;
use wg_wrap::{Error, caps, chain, guard, ns, pin, live, tunnel};

/// Run PROG in this wg-wrap namespace (or, with --join, in pinned namespace
/// NAME) with no privileges: every WG_WRAP_* variable removed, every fd but
/// 0, 1 and 2 closed, every capability dropped, the runtime directory (the
/// pins) read-only; then execute into PROG (found on PATH).
#[derive(FromArgs, ArgsInfo)]
pub struct Args {
    /// first enter the namespaces pinned as NAME
    #[argh(option, arg_name = "NAME")]
    join: Option<String>,
    /// PROG and its arguments
    #[argh(positional, greedy, arg_name = "PROG")]
    rest: Vec<String>,
}


pub const MAN: Extra = Extra {
    name: "run PROG without privileges in a wg-wrap namespace (last link)",
    synopsis: "wg-exec [--] PROG [ARG...]\nwg-exec --join NAME [--] PROG [ARG...]",
    exit: CHAIN_EXIT,
    environment: "",
    files: "$XDG_RUNTIME_DIR/wg-wrap/pins/NAME, read by --join.",
    examples: "wg-exec --join dl -- bash",
};

pub fn main(_: &str, opts: Args, args: &[OsString]) -> Result<u8, Error> {
    let prog = chain::strip_dashes(crate::cli::tail(args, opts.rest.len()));
    if opts.join.is_some() {
        // The first link of a join: nothing of a chain comes from the caller.
        chain::vars::clear_inherited();
    }
    let runtime = live::dir()?;
    match &opts.join {
        Some(pin_name) => pin::join(pin_name, &runtime)?,
        None => tunnel::check_live()?,
    }
    // Pinned by wg-pin just now: if PROG cannot run, nothing asked for the pin.
    let just_pinned = chain::PIN.get();
    // The runtime directory as it is before PROG's read-only view: the way
    // to remove that pin should PROG not run.
    let writable = rustix::fs::open(
        &runtime,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(format_args!("open {}", runtime.display()), e))?;
    ns::prog_view(&runtime)?;
    // Handed over by wg-up, which waited for no handshake.
    if let Some(report) = chain::ENGINE_FD.take_fd_if_set()? {
        wg_wrap::engine::await_ready(report)?;
    }
    guard::restore_for_prog();
    let name = (opts.join.clone())
        .or_else(|| chain::PIN.get())
        .or_else(|| chain::PROFILE.get());
    if let Some(name) = name {
        chain::NAMESPACE.set(name);
    }
    chain::vars::clear();
    wg_wrap::process::cloexec_all_but_stdio()?;
    caps::drop_all_for_prog()?;
    let err = chain::exec_prog(&prog);
    if let Some(pin_name) = just_pinned {
        let writable = PathBuf::from(format!("/proc/self/fd/{}", writable.as_raw_fd()));
        let _ = pin::remove(&pin_name, &writable);
    }
    Err(err)
}
