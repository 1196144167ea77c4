//! The chain's grammar, declared once:
//!
//! ```text
//! wg-unshare [OPTION...] PROFILE wg-up [OPTION...] [wg-pin NAME] wg-exec [OPTION...] [--] PROG...
//! ```
//!
//! Each link checks its next against this table before doing any work, and
//! wg-unshare reads its tail with [`Tail::parse`] (is it pinning? where does
//! wg-exec start?) instead of looking for names among PROG's arguments.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// One link: what it takes before the next link, and which links may follow.
#[derive(Debug)]
pub struct Link {
    pub applet: &'static str,
    /// Its options that take a value (checked against its `--help` by a test).
    pub valued: &'static [&'static str],
    /// The operand it takes before the next link (PROFILE, NAME), if any.
    pub operand: Option<&'static str>,
    /// The links that may follow; none: PROG follows.
    pub next: &'static [&'static str],
}

pub const LINKS: &[Link] = &[
    Link {
        applet: "wg-unshare",
        valued: &["--publish"],
        operand: Some("PROFILE"),
        next: &["wg-up"],
    },
    Link {
        applet: "wg-up",
        valued: &["--handshake-timeout"],
        operand: None,
        next: &["wg-exec", "wg-pin"],
    },
    Link {
        applet: "wg-pin",
        valued: &[],
        operand: Some("NAME"),
        next: &["wg-exec"],
    },
    Link {
        applet: "wg-exec",
        valued: &["--join"],
        operand: None,
        next: &[],
    },
];

/// The row of `applet`.
pub fn link(applet: &str) -> Option<&'static Link> {
    LINKS.iter().find(|l| l.applet == applet)
}

/// The links that may follow `applet` (none for wg-exec or a non-link).
pub fn next_of(applet: &str) -> &'static [&'static str] {
    link(applet).map_or(&[], |l| l.next)
}

/// The applet an argument names (`/usr/bin/wg-up` names wg-up).
pub fn applet_of(arg: &OsStr) -> Option<&'static str> {
    let base = Path::new(arg).file_name().unwrap_or(arg);
    LINKS
        .iter()
        .map(|l| l.applet)
        .find(|a| OsStr::new(a) == base)
}

/// Where each link of a chain's tail starts, and its operand.
#[derive(Debug, PartialEq)]
pub struct Tail {
    /// (applet, index of its name in the tail, its operand if it takes one).
    pub links: Vec<(&'static str, usize, Option<OsString>)>,
    /// The index where PROG starts (after wg-exec's options and `--`).
    pub prog_at: usize,
}

impl Tail {
    /// Reads `args` (a link's name first) by the grammar; `None` when they
    /// do not follow it.
    pub fn parse(args: &[OsString]) -> Option<Tail> {
        let mut links: Vec<(&'static str, usize, Option<OsString>)> = Vec::new();
        let mut at = 0;
        loop {
            let applet = applet_of(args.get(at)?)?;
            if let Some((previous, _, _)) = links.last()
                && !next_of(previous).contains(&applet)
            {
                return None;
            }
            let row = link(applet)?;
            let start = at;
            at += 1;
            // Options, then `--`, then the operand.
            while let Some(arg) = args.get(at).and_then(|a| a.to_str()) {
                if arg == "--" {
                    at += 1;
                    break;
                }
                if !arg.starts_with('-') || arg == "-" {
                    break;
                }
                let name = arg.split('=').next().unwrap_or(arg);
                at += if row.valued.contains(&name) && !arg.contains('=') {
                    2
                } else {
                    1
                };
            }
            let operand = match row.operand {
                Some(_) => {
                    let operand = args.get(at)?.clone();
                    at += 1;
                    Some(operand)
                }
                None => None,
            };
            links.push((applet, start, operand));
            if row.next.is_empty() {
                return Some(Tail {
                    links,
                    prog_at: at.min(args.len()),
                });
            }
            // `--` may stand between a link's arguments and the next link.
            if args.get(at).is_some_and(|a| a == "--") {
                at += 1;
            }
        }
    }

    /// Where `applet` starts, if the tail has it.
    pub fn find(&self, applet: &str) -> Option<usize> {
        self.links
            .iter()
            .find(|(a, _, _)| *a == applet)
            .map(|(_, at, _)| *at)
    }

    /// The operand of `applet` (wg-pin's NAME), if the tail has it.
    pub fn operand(&self, applet: &str) -> Option<&OsString> {
        self.links
            .iter()
            .find(|(a, _, _)| *a == applet)
            .and_then(|(_, _, operand)| operand.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_tail_with_a_pin() {
        let tail = Tail::parse(&args(&[
            "wg-up",
            "--handshake-timeout",
            "0",
            "wg-pin",
            "dl",
            "wg-exec",
            "--",
            "curl",
            "-v",
        ]))
        .unwrap();
        assert_eq!(tail.find("wg-pin"), Some(3));
        assert_eq!(tail.operand("wg-pin"), Some(&OsString::from("dl")));
        assert_eq!(tail.find("wg-exec"), Some(5));
        assert_eq!(tail.prog_at, 7);
    }

    #[test]
    fn prog_naming_a_link_is_not_a_link() {
        let tail = Tail::parse(&args(&["wg-up", "wg-exec", "echo", "wg-pin", "x"])).unwrap();
        assert_eq!(tail.find("wg-pin"), None);
        assert_eq!(tail.prog_at, 2);
        let tail = Tail::parse(&args(&["wg-up", "wg-exec", "--", "wg-pin", "x"])).unwrap();
        assert_eq!(tail.find("wg-pin"), None);
    }

    #[test]
    fn out_of_grammar_tails_are_refused() {
        assert_eq!(
            Tail::parse(&args(&["wg-exec", "true"])).map(|t| t.links.len()),
            Some(1)
        );
        assert!(Tail::parse(&args(&["wg-up", "wg-up", "wg-exec", "true"])).is_none());
        assert!(Tail::parse(&args(&["wg-up", "curl"])).is_none());
        assert!(Tail::parse(&args(&["wg-up", "wg-pin"])).is_none());
        assert!(Tail::parse(&args(&["bash"])).is_none());
    }

    #[test]
    fn every_link_but_wg_exec_is_followed_by_links_only() {
        for row in LINKS {
            for next in row.next {
                assert!(link(next).is_some(), "{} -> {next}", row.applet);
            }
        }
        assert!(next_of("wg-exec").is_empty());
        assert_eq!(applet_of(OsStr::new("/usr/bin/wg-up")), Some("wg-up"));
    }
}
