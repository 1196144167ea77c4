//! Shell completions, in bash, zsh and fish: applets, options, profiles
//! and pins, asked of the binary by the scripts `--completions` prints (and
//! packaging/completions holds).

use crate::common::{Cmd, Sandbox, sample_profile};
use std::path::Path;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/completions");

/// What bash offers for the words of `line` (the last one being completed).
fn complete(sb: &Sandbox, line: &str) -> Vec<String> {
    let script = format!(
        "source {DIR}/wg-wrap.bash
         COMP_WORDS=({line}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
         case \"{line}\" in *' ') COMP_WORDS+=(''); COMP_CWORD=${{#COMP_WORDS[@]}}; COMP_CWORD=$((COMP_CWORD - 1));; esac
         _wg_wrap; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let out = Cmd::from(sb, Path::new("/bin/bash"))
        .args(["-c", &script])
        .run();
    candidates(out.ok())
}

#[test]
fn bash_completes_applets_options_profiles_and_subcommands() {
    let sb = with_profile();
    // A stored profile, and a .conf file in the current directory.
    assert_eq!(complete(&sb, "wg-wrap wo"), ["work", "work.conf"]);
    assert!(complete(&sb, "wg-wrap ").contains(&"doctor".to_string()));
    assert_eq!(complete(&sb, "wg-wrap --jo"), ["--join"]);
    assert_eq!(
        complete(&sb, "wg-up --h"),
        ["--handshake-timeout", "--help"]
    );
    assert_eq!(complete(&sb, "wg-profile ge"), ["genkey"]);
    assert_eq!(complete(&sb, "wg-profile show "), ["work"]);
    assert_eq!(complete(&sb, "wg-wrap profile edit w"), ["work"]);
    assert_eq!(complete(&sb, "wg-unshare work "), ["wg-up"]);
    assert_eq!(complete(&sb, "wg-up "), ["wg-exec", "wg-pin"]);
    assert_eq!(complete(&sb, "wg-pin --re"), ["--remove"]);
    // PROG after `--` and after --join NAME; PROFILE after --pin NAME;
    // pins and profiles after `status`; options from --help's list only.
    assert!(complete(&sb, "wg-wrap --join dl -- cur").contains(&"curl".to_string()));
    assert!(complete(&sb, "wg-wrap --join dl cur").contains(&"curl".to_string()));
    assert!(complete(&sb, "wg-wrap work -- cur").contains(&"curl".to_string()));
    assert_eq!(complete(&sb, "wg-wrap --pin x "), ["work", "work.conf"]);
    assert_eq!(complete(&sb, "wg-wrap status "), ["work"]);
    assert_eq!(
        complete(&sb, "wg-pin --"),
        ["--help", "--json", "--list", "--remove", "--version"]
    );
}

/// The candidates a shell printed, one a line (a description after a tab
/// dropped), sorted, each once.
fn candidates(out: &str) -> Vec<String> {
    let mut found: Vec<String> = (out.lines())
        .filter_map(|l| l.split('\t').next())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// A sandbox with profile "work" stored and a work.conf beside.
fn with_profile() -> Sandbox {
    let sb = Sandbox::new();
    let file = sb.user_file("work.conf", sample_profile(), 0o600);
    sb.cmd("wg-profile").arg("import").arg(&file).run().ok();
    sb
}

/// What fish offers for `line` (candidates only, without descriptions).
fn complete_fish(sb: &Sandbox, line: &str) -> Vec<String> {
    let script = format!("source {DIR}/wg-wrap.fish; complete -C '{line}'");
    let out = Cmd::from(sb, Path::new("/usr/bin/fish"))
        .args(["-c", &script])
        .run();
    candidates(out.ok())
}

/// fish: the same places as bash (PROG after `--` and after --join NAME,
/// PROFILE after --pin NAME, pins and profiles after status).
#[test]
fn fish_completes_the_same_places() {
    let sb = with_profile();
    assert_eq!(complete_fish(&sb, "wg-wrap status "), ["work"]);
    assert_eq!(
        complete_fish(&sb, "wg-wrap --pin x "),
        ["work", "work.conf"]
    );
    assert!(complete_fish(&sb, "wg-wrap --join dl -- cur").contains(&"curl".to_string()));
    assert!(complete_fish(&sb, "wg-wrap --join dl cur").contains(&"curl".to_string()));
    assert_eq!(
        complete_fish(&sb, "wg-pin --"),
        ["--help", "--json", "--list", "--remove", "--version"]
    );
}

/// What zsh offers for `line`: the script run in zsh with `words` and
/// `CURRENT` set as the completion system sets them, and its builtins
/// (compadd, _files, _command_names) replaced by ones that print.
fn complete_zsh(sb: &Sandbox, line: &str) -> Vec<String> {
    let mut words: Vec<&str> = line.split(' ').collect();
    let prefix = words.last().copied().unwrap_or_default();
    let quoted: Vec<String> = words.drain(..).map(|w| format!("'{w}'")).collect();
    let script = format!(
        "compadd() {{ while (( $# )); do [[ $1 == -a ]] && {{ shift; print -l -- \"${{(@P)1}}\"; }}; shift; done }}
         _command_names() {{ print -l -- ${{(k)commands[(I){prefix}*]}} }}
         _files() {{ print -l -- {prefix}*(N) }}
         _directories() {{ print -l -- {prefix}*(N/) }}
         words=({}); CURRENT=${{#words}}; PREFIX='{prefix}'
         source {DIR}/_wg-wrap",
        quoted.join(" ")
    );
    let out = Cmd::from(sb, Path::new("/usr/bin/zsh"))
        .args(["-f", "-c", &script])
        .run();
    candidates(out.ok())
}

/// zsh: the same places as bash and fish.
#[test]
fn zsh_completes_the_same_places() {
    let sb = with_profile();
    assert_eq!(complete_zsh(&sb, "wg-wrap wo"), ["work", "work.conf"]);
    assert_eq!(complete_zsh(&sb, "wg-wrap status "), ["work"]);
    assert_eq!(complete_zsh(&sb, "wg-wrap --pin x "), ["work", "work.conf"]);
    assert!(complete_zsh(&sb, "wg-wrap --join dl -- cur").contains(&"curl".to_string()));
    assert!(complete_zsh(&sb, "wg-wrap --join dl cur").contains(&"curl".to_string()));
    assert_eq!(
        complete_zsh(&sb, "wg-pin --"),
        ["--help", "--json", "--list", "--remove", "--version"]
    );
    assert_eq!(complete_zsh(&sb, "wg-up "), ["wg-exec", "wg-pin"]);
    assert_eq!(complete_zsh(&sb, "wg-profile show "), ["work"]);
}

/// The scripts packaged are the ones the binary prints, and they parse.
#[test]
fn packaged_scripts_are_the_generated_ones_and_parse() {
    let sb = Sandbox::new();
    for (shell, file) in [
        ("bash", "wg-wrap.bash"),
        ("zsh", "_wg-wrap"),
        ("fish", "wg-wrap.fish"),
    ] {
        let generated = sb.cmd("wg-wrap").args(["--completions", shell]).run();
        let path = format!("{DIR}/{file}");
        let packaged = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            generated.ok(),
            packaged,
            "{path} drifted: regenerate it with `wg-wrap --completions {shell} > {path}`"
        );
    }
    sb.cmd("wg-wrap")
        .args(["--completions", "tcsh"])
        .run()
        .fails(
            125,
            "wg-wrap: no completions for \"tcsh\" (give bash, zsh or fish)",
        );
    let zsh = std::process::Command::new("zsh")
        .args(["-n", &format!("{DIR}/_wg-wrap")])
        .status()
        .expect("zsh (installed by .ci/run)");
    assert!(zsh.success());
    let fish = std::process::Command::new("fish")
        .args(["--no-execute", &format!("{DIR}/wg-wrap.fish")])
        .status()
        .expect("fish (installed by .ci/run)");
    assert!(fish.success());
}
