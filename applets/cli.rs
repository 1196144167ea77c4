//! Command-line plumbing shared by the applets: argh without its exits.

use argh::FromArgs;
use std::ffi::OsString;
use wg_wrap::Error;

/// What a lone `-` argument is parsed as.
pub const STDIN: &str = "/dev/stdin";

/// What parsing decided: run with these options, or stop (help was printed).
pub enum Parsed<T> {
    Run(T),
    Helped,
}

/// Parses `args` for applet `name`. `--help` prints usage and exits 0; a usage
/// error is one line and exit 125. Non-UTF-8 arguments are parsed as a lossy
/// copy: take the original tail of a greedy positional with [`tail`].
/// A lone `-` (standard input) is read as [`STDIN`]: argh would take it for
/// an option.
pub fn parse<T: FromArgs>(name: &str, args: &[OsString]) -> Result<Parsed<T>, Error> {
    let lossy: Vec<String> = args
        .iter()
        .map(|a| match a.to_string_lossy() {
            dash if dash == "-" => STDIN.to_string(),
            other => other.into_owned(),
        })
        .collect();
    let strs: Vec<&str> = lossy.iter().map(String::as_str).collect();
    match T::from_args(&[name], &strs) {
        Ok(parsed) => Ok(Parsed::Run(parsed)),
        Err(exit) if exit.status.is_ok() => {
            wg_wrap::log::out(with_version_line(name, &exit.output));
            Ok(Parsed::Helped)
        }
        Err(exit) => {
            let first = exit.output.lines().next().unwrap_or("invalid arguments");
            let mut chars = first.chars();
            let message: String = match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => String::new(),
            };
            Err(Error::new(message).hint(format!("try '{name} --help'")))
        }
    }
}

/// The last `n` arguments as given (argh only sees a lossy UTF-8 copy).
pub fn tail(args: &[OsString], n: usize) -> Vec<OsString> {
    args[args.len().saturating_sub(n)..].to_vec()
}

/// The `--help` text of applet `name`, as it prints it.
pub fn help_text<T: FromArgs>(name: &str) -> String {
    match T::from_args(&[name], &["--help"]) {
        Err(exit) => with_version_line(name, &exit.output),
        Ok(_) => String::new(),
    }
}

/// argh's help lists `--help`; every applet also answers `--version`, and
/// wg-wrap's own words (see `words`) follow its options.
fn with_version_line(name: &str, help: &str) -> String {
    let mut out = String::with_capacity(help.len() + 64);
    for line in help.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim_start().starts_with("--help") {
            out.push_str("  --version         display version information\n");
        }
    }
    if name == "wg-wrap" {
        out.push_str(&crate::words::help_section());
    }
    out
}
