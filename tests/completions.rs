//! Shell completions: bash completes applets, options, profiles and pins;
//! the zsh and fish files parse.

mod common;

use common::{Cmd, Sandbox, sample_profile};
use std::path::Path;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/completions");

/// What bash offers for the words of `line` (the last one being completed).
fn complete(sb: &Sandbox, line: &str) -> Vec<String> {
    let script = format!(
        "source {DIR}/wg-wrap.bash
         COMP_WORDS=({line}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
         case \"{line}\" in *' ') COMP_WORDS+=(''); COMP_CWORD=${{#COMP_WORDS[@]}}; COMP_CWORD=$((COMP_CWORD - 1));; esac
         _wg_wrap; printf '%s\\n' \"${{COMPREPLY[@]}}\" | sort -u"
    );
    let out = Cmd::from(sb, Path::new("/bin/bash"))
        .args(["-c", &script])
        .run();
    out.ok()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_applets_options_profiles_and_subcommands() {
    let sb = Sandbox::new();
    let file = sb.user_file("work.conf", sample_profile(), 0o600);
    sb.cmd("wg-profile").arg("import").arg(&file).run().ok();
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

/// What fish offers for `line` (candidates only, without descriptions).
fn complete_fish(sb: &Sandbox, line: &str) -> Vec<String> {
    let script = format!("source {DIR}/wg-wrap.fish; complete -C '{line}'");
    let out = Cmd::from(sb, Path::new("/usr/bin/fish"))
        .args(["-c", &script])
        .run();
    let mut found: Vec<String> = out
        .ok()
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// fish: the same places as bash (PROG after `--` and after --join NAME,
/// PROFILE after --pin NAME, pins and profiles after status).
#[test]
fn fish_completes_the_same_places() {
    let sb = Sandbox::new();
    let file = sb.user_file("work.conf", sample_profile(), 0o600);
    sb.cmd("wg-profile").arg("import").arg(&file).run().ok();
    assert_eq!(complete_fish(&sb, "wg-wrap status "), ["work"]);
    assert_eq!(complete_fish(&sb, "wg-wrap --pin x "), ["work"]);
    assert!(complete_fish(&sb, "wg-wrap --join dl -- cur").contains(&"curl".to_string()));
    assert!(complete_fish(&sb, "wg-wrap --join dl cur").contains(&"curl".to_string()));
    assert_eq!(
        complete_fish(&sb, "wg-pin --"),
        ["--help", "--json", "--list", "--remove", "--version"]
    );
}

#[test]
fn zsh_and_fish_completions_parse() {
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
