//! Man pages made from each applet's `--help` (so they cannot drift from it)
//! and a few sections written once here. `wg-wrap --man APPLET` prints one;
//! packaging/man/ holds them, and a test checks they match.

/// What a man page says beyond `--help`: the NAME phrase, the SYNOPSIS
/// forms, commands, exit status, environment, files and examples.
struct Extra {
    name: &'static str,
    synopsis: &'static str,
    commands: &'static str,
    exit: &'static str,
    environment: &'static str,
    files: &'static str,
    examples: &'static str,
}

const CHAIN_EXIT: &str = "0 is not listed: on success the applet executes into the next link, and the status is PROG's.\n125 wg-wrap itself failed (usage, profile, namespace, tunnel), with one line on standard error.\n126 PROG was found but could not be executed.\n127 PROG was not found.";
const TOOL_EXIT: &str = "0 success.\n125 failure, with one line on standard error.";
const FILES: &str = "$XDG_CONFIG_HOME/wg-wrap/profiles/NAME.conf (default ~/.config): the profiles, mode 0600 in a 0700 directory.\n$XDG_RUNTIME_DIR/wg-wrap/: live/ and pins/ (the registry), engine-PID.sock (status sockets).";

fn extra(applet: &str) -> Extra {
    match applet {
        "wg-wrap" => Extra {
            name: "run one program through a WireGuard VPN, without root",
            synopsis: "wg-wrap [OPTION...] PROFILE [--] PROG [ARG...]\nwg-wrap --join NAME [--] PROG [ARG...]\nwg-wrap status [NAME]\nwg-wrap doctor\nwg-wrap APPLET [ARG...]",
            commands: "status [NAME]\tlist your live namespaces, pinned or not (only those pinned as NAME or made from profile NAME)\ndoctor\tcheck what the host must allow, one line each with its fix",
            exit: CHAIN_EXIT,
            environment: "WG_WRAP_VERBOSITY is set for the chain by -q and -v. XDG_CONFIG_HOME, XDG_RUNTIME_DIR and HOME locate the profiles and the runtime directory.",
            files: FILES,
            examples: "wg-wrap work -- curl https://example.com/\nwg-wrap work -- firefox --no-remote -P vpn\nwg-wrap --pin dl work -- true\nwg-wrap --join dl -- bash\nwg-wrap status\nwg-wrap doctor",
        },
        "wg-unshare" => Extra {
            name: "leave the host's namespaces for the tunnel's (first link of the chain)",
            synopsis: "wg-unshare [--map-root] [--host-session-bus] [--publish SPEC]... PROFILE wg-up ...",
            commands: "",
            exit: CHAIN_EXIT,
            environment: "Sets WG_WRAP_UDP_FD (the bound UDP socket), WG_WRAP_CONF_FD (a sealed memfd holding the profile), WG_WRAP_PROFILE, WG_WRAP_STORE (the profile store it hid), WG_WRAP_BUS_FD (the session bus proxy's lifeline), WG_WRAP_LOCK_FD (the lock on the profile's identity) and WG_WRAP_CORE_LIMIT (the caller's core-file limit, lowered to 0 while keys are held) for the next links.",
            files: FILES,
            examples: "wg-unshare work wg-up wg-exec curl https://example.com/",
        },
        "wg-up" => Extra {
            name: "bring the tunnel up inside the namespace (second link)",
            synopsis: "wg-up [--handshake-timeout S] {wg-exec|wg-pin} ...",
            commands: "",
            exit: CHAIN_EXIT,
            environment: "Takes and unsets WG_WRAP_UDP_FD, WG_WRAP_CONF_FD, WG_WRAP_BUS_FD, WG_WRAP_LOCK_FD (closed once the engine is registered) and WG_WRAP_STORE (for the engine); sets WG_WRAP_ENGINE_PID and WG_WRAP_IFACE for wg-pin and wg-exec.",
            files: "$XDG_RUNTIME_DIR/wg-wrap/live/PID and engine-PID.sock, made by the engine.",
            examples: "wg-unshare work wg-up --handshake-timeout 2 wg-exec curl https://example.com/",
        },
        "wg-exec" => Extra {
            name: "run PROG without privileges in a wg-wrap namespace (last link)",
            synopsis: "wg-exec [--] PROG [ARG...]\nwg-exec --join NAME [--] PROG [ARG...]",
            commands: "",
            exit: CHAIN_EXIT,
            environment: "Reads WG_WRAP_ENGINE_PID and WG_WRAP_IFACE, WG_WRAP_PIN (set by wg-pin: when PROG cannot be executed, that pin is removed) and WG_WRAP_CORE_LIMIT (gives PROG the caller's core-file limit back), then removes every WG_WRAP_* variable before PROG runs, and sets WGWRAP_NAMESPACE (the pin's or the profile's name) for PROG.",
            files: "$XDG_RUNTIME_DIR/wg-wrap/pins/NAME, read by --join.",
            examples: "wg-exec --join dl -- bash",
        },
        "wg-pin" => Extra {
            name: "keep a wg-wrap namespace under a name; list and end pins",
            synopsis: "wg-pin NAME wg-exec ...\nwg-pin --list [--json]\nwg-pin --remove NAME",
            commands: "",
            exit: CHAIN_EXIT,
            environment: "Reads WG_WRAP_ENGINE_PID and WG_WRAP_PROFILE (set by wg-up and wg-unshare); sets WG_WRAP_PIN for wg-exec.",
            files: "$XDG_RUNTIME_DIR/wg-wrap/pins/NAME. As real root also /run/netns/NAME.",
            examples: "wg-unshare work wg-up wg-pin dl wg-exec true\nwg-pin --list\nwg-pin --list --json\nwg-pin --remove dl",
        },
        _ => Extra {
            name: "manage the WireGuard profiles wg-wrap uses",
            synopsis: "wg-profile import FILE|- [NAME] [--force]\nwg-profile list [--long]\nwg-profile show|edit|remove|path NAME\nwg-profile genkey\nwg-profile pubkey",
            commands: "",
            exit: TOOL_EXIT,
            environment: "VISUAL or EDITOR (edit). XDG_CONFIG_HOME or HOME locate the profiles.",
            files: FILES,
            examples: "wg-profile import ~/Downloads/work.conf\nwg-profile import - home < home.conf\nwg-profile list --long\nwg-profile show work\nwg-profile edit work",
        },
    }
}

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
pub fn page(applet: &str, help: &str, version: &str) -> String {
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
    let extra = extra(applet);
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
    if !extra.commands.is_empty() {
        out.push_str(".SH COMMANDS\n");
        for line in extra.commands.lines() {
            let (term, text) = line.split_once('\t').unwrap_or((line, ""));
            out.push_str(&format!(".TP\n.B {}\n{}\n", roff(term), roff(text)));
        }
    }
    for (title, items) in lists {
        out.push_str(&format!(".SH {}\n", title.to_uppercase()));
        for (term, text) in items {
            let term = with_placeholder(&term, &usage);
            out.push_str(&format!(".TP\n.B {}\n{}\n", roff(&term), roff(&text)));
        }
    }
    out.push_str(&format!(".SH \"EXIT STATUS\"\n{}", lines(extra.exit)));
    out.push_str(&format!(".SH ENVIRONMENT\n{}\n", roff(extra.environment)));
    out.push_str(&format!(".SH FILES\n{}", lines(extra.files)));
    out.push_str(&format!(
        ".SH EXAMPLES\n.nf\n{}\n.fi\n",
        roff(extra.examples)
    ));
    let others: Vec<String> = [
        "wg-wrap",
        "wg-unshare",
        "wg-up",
        "wg-pin",
        "wg-exec",
        "wg-profile",
    ]
    .iter()
    .filter(|a| **a != applet)
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
