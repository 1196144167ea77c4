//! Shell completions, computed from the same tables as `--help`: each
//! applet's options (argh's `ArgsInfo`), wg-wrap's words (`words`) and the
//! chain's grammar (`chain::links`). The scripts `--completions SHELL`
//! prints only ask the binary (`wg-wrap --complete -- WORD...`, the word
//! being completed last) and hand its answer to the shell, so they cannot
//! drift from the options (as cobra's `__complete`).
//!
//! The answer is one candidate a line, or a directive the shell carries
//! out itself: `:commands` (a program on PATH), `:files`, `:files=.conf`
//! (files with that suffix), `:dirs`.

use argh::{CommandInfoWithArgs, FlagInfoKind};
use std::path::Path;
use wg_wrap::chain::links;

/// What the word being completed may be.
#[derive(Debug, PartialEq)]
enum Want {
    /// A stored profile's name.
    Profiles,
    /// PROFILE: a stored profile, or a .conf file.
    Profile,
    /// A profile, or a .conf file, or one of wg-wrap's words and applets.
    WrapFirst,
    Pins,
    PinsAndProfiles,
    Links(&'static [&'static str]),
    Words(Vec<String>),
    Commands,
    Files,
    Dirs,
    Nothing,
}

/// Where the walk over the words before the cursor ended.
struct Place {
    applet: &'static crate::Applet,
    /// The operands seen since this applet began (not options, not values).
    operands: Vec<String>,
    /// Past `--`, or into PROG's arguments: no more options.
    options_done: bool,
    /// `wg-wrap --join NAME` / `--pin NAME` was given.
    join: bool,
    pin: bool,
    /// The option whose value is being completed.
    value_of: Option<String>,
}

fn info(applet: &crate::Applet) -> CommandInfoWithArgs {
    (applet.info)()
}

/// The subcommand (of wg-profile) named by its first operand, if any.
fn subcommand(applet: &crate::Applet, operands: &[String]) -> Option<CommandInfoWithArgs> {
    let first = operands.first()?;
    info(applet)
        .commands
        .into_iter()
        .find(|c| c.name == first)
        .map(|c| c.command)
}

/// The options of `applet` (of its subcommand, once one is given) that take
/// a value; wg-wrap's own words with an operand count as such first words.
fn takes_value(place: &Place, option: &str) -> bool {
    let command = subcommand(place.applet, &place.operands).unwrap_or_else(|| info(place.applet));
    let flag = command
        .flags
        .iter()
        .find(|f| f.long == option || f.short.is_some_and(|s| option == format!("-{s}")));
    if let Some(flag) = flag {
        return matches!(flag.kind, FlagInfoKind::Option { .. });
    }
    place.applet.name == "wg-wrap"
        && place.operands.is_empty()
        && crate::words::find(option).is_some_and(|w| !w.operand.is_empty())
}

/// Walks the words before the cursor by the grammar.
fn walk(before: &[String]) -> Option<Place> {
    let name = Path::new(before.first()?).file_name()?.to_str()?;
    let mut applet = crate::APPLETS.iter().find(|a| a.name == name)?;
    let mut at = 1;
    if applet.name == "wg-wrap"
        && let Some(other) = before.get(1).and_then(|w| crate::find(w))
        && other.name != "wg-wrap"
    {
        applet = other;
        at = 2;
    }
    let mut place = Place {
        applet,
        operands: Vec::new(),
        options_done: false,
        join: false,
        pin: false,
        value_of: None,
    };
    while at < before.len() {
        let word = &before[at];
        at += 1;
        if place.options_done || !word.starts_with('-') || word == "-" {
            // The next link of a chain begins where its grammar says.
            let link = links::link(place.applet.name);
            let operands_wanted = link.map_or(usize::MAX, |l| usize::from(l.operand.is_some()));
            if place.operands.len() == operands_wanted
                && let Some(next) = links::applet_of(word.as_ref())
                && links::next_of(place.applet.name).contains(&next)
                && let Some(next) = crate::find(next)
            {
                place = Place {
                    applet: next,
                    ..place_reset(place)
                };
                continue;
            }
            place.operands.push(word.clone());
            continue;
        }
        if word == "--" {
            place.options_done = true;
            continue;
        }
        if word == "--join" {
            place.join = true;
        }
        if word == "--pin" {
            place.pin = true;
        }
        if takes_value(&place, word) && !word.contains('=') {
            if at == before.len() {
                place.value_of = Some(word.clone());
            }
            at += 1;
        }
    }
    Some(place)
}

