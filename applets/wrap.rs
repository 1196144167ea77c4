//! wg-wrap: the whole flow in one command, and the applet dispatcher.

use crate::cli::{self, Parsed};
use argh::FromArgs;
use std::ffi::OsString;
use std::path::PathBuf;
use wg_wrap::{Error, chain, install, log};

/// Run PROG through the WireGuard tunnel of PROFILE, in namespaces of its own:
/// `wg-wrap [options] PROFILE [--] PROG [ARGS...]` executes
/// `wg-unshare PROFILE wg-up wg-exec PROG...`. PROFILE is a stored profile's
/// name or a .conf file. Also `wg-wrap APPLET ARGS...` runs wg-APPLET
/// (e.g. `wg-wrap profile list`).
#[derive(FromArgs)]
pub struct Args {
    /// be uid 0 inside (default: your own uid)
    #[argh(switch)]
    map_root: bool,
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
    /// PROFILE and PROG with its arguments, or APPLET and its arguments
    #[argh(positional, greedy)]
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
    if opts.list {
        for applet in crate::names() {
            println!("{applet}");
        }
        return Ok(0);
    }
    let rest = cli::tail(&args, opts.rest.len());
    let Some((first, tail)) = rest.split_first() else {
        return Err(Error::new("missing PROFILE").hint(format!("try '{name} --help'")));
    };
    let wanted = first.to_string_lossy();
    let applet = if wanted.starts_with("wg-") { wanted.to_string() } else { format!("wg-{wanted}") };
    if let Some((applet, main)) = crate::find(&applet).filter(|(a, _)| *a != name) {
        return Ok(crate::run(applet, main, tail.to_vec()));
    }
    let prog = chain::strip_dashes(tail.to_vec());
    if prog.is_empty() {
        return Err(Error::new("missing PROG").hint(format!("e.g. `{name} {wanted} -- curl https://example.com`")));
    }
    if opts.quiet || opts.verbose {
        chain::set(log::VERBOSITY_VAR, if opts.quiet { "0" } else { "2" });
    }
    let mut link: Vec<OsString> = vec!["wg-unshare".into()];
    if opts.map_root {
        link.push("--map-root".into());
    }
    link.extend([first.clone(), "wg-up".into()]);
    if let Some(seconds) = opts.handshake_timeout {
        link.extend(["--handshake-timeout".into(), seconds.to_string().into()]);
    }
    link.extend(["wg-exec".into(), "--".into()]);
    link.extend(prog);
    Err(chain::exec_link(&link, &["wg-unshare"]))
}
