//! wg-wrap: the whole flow in one command (the alias for the chain).

use crate::man::{CHAIN_EXIT, Extra, FILES};
use argh::{ArgsInfo, FromArgs};
use std::ffi::OsString;
use wg_wrap::chain::argv::{self, Wrap};
use wg_wrap::{Error, chain, pin, live};

/// Run PROG through the WireGuard tunnel of PROFILE, in namespaces of its own:
/// `wg-wrap [options] PROFILE [--] PROG [ARGS...]` executes
/// `wg-unshare PROFILE wg-up wg-exec PROG...`. PROFILE is a stored profile's
/// name or a .conf file. `wg-wrap --join NAME [--] PROG...` runs PROG in
/// pinned namespace NAME.
#[derive(FromArgs, ArgsInfo)]
pub struct Args {
    /// keep the namespace after PROG exits, pinned as NAME (see wg-pin)
    #[argh(option, arg_name = "NAME")]
    pin: Option<String>,
    /// run PROG in the namespace pinned as NAME
    #[argh(option, arg_name = "NAME")]
    join: Option<String>,
    /// be uid 0 inside (default: your own uid)
    #[argh(switch)]
    map_root: bool,
    /// give PROG the host's session bus unfiltered: it can then start
    /// programs outside the tunnel (default: a filtered bus)
    #[argh(switch)]
    host_session_bus: bool,
    /// make HOSTADDR:HOSTPORT on the host reach PORT inside (repeatable;
    /// [HOSTADDR:]HOSTPORT:PORT[/tcp|/udp], HOSTADDR 127.0.0.1 by default)
    #[argh(option, arg_name = "SPEC")]
    publish: Vec<String>,
    /// seconds to wait for the first handshake (default 5; 0: do not wait)
    #[argh(option, arg_name = "S")]
    handshake_timeout: Option<u64>,
    /// print nothing but errors
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// tell what is being done
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// PROFILE, then PROG with its arguments
    #[argh(positional, greedy, arg_name = "PROFILE -- PROG")]
    rest: Vec<String>,
}

pub const MAN: Extra = Extra {
    name: "run one program through a WireGuard VPN, without root",
    synopsis: "wg-wrap [OPTION...] PROFILE [--] PROG [ARG...]\nwg-wrap --join NAME [--] PROG [ARG...]\nwg-wrap status [NAME]\nwg-wrap doctor\nwg-wrap APPLET [ARG...]",
    exit: CHAIN_EXIT,
    environment: "XDG_CONFIG_HOME, XDG_RUNTIME_DIR and HOME locate the profiles and the runtime directory.",
    files: FILES,
    examples: "wg-wrap work -- curl https://example.com/\nwg-wrap work -- firefox --no-remote -P vpn\nwg-wrap --pin dl work -- true\nwg-wrap --join dl -- bash\nwg-wrap status\nwg-wrap doctor",
};

pub fn main(name: &str, opts: Args, args: &[OsString]) -> Result<u8, Error> {
    let rest = crate::cli::tail(args, opts.rest.len());
    if let Some(pin_name) = &opts.join {
        let prog = chain::strip_dashes(rest);
        if prog.is_empty() {
            return Err(Error::new("missing PROG").hint(format!("e.g. `{name} --join {pin_name} -- curl https://example.com`")));
        }
        return go_on(argv::join(pin_name, &prog));
    }
    let Some((first, tail)) = rest.split_first() else {
        return Err(Error::new("missing PROFILE").hint(format!("try '{name} --help'")));
    };
    let wanted = first.to_string_lossy();
    if crate::find(&wanted).is_some() || crate::words::find(&wanted).is_some() {
        return Err(Error::new(format!("\"{wanted}\" after options is taken as PROFILE"))
            .hint(format!("give it first: `{name} {wanted} ...`")));
    }
    if let Some(option) = tail.first().filter(|a| *a != "--" && a.to_string_lossy().starts_with('-')) {
        return Err(Error::new(format!("{} after PROFILE is taken as PROG", option.to_string_lossy()))
            .hint(format!("options go before PROFILE: `{name} {} {wanted} -- PROG`", option.to_string_lossy())));
    }
    let prog = chain::strip_dashes(tail.to_vec());
    if prog.is_empty() {
        if let Some(pin_name) = &opts.pin {
            return Err(Error::new("missing PROFILE or PROG").hint(format!(
                "--pin takes the pin's name, then comes PROFILE: `{name} --pin NAME {pin_name} -- {wanted}`"
            )));
        }
        return Err(Error::new("missing PROG").hint(format!("e.g. `{name} {wanted} -- curl https://example.com`")));
    }
    if opts.quiet || opts.verbose {
        chain::VERBOSITY.set(if opts.quiet { "0" } else { "2" });
    }
    if let Some(pin_name) = &opts.pin {
        let runtime = live::dir()?;
        pin::check_pin_name(pin_name)?;
        if let Ok(entry) = pin::find(pin_name, &runtime) {
            return Err(Error::new(format!(
                "\"{pin_name}\" is already pinned (engine {}, profile {})",
                entry.engine_pid, entry.profile
            ))
            .hint(format!("join it with `wg-wrap --join {pin_name} -- PROG`, or remove it with `wg-pin --remove {pin_name}`")));
        }
    }
    let wrap = Wrap {
        profile: first.clone(),
        map_root: opts.map_root,
        host_session_bus: opts.host_session_bus,
        publish: opts.publish,
        handshake_timeout: opts.handshake_timeout,
        pin: opts.pin,
        prog,
    };
    go_on(wrap.argv())
}

/// Goes on as the chain's first link in this very process: the alias only
/// builds the chain, and executing it afresh would cost a millisecond of
/// start-up (busybox's "prefer applets"). Every later link is executed.
fn go_on(chain: Vec<OsString>) -> Result<u8, Error> {
    let mut chain = chain.into_iter();
    let first = chain.next().unwrap_or_default();
    let applet = crate::find(&first.to_string_lossy())
        .ok_or_else(|| Error::new(format!("no applet {first:?}")))?;
    Ok(crate::run(applet, chain.collect()))
}