fn place_reset(place: Place) -> Place {
    Place {
        operands: Vec::new(),
        options_done: false,
        value_of: None,
        ..place
    }
}

/// What may come at `place`, the word being completed starting with `cur`.
fn want(place: &Place, cur: &str) -> Want {
    let name = place.applet.name;
    if let Some(option) = &place.value_of {
        let arg_name = info(place.applet)
            .flags
            .iter()
            .find(|f| f.long == option)
            .and_then(|f| match f.kind {
                FlagInfoKind::Option { arg_name } => Some(arg_name),
                FlagInfoKind::Switch => None,
            })
            .or_else(|| crate::words::find(option).map(|w| w.operand));
        return match (option.as_str(), arg_name) {
            ("--join" | "--remove", _) => Want::Pins,
            (_, Some("DIR")) => Want::Dirs,
            (_, Some("APPLET")) => {
                Want::Words(crate::names().iter().map(|n| n.to_string()).collect())
            }
            (_, Some("SHELL")) => Want::Words(SHELLS.iter().map(|s| s.to_string()).collect()),
            _ => Want::Nothing,
        };
    }
    // In PROG's arguments (past its name), the shell's own file completion.
    let in_prog = match name {
        "wg-exec" => !place.operands.is_empty(),
        "wg-wrap" if place.join => !place.operands.is_empty(),
        "wg-wrap" => place.operands.len() >= 2 && place.operands[0] != "status",
        _ => false,
    };
    if in_prog {
        return Want::Files;
    }
    if cur.starts_with('-') && !place.options_done {
        return Want::Words(options(place));
    }
    let n = place.operands.len();
    match name {
        "wg-wrap" if place.join => Want::Commands,
        "wg-wrap" if n == 0 && place.pin => Want::Profile,
        "wg-wrap" if n == 0 => Want::WrapFirst,
        "wg-wrap" if place.operands[0] == "status" => {
            if n == 1 {
                Want::PinsAndProfiles
            } else {
                Want::Nothing
            }
        }
        "wg-wrap" | "wg-exec" => Want::Commands,
        "wg-profile" => match subcommand(place.applet, &place.operands) {
            None if n == 0 => Want::Words(
                info(place.applet)
                    .commands
                    .iter()
                    .map(|c| c.name.to_string())
                    .collect(),
            ),
            None => Want::Nothing,
            Some(command) => match command.positionals.get(n - 1).map(|p| p.name) {
                Some("NAME") if command.name != "import" => Want::Profiles,
                Some("FILE") => Want::Files,
                _ => Want::Nothing,
            },
        },
        _ => match links::link(name) {
            Some(link) if n == 0 && link.operand == Some("PROFILE") => Want::Profile,
            Some(link) if n == 0 && link.operand.is_some() => Want::Nothing,
            Some(link) => Want::Links(link.next),
            None => Want::Nothing,
        },
    }
}

/// The options of the applet (or its subcommand), `--version` too; for
/// wg-wrap's first word, its own words that are options.
fn options(place: &Place) -> Vec<String> {
    let command = subcommand(place.applet, &place.operands);
    let mut all: Vec<String> = match &command {
        Some(command) => command.flags.iter().map(|f| f.long.to_string()).collect(),
        None => info(place.applet)
            .flags
            .iter()
            .map(|f| f.long.to_string())
            .collect(),
    };
    if command.is_none() {
        all.push("--version".into());
    }
    if place.applet.name == "wg-wrap" && place.operands.is_empty() {
        all.extend(
            (crate::words::WORDS.iter())
                .filter(|w| w.word.starts_with('-') && w.shown)
                .map(|w| w.word.to_string()),
        );
    }
    all
}

