//! wg-wrap: the applet dispatcher and installer.

use crate::cli::{self, Parsed};
use argh::FromArgs;
use std::ffi::OsString;
use std::path::PathBuf;
use wg_wrap::{Error, install};

/// Run an applet: `wg-wrap APPLET ARGS...` runs wg-APPLET (e.g. `wg-wrap profile list`).
#[derive(FromArgs)]
pub struct Args {
    /// make a symlink to this binary in DIR for every applet
    #[argh(option, arg_name = "DIR")]
    install: Option<PathBuf>,
    /// print the applets' names, one a line
    #[argh(switch)]
    list: bool,
    /// the applet (profile) and its arguments
    #[argh(positional, greedy)]
    applet: Vec<String>,
}

pub fn main(name: &str, args: Vec<OsString>) -> Result<u8, Error> {
    let Parsed::Run(opts) = cli::parse::<Args>(name, &args)? else {
        return Ok(0);
    };
    if let Some(dir) = opts.install {
        for link in install::install_links(&dir, &crate::names())? {
            wg_wrap::log::info(format_args!("installed {}", link.display()));
        }
        return Ok(0);
    }
    if opts.list {
        for applet in crate::names() {
            println!("{applet}");
        }
        return Ok(0);
    }
    let rest = cli::tail(&args, opts.applet.len());
    let Some((first, applet_args)) = rest.split_first() else {
        return Err(Error::new("missing APPLET").hint(format!("try '{name} --help'")));
    };
    let wanted = first.to_string_lossy();
    let full = if wanted.starts_with("wg-") {
        wanted.to_string()
    } else {
        format!("wg-{wanted}")
    };
    match crate::find(&full) {
        Some((applet, main)) if applet != name => {
            Ok(crate::run(applet, main, applet_args.to_vec()))
        }
        _ => Err(Error::new(format!("unknown applet \"{wanted}\""))
            .hint(format!("applets: {}", crate::names().join(", ")))),
    }
}
