//! wg-wrap: the whole flow in one command, and the applet dispatcher.

use crate::cli::{self, Parsed};
use argh::FromArgs;
use std::ffi::OsString;
use std::path::PathBuf;
use wg_wrap::registry::Dir;
use wg_wrap::status::Namespace;
use wg_wrap::{Error, chain, install, log, pin, runtime};

/// Run PROG through the WireGuard tunnel of PROFILE, in namespaces of its own:
/// `wg-wrap [options] PROFILE [--] PROG [ARGS...]` executes
/// `wg-unshare PROFILE wg-up wg-exec PROG...`. PROFILE is a stored profile's
/// name or a .conf file. `wg-wrap --join NAME [--] PROG...` runs PROG in
/// pinned namespace NAME; `wg-wrap status [NAME]` lists your live namespaces;
/// `wg-wrap doctor` checks what the host must allow;
/// `wg-wrap APPLET ARGS...` runs wg-APPLET (e.g. `wg-wrap profile list`).
#[derive(FromArgs)]
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
    /// make a symlink to this binary in DIR for every applet
    #[argh(option, arg_name = "DIR")]
    install: Option<PathBuf>,
    /// print the applets' names, one a line
    #[argh(switch)]
    list: bool,
    /// print the man page of APPLET (roff)
    #[argh(option, arg_name = "APPLET")]
    man: Option<String>,
    /// PROFILE and PROG with its arguments, or APPLET and its arguments
    #[argh(positional, greedy, arg_name = "PROFILE -- PROG")]
    rest: Vec<String>,
}

pub fn main(name: &str, args: Vec<OsString>) -> Result<u8, Error> {
    let Parsed::Run(opts) = cli::parse::<Args>(name, &args)? else {
        return Ok(0);
    };
    if let Some(dir) = opts.install {
        for link in install::install_links(&dir, &crate::names())? {
            log::info(format_args!("installed {}", link.display()));
        }
        return Ok(0);
    }
    if let Some(applet) = opts.man {
        let help = crate::help(&applet).ok_or_else(|| {
            Error::new(format!("unknown applet \"{applet}\"")).hint(format!("applets: {}", crate::names().join(", ")))
        })?;
        wg_wrap::log::out(crate::man::page(&applet, &help, env!("CARGO_PKG_VERSION")));
        return Ok(0);
    }
    if opts.list {
        for applet in crate::names() {
            wg_wrap::outln!("{applet}");
        }
        return Ok(0);
    }
    let rest = cli::tail(&args, opts.rest.len());
    if let Some(pin_name) = &opts.join {
        let prog = chain::strip_dashes(rest);
        if prog.is_empty() {
            return Err(Error::new("missing PROG").hint(format!("e.g. `{name} --join {pin_name} -- curl https://example.com`")));
        }
        let mut link: Vec<OsString> = vec!["wg-exec".into(), "--join".into(), pin_name.into(), "--".into()];
        link.extend(prog);
        return Err(chain::exec_link(&link, &["wg-exec"]));
    }
    if rest.first().is_some_and(|a| a == "doctor") {
        let checks = wg_wrap::doctor::run();
        for check in &checks {
            wg_wrap::outln!("{}", check.line());
        }
        let failed = checks.iter().any(|c| c.verdict == wg_wrap::doctor::Verdict::Fail);
        return Ok(if failed { wg_wrap::error::EXIT_FAILURE } else { 0 });
    }
    if rest.first().is_some_and(|a| a == "status") {
        return status(rest.get(1).map(|n| n.to_string_lossy().into_owned()));
    }
    let Some((first, tail)) = rest.split_first() else {
        return Err(Error::new("missing PROFILE").hint(format!("try '{name} --help'")));
    };
    let wanted = first.to_string_lossy();
    let applet = if wanted.starts_with("wg-") { wanted.to_string() } else { format!("wg-{wanted}") };
    if let Some((applet, main)) = crate::find(&applet).filter(|(a, _)| *a != name) {
        return Ok(crate::run(applet, main, tail.to_vec()));
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
        chain::set(log::VERBOSITY_VAR, if opts.quiet { "0" } else { "2" });
    }
    let mut link: Vec<OsString> = vec!["wg-unshare".into()];
    if opts.map_root {
        link.push("--map-root".into());
    }
    if opts.host_session_bus {
        link.push("--host-session-bus".into());
    }
    for spec in &opts.publish {
        link.extend(["--publish".into(), spec.into()]);
    }
    link.extend([first.clone(), "wg-up".into()]);
    if let Some(seconds) = opts.handshake_timeout {
        link.extend(["--handshake-timeout".into(), seconds.to_string().into()]);
    }
    if let Some(pin_name) = &opts.pin {
        let runtime = runtime::dir()?;
        pin::check_pin_name(pin_name)?;
        if let Ok(entry) = pin::find(pin_name, &runtime) {
            return Err(Error::new(format!(
                "\"{pin_name}\" is already pinned (engine {}, profile {})",
                entry.engine_pid, entry.profile
            ))
            .hint(format!("join it with `wg-wrap --join {pin_name} -- PROG`, or remove it with `wg-pin --remove {pin_name}`")));
        }
        link.extend(["wg-pin".into(), pin_name.into()]);
    }
    link.extend(["wg-exec".into(), "--".into()]);
    link.extend(prog);
    Err(chain::exec_link(&link, &["wg-unshare"]))
}

/// `wg-wrap status [NAME]`: every live namespace of this user (pinned or
/// not), one a line, or only those pinned as NAME or made from profile NAME.
fn status(only: Option<String>) -> Result<u8, Error> {
    let runtime = runtime::dir()?;
    let pins = Dir::pins(&runtime).list().live;
    let mut shown = 0;
    for (_, entry) in Dir::live(&runtime).list().live {
        let pin_name = pins
            .iter()
            .find(|(_, p)| p.engine_pid == entry.engine_pid && p.start_time == entry.start_time)
            .map(|(n, _)| n.clone());
        if let Some(only) = &only
            && pin_name.as_ref() != Some(only)
            && &entry.profile != only
        {
            continue;
        }
        // Its programs have all ended: it is going (its engine only drains).
        if pin_name.is_none() && !wg_wrap::identity::occupied(&entry) {
            continue;
        }
        wg_wrap::outln!("{}", Namespace::read(&runtime, pin_name, entry).line());
        shown += 1;
    }
    if let Some(only) = only
        && shown == 0
    {
        return Err(Error::new(format!("no live namespace \"{only}\""))
            .hint("`wg-wrap status` lists them all"));
    }
    Ok(0)
}
