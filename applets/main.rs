//! The multi-call binary: dispatch on `basename(argv[0])` to an applet.

mod cli;
mod man;

use std::ffi::OsString;
use std::process::ExitCode;
use wg_wrap::{Error, log};

/// An applet's entry point: its name and its arguments (argv[1..]).
/// Returns the exit status; chain links return only on failure.
type Main = fn(&str, Vec<OsString>) -> Result<u8, Error>;

/// The applet table: dispatch, `--list`, `--install` and the tests read it.
/// A new applet is one file in `applets/` and one line here.
macro_rules! applets {
    ($($name:literal => $module:ident,)*) => {
        $(mod $module;)*
        pub const APPLETS: &[(&str, Main)] = &[$(($name, $module::main),)*];
        /// Each applet's `--help` text, for man pages.
        pub fn help(applet: &str) -> Option<String> {
            match applet {
                $($name => Some(cli::help_text::<$module::Args>($name)),)*
                _ => None,
            }
        }
    };
}

applets! {
    "wg-wrap"    => wrap,
    "wg-unshare" => unshare,
    "wg-up"      => up,
    "wg-exec"    => exec,
    "wg-pin"     => pin,
    "wg-profile" => profile,
}

/// Applet names, as `wg-wrap --list` prints them.
pub fn names() -> Vec<&'static str> {
    APPLETS.iter().map(|(name, _)| *name).collect()
}

/// The names a profile may not take: `wg-wrap NAME` would run the applet.
pub fn reserved_names() -> Vec<&'static str> {
    let mut names = names();
    names.extend(
        APPLETS
            .iter()
            .filter_map(|(name, _)| name.strip_prefix("wg-")),
    );
    names.extend(["help", "status", "doctor"]);
    names
}

pub fn find(name: &str) -> Option<(&'static str, Main)> {
    APPLETS.iter().copied().find(|(n, _)| *n == name)
}

/// Runs applet `name` with `args`, printing a failure as one line.
pub fn run(name: &'static str, main: Main, args: Vec<OsString>) -> u8 {
    log::init(name);
    if args.first().is_some_and(|a| a == "--version") {
        wg_wrap::outln!("{name} {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match main(name, args) {
        Ok(code) => code,
        Err(err) => {
            wg_wrap::log::err(format_args!("{name}: {err}"));
            err.code()
        }
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<OsString> = argv.collect();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let code = match find(&base) {
        Some((name, main)) => run(name, main, args),
        None => {
            wg_wrap::log::err(format_args!(
                "wg-wrap: unknown applet \"{base}\" (run as one of: {})",
                names().join(", ")
            ));
            wg_wrap::error::EXIT_FAILURE
        }
    };
    ExitCode::from(code)
}