pub const SHELLS: &[&str] = &["bash", "zsh", "fish"];

fn profiles() -> Vec<String> {
    (wg_wrap::profile::Store::from_env().ok())
        .and_then(|store| store.list().ok())
        .unwrap_or_default()
}

fn pins() -> Vec<String> {
    wg_wrap::live::dir()
        .map(|runtime| wg_wrap::pin::live_names(&runtime))
        .unwrap_or_default()
}

/// The answer for `words` (the command's name first, the word being
/// completed last): lines of candidates and directives.
pub fn answer(words: &[String]) -> Vec<String> {
    let Some((cur, before)) = words.split_last() else {
        return Vec::new();
    };
    let Some(place) = walk(before) else {
        return Vec::new();
    };
    let mut lines: Vec<String> = match want(&place, cur) {
        Want::Profiles => profiles(),
        Want::Profile => profiles()
            .into_iter()
            .chain([":files=.conf".to_string()])
            .collect(),
        Want::WrapFirst => {
            let mut all = profiles();
            all.push(":files=.conf".into());
            all.extend(
                (crate::words::WORDS.iter())
                    .filter(|w| !w.word.starts_with('-'))
                    .map(|w| w.word.to_string()),
            );
            all.extend(
                crate::APPLETS
                    .iter()
                    .filter_map(|a| a.name.strip_prefix("wg-"))
                    .filter(|a| *a != "wrap")
                    .map(str::to_string),
            );
            all
        }
        Want::Pins => pins(),
        Want::PinsAndProfiles => pins().into_iter().chain(profiles()).collect(),
        Want::Links(next) => next.iter().map(|n| n.to_string()).collect(),
        Want::Words(words) => words,
        Want::Commands => vec![":commands".into()],
        Want::Files => vec![":files".into()],
        Want::Dirs => vec![":dirs".into()],
        Want::Nothing => Vec::new(),
    };
    lines.retain(|l| l.starts_with(':') || l.starts_with(cur.as_str()));
    lines.sort();
    lines.dedup();
    lines
}

const BASH: &str = r#"# bash completion for wg-wrap and its applets, printed by
# `wg-wrap --completions bash`: the candidates come from the binary itself.
_wg_wrap() {
    local cur=${COMP_WORDS[COMP_CWORD]} line
    local words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
    words[0]=${words[0]##*/}
    COMPREPLY=()
    while IFS= read -r line; do
        case $line in
            :commands) COMPREPLY+=($(compgen -c -- "$cur")) ;;
            :dirs) COMPREPLY+=($(compgen -d -- "$cur")) ;;
            :files) COMPREPLY+=($(compgen -f -- "$cur")) ;;
            :files=*) COMPREPLY+=($(compgen -f -X "!*${line#:files=}" -- "$cur")) ;;
            *) COMPREPLY+=("$line") ;;
        esac
    done < <(wg-wrap --complete -- "${words[@]}" 2>/dev/null)
}
complete -F _wg_wrap APPLETS
"#;

