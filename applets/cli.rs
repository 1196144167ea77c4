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

#[cfg(test)]
mod tests {
    use super::*;

    /// A small applet's options.
    #[derive(argh::FromArgs, Debug)]
    /// Test.
    struct Opts {
        /// seconds
        #[argh(option)]
        wait: Option<u64>,
        /// the rest
        #[argh(positional, greedy)]
        rest: Vec<String>,
    }

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_usage_error_is_one_lowercase_line_with_the_help_hint() {
        let Err(err) = parse::<Opts>("wg-x", &args(&["--nope"])) else {
            panic!()
        };
        assert_eq!(
            err.to_string(),
            "unrecognized argument: --nope (try 'wg-x --help')"
        );
        let Err(err) = parse::<Opts>("wg-x", &args(&["--wait", "soon"])) else {
            panic!()
        };
        assert!(
            err.to_string().starts_with("error parsing option '--wait'"),
            "{err}"
        );
    }

    #[test]
    fn a_lone_dash_is_standard_input_and_the_tail_keeps_the_bytes() {
        use std::os::unix::ffi::OsStringExt;
        let given = vec![
            "--wait".into(),
            "3".into(),
            "-".into(),
            OsString::from_vec(vec![0xff, b'x']),
        ];
        let Ok(Parsed::Run(opts)) = parse::<Opts>("wg-x", &given) else {
            panic!()
        };
        assert_eq!(opts.wait, Some(3));
        assert_eq!(opts.rest[0], STDIN);
        assert_eq!(
            tail(&given, opts.rest.len())[1],
            OsString::from_vec(vec![0xff, b'x'])
        );
    }

    #[test]
    fn help_lists_version_and_wg_wrap_its_words() {
        assert!(help_text::<Opts>("wg-x").contains("  --version"));
        assert!(!help_text::<Opts>("wg-x").contains("Commands:"));
        assert!(help_text::<Opts>("wg-wrap").contains("Commands:\n  status [NAME]"));
    }
}
