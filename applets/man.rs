//! Man pages made from each applet's `--help` (so they cannot drift from it)
//! and a few sections written once here. `wg-wrap --man APPLET` prints one;
//! packaging/man/ holds them, and a test checks they match.

/// What a man page says beyond `--help`: the NAME phrase, the SYNOPSIS
/// forms, exit status, environment (beyond the chain's variables, which
/// come from `chain::vars`), files and examples. Each applet has its own,
/// beside its options.
pub struct Extra {
    pub name: &'static str,
    pub synopsis: &'static str,
    pub exit: &'static str,
    pub environment: &'static str,
    pub files: &'static str,
    pub examples: &'static str,
}

pub const CHAIN_EXIT: &str = "0 is not listed: on success the applet executes into the next link, and the status is PROG's.\n125 wg-wrap itself failed (usage, profile, namespace, tunnel), with one line on standard error.\n126 PROG was found but could not be executed.\n127 PROG was not found.";
pub const TOOL_EXIT: &str = "0 success.\n125 failure, with one line on standard error.";
pub const FILES: &str = "$XDG_CONFIG_HOME/wg-wrap/profiles/NAME.conf (default ~/.config): the profiles, mode 0600 in a 0700 directory.\n$XDG_RUNTIME_DIR/wg-wrap/: live/ and pins/ (the registry), engine-PID.sock (status sockets).";

/// Text safe to put in roff.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.chars().next() {
        Some('.' | '\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}

fn lines(text: &str) -> String {
    text.lines()
        .map(|l| format!("{}\n.br\n", roff(l)))
        .collect()
}

/// The man page of `applet`, in section 1, from its `--help` text.
pub fn page(applet: &crate::Applet, help: &str, version: &str) -> String {
    let extra = applet.man;
    let applet = applet.name;
    let mut sections = help.split("\n\n");
    let usage = sections
        .next()
        .unwrap_or_default()
        .trim_start_matches("Usage: ")
        .to_string();
    let mut description = Vec::new();
    let mut lists: Vec<(&str, Vec<(String, String)>)> = Vec::new();
    for section in sections {
        let mut section_lines = section.lines();
        let head = section_lines.next().unwrap_or_default();
        if let Some(title) = head
            .strip_suffix(':')
            .filter(|t| matches!(*t, "Options" | "Commands"))
        {
            let mut items: Vec<(String, String)> = Vec::new();
            for line in section_lines {
                let body = line.trim_start();
                if line.len() - body.len() <= 2 {
                    let (term, text) = body.split_once("  ").unwrap_or((body, ""));
                    items.push((term.trim().to_string(), text.trim().to_string()));
                } else if let Some(last) = items.last_mut() {
                    if !last.1.is_empty() {
                        last.1.push(' ');
                    }
                    last.1.push_str(body);
                }
            }
            lists.push((title, items));
        } else {
            description.push(section.trim().replace('\n', " "));
        }
    }
    let mut out = format!(
        ".TH {} 1 \"\" \"wg-wrap {version}\" \"User Commands\"\n.SH NAME\n{} \\- {}\n.SH SYNOPSIS\n.nf\n{}\n.fi\n.SH DESCRIPTION\n",
        applet.to_uppercase(),
        roff(applet),
        roff(extra.name),
        roff(extra.synopsis)
    );
    for paragraph in &description {
        out.push_str(&format!("{}\n.PP\n", roff(paragraph)));
    }
    for (title, items) in lists {
        out.push_str(&format!(".SH {}\n", title.to_uppercase()));
        for (term, text) in items {
            let term = with_placeholder(&term, &usage);
            out.push_str(&format!(".TP\n.B {}\n{}\n", roff(&term), roff(&text)));
        }
    }
    out.push_str(&format!(".SH \"EXIT STATUS\"\n{}", lines(extra.exit)));
    let environment = [
        wg_wrap::chain::vars::environment(applet),
        extra.environment.into(),
    ];
    let environment: Vec<&str> = (environment.iter().map(String::as_str))
        .filter(|e| !e.is_empty())
        .collect();
    out.push_str(".SH ENVIRONMENT\n");
    for line in environment.join("\n").lines() {
        match line.strip_prefix("  ").and_then(|l| l.split_once(": ")) {
            Some((var, what)) => out.push_str(&format!(".TP\n.B {}\n{}\n", roff(var), roff(what))),
            None => out.push_str(&format!(".PP\n{}\n", roff(line))),
        }
    }
    out.push_str(&format!(".SH FILES\n{}", lines(extra.files)));
    out.push_str(&format!(
        ".SH EXAMPLES\n.nf\n{}\n.fi\n",
        roff(extra.examples)
    ));
    let others: Vec<String> = crate::names()
        .into_iter()
        .filter(|a| *a != applet)
        .map(|a| format!("{}(1)", roff(a)))
        .collect();
    out.push_str(&format!(
        ".SH \"SEE ALSO\"\n{}, wg\\-wrap\\-profile(5), wg(8)\n",
        others.join(", ")
    ));
    out
}

/// `--join` as `--join NAME`: the placeholder the usage line gives it.
fn with_placeholder(term: &str, usage: &str) -> String {
    let option = term.split(',').next().unwrap_or(term).trim();
    let marker = format!("{option} <");
    match usage.find(&marker) {
        Some(at) => {
            let rest = &usage[at + marker.len()..];
            let arg = rest.split('>').next().unwrap_or_default();
            format!("{term} {}", arg.trim_end_matches("..."))
        }
        None => term.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_escapes_backslashes_dashes_and_leading_dots() {
        assert_eq!(roff("--pin a\\b"), "\\-\\-pin a\\eb");
        assert_eq!(roff(".SH x"), "\\&.SH x");
        assert_eq!(roff("'quote"), "\\&'quote");
        assert_eq!(lines("a\nb"), "a\n.br\nb\n.br\n");
    }

    #[test]
    fn options_get_the_placeholder_of_the_usage_line() {
        let usage = "wg-wrap [--join <NAME>] [--publish <SPEC...>] [-q]";
        assert_eq!(with_placeholder("--join", usage), "--join NAME");
        assert_eq!(with_placeholder("--publish", usage), "--publish SPEC");
        assert_eq!(with_placeholder("-q, --quiet", usage), "-q, --quiet");
    }

    #[test]
    fn every_page_has_every_section_and_the_chain_variables() {
        for applet in crate::APPLETS {
            let help = crate::help(applet.name).unwrap();
            let page = page(applet, &help, "0");
            for section in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH OPTIONS",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH \"SEE ALSO\"",
            ] {
                assert!(page.contains(section), "{}: no {section}", applet.name);
            }
            for var in wg_wrap::chain::vars::ALL
                .iter()
                .filter(|v| v.set_by.contains(&applet.name))
            {
                assert!(
                    page.contains(&roff(var.name)),
                    "{}: {} missing",
                    applet.name,
                    var.name
                );
            }
        }
    }
}
