//! wg-wrap's own words, each a row: `wg-wrap WORD [OPERAND]` runs it
//! instead of a profile. `--help`, the man page's COMMANDS, the completions
//! and the names a profile may not take all read this table.

use std::ffi::OsString;
use std::path::PathBuf;
use wg_wrap::live::listing::Namespace;
use wg_wrap::live::registry::Dir;
use wg_wrap::{Error, install, live, log};

pub struct Word {
    pub word: &'static str,
    /// What follows it, as the usage shows it ("" for nothing).
    pub operand: &'static str,
    pub about: &'static str,
    /// Listed by `--help` (and offered by completions).
    pub shown: bool,
    pub run: fn(&[OsString]) -> Result<u8, Error>,
}

pub const WORDS: &[Word] = &[
    Word {
        word: "status",
        operand: "[NAME]",
        about: "list your live namespaces, pinned or not (only those pinned as NAME or made from profile NAME)",
        shown: true,
        run: status,
    },
    Word {
        word: "doctor",
        operand: "",
        about: "check what the host must allow, one line each with its fix",
        shown: true,
        run: doctor,
    },
    Word {
        word: "--list",
        operand: "",
        about: "print the applets' names, one a line",
        shown: true,
        run: list,
    },
    Word {
        word: "--install",
        operand: "DIR",
        about: "make a symlink to this binary in DIR for every applet",
        shown: true,
        run: install,
    },
    Word {
        word: "--man",
        operand: "APPLET",
        about: "print the man page of APPLET (roff)",
        shown: true,
        run: man,
    },
    Word {
        word: "--completions",
        operand: "SHELL",
        about: "print the completion script for SHELL (bash, zsh or fish)",
        shown: true,
        run: completions,
    },
    Word {
        word: "--complete",
        operand: "-- WORD...",
        about: "what may come as the last WORD (for the completion scripts)",
        shown: false,
        run: complete,
    },
];

/// What `wg-wrap APPLET [ARG...]` does, as `--help` lists it.
pub const APPLET_LINE: (&str, &str) = (
    "APPLET [ARG...]",
    "run applet wg-APPLET (e.g. `wg-wrap profile list`)",
);

pub fn find(word: &str) -> Option<&'static Word> {
    WORDS.iter().find(|w| w.word == word)
}

/// The "Commands:" section wg-wrap's `--help` ends with.
pub fn help_section() -> String {
    let mut rows: Vec<(String, &str)> = (WORDS.iter().filter(|w| w.shown))
        .map(|w| {
            (
                format!("{} {}", w.word, w.operand).trim_end().to_string(),
                w.about,
            )
        })
        .collect();
    rows.insert(2, (APPLET_LINE.0.to_string(), APPLET_LINE.1));
    let mut out = String::from("\nCommands:\n");
    for (term, about) in rows {
        // As argh lays out options: the text from column 20, within 80.
        let mut line = format!("  {term}");
        if line.len() >= 20 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        for word in about.split(' ') {
            if line.len() + 1 + word.len() > 80 && line.len() > 20 {
                out.push_str(line.trim_end());
                out.push('\n');
                line.clear();
            }
            if line.len() < 20 {
                line = format!("{line:<20}");
            } else {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The one operand a word takes, or a usage error.
fn operand<'a>(word: &str, args: &'a [OsString]) -> Result<&'a OsString, Error> {
    match args {
        [one] => Ok(one),
        _ => {
            let row = find(word).map_or("", |w| w.operand);
            Err(Error::new(format!("{word} takes {row}"))
                .hint(format!("e.g. `wg-wrap {word} {row}`")))
        }
    }
}

fn list(_: &[OsString]) -> Result<u8, Error> {
    for applet in crate::names() {
        wg_wrap::outln!("{applet}");
    }
    Ok(0)
}

fn install(args: &[OsString]) -> Result<u8, Error> {
    let dir = PathBuf::from(operand("--install", args)?);
    for link in install::install_links(&dir, &crate::names())? {
        log::info(format_args!("installed {}", link.display()));
    }
    Ok(0)
}

fn man(args: &[OsString]) -> Result<u8, Error> {
    let applet = operand("--man", args)?.to_string_lossy();
    let known = crate::find(&applet).filter(|a| a.name == applet);
    let (Some(applet), Some(help)) = (known, crate::help(&applet)) else {
        return Err(Error::new(format!("unknown applet \"{applet}\""))
            .hint(format!("applets: {}", crate::names().join(", "))));
    };
    wg_wrap::log::out(crate::man::page(applet, &help, env!("CARGO_PKG_VERSION")));
    Ok(0)
}

fn completions(args: &[OsString]) -> Result<u8, Error> {
    let shell = operand("--completions", args)?.to_string_lossy();
    let script = crate::completions::script(&shell).ok_or_else(|| {
        Error::new(format!("no completions for \"{shell}\"")).hint("give bash, zsh or fish")
    })?;
    wg_wrap::log::out(script);
    Ok(0)
}

fn complete(args: &[OsString]) -> Result<u8, Error> {
    let words: Vec<String> = (args.iter())
        .skip_while(|a| *a == "--")
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    for line in crate::completions::answer(&words) {
        wg_wrap::outln!("{line}");
    }
    Ok(0)
}

fn doctor(args: &[OsString]) -> Result<u8, Error> {
    if !args.is_empty() {
        return Err(Error::new("doctor takes no arguments").hint("run `wg-wrap doctor`"));
    }
    let checks = wg_wrap::doctor::run();
    for check in &checks {
        wg_wrap::outln!("{}", check.line());
    }
    let failed = checks
        .iter()
        .any(|c| c.verdict == wg_wrap::doctor::Verdict::Fail);
    Ok(if failed {
        wg_wrap::error::EXIT_FAILURE
    } else {
        0
    })
}

/// `wg-wrap status [NAME]`: every live namespace of this user (pinned or
/// not), one a line, or only those pinned as NAME or made from profile NAME.
fn status(args: &[OsString]) -> Result<u8, Error> {
    let only = match args {
        [] => None,
        [name] => Some(name.to_string_lossy().into_owned()),
        _ => {
            return Err(
                Error::new("status takes one NAME at most").hint("e.g. `wg-wrap status work`")
            );
        }
    };
    let runtime = live::dir()?;
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
