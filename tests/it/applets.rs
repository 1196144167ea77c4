//! The multi-call binary: dispatch, --help, --version, --install.

use crate::common::{Sandbox, sample_profile};
use std::fs;

#[test]
fn every_applet_answers_help_and_version() {
    let sb = Sandbox::new();
    let applets = sb.applets();
    assert!(applets.contains(&"wg-wrap".to_string()));
    assert!(applets.contains(&"wg-profile".to_string()));
    for applet in &applets {
        let help = sb.cmd(applet).arg("--help").run();
        let text = help.ok();
        assert!(text.starts_with(&format!("Usage: {applet}")), "{text}");
        assert!(text.contains("--version"), "{text}");
        let version = sb.cmd(applet).arg("--version").run();
        assert_eq!(
            version.ok(),
            format!("{applet} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn wg_wrap_runs_applets_by_their_short_name() {
    let sb = Sandbox::new();
    let file = sb.user_file("work.conf", sample_profile(), 0o600);
    sb.cmd("wg-wrap")
        .args(["profile", "import"])
        .arg(&file)
        .run()
        .ok();
    assert_eq!(
        sb.cmd("wg-wrap").args(["profile", "list"]).run().ok(),
        "work\n"
    );
    assert_eq!(
        sb.cmd("wg-wrap").args(["wg-profile", "list"]).run().ok(),
        "work\n"
    );
    // Errors name the applet that failed.
    sb.cmd("wg-wrap")
        .args(["profile", "show", "x"])
        .run()
        .fails(125, "wg-profile: no profile \"x\"");
    sb.cmd("wg-wrap")
        .arg("bogus")
        .run()
        .fails(125, "wg-wrap: missing PROG");
    sb.cmd("wg-wrap")
        .args(["bogus", "--", "true"])
        .run()
        .fails(125, "wg-unshare: no profile \"bogus\" (profiles: work)");
    sb.cmd("wg-wrap").arg("--bogus").run().fails(
        125,
        "wg-wrap: unrecognized argument: --bogus (try 'wg-wrap --help')",
    );
}

#[test]
fn unknown_argv0_is_refused() {
    let sb = Sandbox::new();
    std::os::unix::fs::symlink("wg-wrap", sb.bin.join("wg-nothing")).unwrap();
    sb.cmd("wg-nothing")
        .run()
        .fails(125, "wg-wrap: unknown applet \"wg-nothing\"");
}

#[test]
fn install_makes_working_links_idempotently() {
    let sb = Sandbox::new();
    let dir = sb.home.join("bin");
    fs::create_dir(&dir).unwrap();
    sb.chown(&dir);
    sb.cmd("wg-wrap").arg("--install").arg(&dir).run().ok();
    for applet in sb.applets() {
        let link = dir.join(&applet);
        let target = fs::read_link(&link).unwrap();
        assert_eq!(target, sb.bin.join("wg-wrap"), "{applet}");
        let out = crate::common::Cmd::from(&sb, &link).arg("--version").run();
        assert_eq!(
            out.ok(),
            format!("{applet} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    // Again: nothing to do, still fine.
    sb.cmd("wg-wrap").arg("--install").arg(&dir).run().ok();
    // The links work as applets.
    let file = sb.user_file("work.conf", sample_profile(), 0o600);
    crate::common::Cmd::from(&sb, &dir.join("wg-profile"))
        .args(["import"])
        .arg(&file)
        .run()
        .ok();
    assert_eq!(
        crate::common::Cmd::from(&sb, &dir.join("wg-profile"))
            .arg("list")
            .run()
            .ok(),
        "work\n"
    );
}

#[test]
fn install_refuses_to_replace_what_is_not_its_own() {
    let sb = Sandbox::new();
    let dir = sb.home.join("bin");
    fs::create_dir(&dir).unwrap();
    sb.chown(&dir);
    let foreign = dir.join("wg-profile");
    fs::write(&foreign, "#!/bin/sh\necho mine\n").unwrap();
    sb.chown(&foreign);
    let out = sb.cmd("wg-wrap").arg("--install").arg(&dir).run();
    out.fails(
        125,
        &format!(
            "cannot install {}: it exists and is not a link to",
            foreign.display()
        ),
    );
    assert_eq!(
        fs::read_to_string(&foreign).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    // Nothing was half-done.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    // A link to something else is refused too.
    fs::remove_file(&foreign).unwrap();
    std::os::unix::fs::symlink("/bin/true", &foreign).unwrap();
    sb.cmd("wg-wrap")
        .arg("--install")
        .arg(&dir)
        .run()
        .fails(125, "is not a link to");
    sb.cmd("wg-wrap")
        .arg("--install")
        .arg(sb.home.join("missing"))
        .run()
        .fails(125, "no such file or directory");
}

#[test]
fn man_pages_match_the_help_of_every_applet() {
    let sb = Sandbox::new();
    for applet in sb.applets() {
        let generated = sb.cmd("wg-wrap").args(["--man", &applet]).run();
        let path = format!("{}/packaging/man/{applet}.1", env!("CARGO_MANIFEST_DIR"));
        let checked_in = fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path} is missing"));
        assert_eq!(
            generated.ok(),
            checked_in,
            "{path} drifted from --help: regenerate it with `wg-wrap --man {applet} > {path}`"
        );
        let help = sb.cmd(&applet).arg("--help").run();
        for option in help
            .ok()
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("--"))
        {
            let name = option
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches(',');
            assert!(
                checked_in.contains(&format!("\\-\\-{}", name.replace('-', "\\-"))),
                "{applet}: --{name} missing from the man page"
            );
        }
    }
    sb.cmd("wg-wrap")
        .args(["--man", "wg-nope"])
        .run()
        .fails(125, "wg-wrap: unknown applet \"wg-nope\"");
    assert!(
        fs::metadata(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/packaging/man/wg-wrap-profile.5"
        ))
        .is_ok()
    );
}

/// Output to a pipe whose reader is gone loses the text, not the exit status:
/// a failure is still 125 (not a panic's 101) and a listing still 0.
#[test]
fn a_closed_pipe_changes_no_exit_status() {
    let sb = Sandbox::new();
    let wrap = sb.bin.join("wg-wrap");
    let script = format!(
        "( sleep 0.3; {w} no-such-profile -- true; echo $? > {h}/failed; {w} --list; echo $? > {h}/listed ) 2>&1 | true; sleep 1",
        w = wrap.display(),
        h = sb.home.display()
    );
    crate::common::Cmd::from(&sb, std::path::Path::new("/bin/sh"))
        .args(["-c", &script])
        .run();
    let read = |name: &str| fs::read_to_string(sb.home.join(name)).unwrap_or_default();
    assert_eq!(read("failed").trim(), "125");
    assert_eq!(read("listed").trim(), "0");
}

/// Everyday mistakes, each one line that names the real mistake.
#[test]
fn everyday_mistakes_say_what_to_do() {
    let net = crate::common::net::Net::with_wireguard_go_server();
    net.import("work", &net.profile("198.19.0.0/24"));
    // The pin's name forgotten: "work" became the pin's name.
    net.wrap(&["--pin", "work", "--", "true"]).run().fails(
        125,
        "wg-wrap: missing PROFILE or PROG (--pin takes the pin's name, then comes PROFILE: `wg-wrap --pin NAME work -- true`)",
    );
    // An option after PROFILE.
    net.wrap(&["work", "-v", "--", "true"]).run().fails(
        125,
        "wg-wrap: -v after PROFILE is taken as PROG (options go before PROFILE: `wg-wrap -v work -- PROG`)",
    );
    // A link run on the host, out of its chain.
    net.wrap(&["up", "true"]).run().fails(
        125,
        "wg-up: WG_WRAP_CONF_FD is not set: wg-unshare must run before this link",
    );
    // Inside a wrapped shell, the profiles are hidden: it says so, and the
    // shell knows which namespace it is in.
    let out = net
        .wrap(&[
            "work",
            "--",
            "sh",
            "-c",
            "echo $WGWRAP_NAMESPACE; wg-wrap other -- true",
        ])
        .run();
    assert_eq!(out.code, 125, "{out:?}");
    assert_eq!(out.stdout, "work\n");
    assert!(
        out.stderr.ends_with("wg-unshare: no profile \"other\" (this runs inside the wg-wrap namespace work, where the profiles are hidden: run wg-wrap from outside)\n"),
        "{out:?}"
    );
    // A pin whose engine has ended.
    net.wrap(&["--pin", "gone", "work", "--", "true"])
        .run()
        .ok();
    let engine = net.pin_engine("gone");
    std::process::Command::new("kill")
        .args(["-KILL", &engine])
        .status()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    net.wrap(&["--join", "gone", "--", "true"]).run().fails(
        125,
        &format!("wg-exec: pin \"gone\" was stale (its engine {engine} had ended) and is removed (make it again: `wg-wrap --pin gone work -- true`)"),
    );
}

/// Each man page: NAME a short phrase (what `whatis` shows), SYNOPSIS the
/// real forms (not argh's `[rest...]`), options with their placeholders,
/// SEE ALSO the other applets and not the page itself.
#[test]
fn man_pages_read_as_man_pages() {
    let sb = Sandbox::new();
    for applet in sb.applets() {
        let page = std::process::Command::new(sb.bin.join("wg-wrap"))
            .args(["--man", &applet])
            .output()
            .unwrap();
        let page = String::from_utf8(page.stdout).unwrap();
        let name = page
            .lines()
            .skip_while(|l| *l != ".SH NAME")
            .nth(1)
            .unwrap();
        assert!(name.len() < 90 && !name.contains(". "), "{applet}: {name}");
        assert!(
            !page.contains("rest..."),
            "{applet}: argh's [rest...] in the page"
        );
        let see_also = page.split(".SH \"SEE ALSO\"\n").nth(1).unwrap();
        let own = format!("{}(1)", applet.replace('-', "\\-"));
        assert!(
            !see_also.contains(&own),
            "{applet} lists itself: {see_also}"
        );
        assert!(see_also.contains("wg\\-wrap\\-profile(5)"), "{see_also}");
    }
    let wrap = std::process::Command::new(sb.bin.join("wg-wrap"))
        .args(["--man", "wg-wrap"])
        .output()
        .unwrap();
    let wrap = String::from_utf8(wrap.stdout).unwrap();
    assert!(wrap.contains(".B \\-\\-join NAME\n"), "{wrap}");
    assert!(
        wrap.contains(".SH COMMANDS\n.TP\n.B status [NAME]\n"),
        "{wrap}"
    );
}