const ZSH: &str = r#"#compdef APPLETS
# zsh completion for wg-wrap and its applets, printed by
# `wg-wrap --completions zsh`: the candidates come from the binary itself.
_wg_wrap() {
    local line
    local -a found
    for line in "${(@f)$(wg-wrap --complete -- "${words[1]:t}" "${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
        case $line in
            :commands) _command_names -e ;;
            :dirs) _directories ;;
            :files) _files ;;
            :files=*) _files -g "*${line#:files=}" ;;
            ?*) found+=("$line") ;;
        esac
    done
    (( ${#found} )) && compadd -a found
    return 0
}
_wg_wrap "$@"
"#;

const FISH: &str = r#"# fish completion for wg-wrap and its applets, printed by
# `wg-wrap --completions fish`: the candidates come from the binary itself.
function __wg_wrap_complete
    set -l words (commandline -opc) (commandline -ct)
    set words[1] (string replace -r '.*/' '' -- $words[1])
    for line in (wg-wrap --complete -- $words 2>/dev/null)
        switch $line
            case :commands
                __fish_complete_command
            case :dirs
                __fish_complete_directories (commandline -ct)
            case :files
                __fish_complete_path (commandline -ct)
            case ':files=*'
                __fish_complete_suffix (string replace ':files=' '' -- $line)
            case '*'
                echo $line
        end
    end
end
for applet in APPLETS
    complete -c $applet -f -a '(__wg_wrap_complete)'
end
"#;

/// The script for `shell`, naming every applet.
pub fn script(shell: &str) -> Option<String> {
    let template = match shell {
        "bash" => BASH,
        "zsh" => ZSH,
        "fish" => FISH,
        _ => return None,
    };
    Some(template.replace("APPLETS", &crate::names().join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(line: &str) -> (Place, String) {
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        let cur = words.pop().unwrap();
        (walk(&words).unwrap(), cur)
    }

    fn wants(line: &str) -> Want {
        let (place, cur) = place(line);
        want(&place, &cur)
    }

    #[test]
    fn places_in_the_chain() {
        assert_eq!(wants("wg-wrap "), Want::WrapFirst);
        assert_eq!(wants("wg-wrap --pin x "), Want::Profile);
        assert_eq!(wants("wg-wrap --join dl -- cur"), Want::Commands);
        assert_eq!(wants("wg-wrap --join dl cur"), Want::Commands);
        assert_eq!(wants("wg-wrap --join dl curl -"), Want::Files);
        assert_eq!(wants("wg-wrap work -- cur"), Want::Commands);
        assert_eq!(wants("wg-wrap -v work cur"), Want::Commands);
        assert_eq!(wants("wg-wrap status "), Want::PinsAndProfiles);
        assert_eq!(wants("wg-wrap --join "), Want::Pins);
        assert_eq!(wants("wg-wrap --install "), Want::Dirs);
        assert_eq!(wants("wg-wrap --handshake-timeout "), Want::Nothing);
        assert_eq!(wants("wg-unshare work "), Want::Links(&["wg-up"]));
        assert_eq!(
            wants("wg-unshare --publish 80:80 work wg-up "),
            Want::Links(&["wg-exec", "wg-pin"])
        );
        assert_eq!(
            wants("wg-unshare work wg-up --handshake-timeout 3 wg-pin dl "),
            Want::Links(&["wg-exec"])
        );
        assert_eq!(wants("wg-unshare work wg-up wg-exec "), Want::Commands);
        assert_eq!(wants("wg-pin --remove "), Want::Pins);
        assert_eq!(wants("wg-profile show "), Want::Profiles);
        assert_eq!(wants("wg-wrap profile edit "), Want::Profiles);
        assert_eq!(wants("wg-profile import "), Want::Files);
        assert_eq!(wants("wg-profile import work.conf "), Want::Nothing);
    }

    #[test]
    fn options_come_from_the_option_tables() {
        let Want::Words(options) = wants("wg-pin --") else {
            panic!()
        };
        let mut options = options;
        options.sort();
        assert_eq!(
            options,
            ["--help", "--json", "--list", "--remove", "--version"]
        );
        let Want::Words(options) = wants("wg-wrap --") else {
            panic!()
        };
        assert!(
            options.contains(&"--man".to_string()) && !options.contains(&"--complete".to_string())
        );
        let Want::Words(options) = wants("wg-profile import --") else {
            panic!()
        };
        assert!(options.contains(&"--force".to_string()), "{options:?}");
        // After PROFILE, a dash is PROG's.
        assert_eq!(wants("wg-wrap work -- curl --"), Want::Files);
    }
}
