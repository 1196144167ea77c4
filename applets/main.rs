//! The multi-call binary's front door: dispatch on `basename(argv[0])` to
//! an applet, and wg-wrap's own words (`status`, `doctor`, `--list`,
//! `--install`, `--man`, `--completions`, `wg-wrap APPLET`) as rows of a
//! table. Everything a profile may not be named derives from these tables.

mod cli;
mod completions;
mod man;
mod words;

use std::ffi::OsString;
use std::process::ExitCode;
use wg_wrap::{Error, log};

/// An applet: its name, how it runs, and what its help and man page say.
pub struct Applet {
    pub name: &'static str,
    /// Parses the arguments (argv[1..]) and runs; returns the exit status
    /// (chain links return only on failure).
    pub main: fn(&'static str, Vec<OsString>) -> Result<u8, Error>,
    /// Its options, as `--help` lists them (completions read them).
    pub info: fn() -> argh::CommandInfoWithArgs,
    /// What its man page says beyond `--help`.
    pub man: &'static man::Extra,
}

/// The applet table: dispatch, `--list`, `--install`, `--man`, the
/// completions and the tests read it. A new applet is one file in
/// `applets/` (its `Args`, `MAN` and `main`) and one line here.
macro_rules! applets {
    ($($name:literal => $module:ident,)*) => {
        $(mod $module;)*
        pub const APPLETS: &[Applet] = &[$(Applet {
            name: $name,
            main: |name, args| match cli::parse::<$module::Args>(name, &args)? {
                cli::Parsed::Run(opts) => $module::main(name, opts, &args),
                cli::Parsed::Helped => Ok(0),
            },
            info: <$module::Args as argh::ArgsInfo>::get_args_info,
            man: &$module::MAN,
        },)*];

        /// Each applet's `--help` text, as it prints it.
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
    APPLETS.iter().map(|a| a.name).collect()
}

/// `wg-up` for `wg-up` and `up` (`wg-wrap up ...`).
pub fn find(name: &str) -> Option<&'static Applet> {
    APPLETS
        .iter()
        .find(|a| a.name == name || a.name.strip_prefix("wg-") == Some(name))
}

/// The names a profile may not take: `wg-wrap NAME` would not run it.
pub fn reserved_names() -> Vec<&'static str> {
    let mut reserved = names();
    reserved.extend(APPLETS.iter().filter_map(|a| a.name.strip_prefix("wg-")));
    reserved.extend(words::WORDS.iter().map(|w| w.word));
    reserved.push("help");
    reserved
}

/// Runs applet `name` with `args`, printing a failure as one line.
pub fn run(applet: &'static Applet, args: Vec<OsString>) -> u8 {
    let name = applet.name;
    log::init(name);
    if args.first().is_some_and(|a| a == "--version") {
        wg_wrap::outln!("{name} {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match (applet.main)(name, args) {
        Ok(code) => code,
        Err(err) => {
            log::err(format_args!("{name}: {err}"));
            err.code()
        }
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    let mut args: Vec<OsString> = argv.collect();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(applet) = APPLETS.iter().find(|a| a.name == base) else {
        log::err(format_args!(
            "wg-wrap: unknown applet \"{base}\" (run as one of: {})",
            names().join(", ")
        ));
        return ExitCode::from(wg_wrap::error::EXIT_FAILURE);
    };
    // wg-wrap's first word may be one of its own, or another applet's name.
    let first = args.first().map(|a| a.to_string_lossy().into_owned());
    if applet.name == "wg-wrap"
        && let Some(first) = first
    {
        if let Some(word) = words::find(&first) {
            log::init("wg-wrap");
            args.remove(0);
            let code = (word.run)(&args).unwrap_or_else(|err| {
                log::err(format_args!("wg-wrap: {err}"));
                err.code()
            });
            return ExitCode::from(code);
        }
        if let Some(other) = find(&first).filter(|a| a.name != "wg-wrap") {
            args.remove(0);
            return ExitCode::from(run(other, args));
        }
    }
    ExitCode::from(run(applet, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain's grammar names each link's options that take a value;
    /// they are the ones its `Args` declares.
    #[test]
    fn the_grammar_knows_each_links_valued_options() {
        for link in wg_wrap::chain::links::LINKS {
            let applet = find(link.applet).unwrap();
            let valued: Vec<&str> = ((applet.info)().flags.iter())
                .filter(|f| matches!(f.kind, argh::FlagInfoKind::Option { .. }))
                .map(|f| f.long)
                .collect();
            let chain_options: Vec<&str> = match link.applet {
                // wg-pin's --remove ends a pin; it is never part of a chain.
                "wg-pin" => valued.into_iter().filter(|v| *v != "--remove").collect(),
                _ => valued,
            };
            assert_eq!(chain_options, link.valued, "{}", link.applet);
        }
    }

    #[test]
    fn reserved_names_cover_applets_and_words() {
        let reserved = reserved_names();
        for name in ["wg-up", "up", "status", "doctor", "help", "--man"] {
            assert!(reserved.contains(&name), "{name}");
        }
    }
}
