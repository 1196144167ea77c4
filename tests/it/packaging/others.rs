//! The Arch PKGBUILD and the RPM spec parse, list their variables, and
//! install the same files as the Debian package.

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `command`; its standard output, once it has succeeded.
fn stdout_of(command: &mut Command) -> String {
    let out = command.output().expect("run it (installed by .ci/run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pkgbuild_parses_and_sets_its_variables() {
    let script = format!(
        "set -e; bash -n {ROOT}/packaging/arch/PKGBUILD; source {ROOT}/packaging/arch/PKGBUILD
         echo \"$pkgname $pkgver $pkgrel ${{#source[@]}}\"; declare -F package build prepare"
    );
    let text = stdout_of(Command::new("bash").args(["-c", &script]));
    assert!(
        text.starts_with(&format!("wg-wrap {} 1 1\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    for function in ["package", "build", "prepare"] {
        assert!(
            text.lines().any(|l| l == function),
            "{function}() missing: {text}"
        );
    }
}

#[test]
fn rpm_spec_parses() {
    let text = stdout_of(
        Command::new("rpmspec").args(["-P", &format!("{ROOT}/packaging/rpm/wg-wrap.spec")]),
    );
    assert!(
        text.contains(&format!("Version:        {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

#[test]
fn every_package_installs_every_applet_page_and_completion() {
    let pkgbuild = std::fs::read_to_string(format!("{ROOT}/packaging/arch/PKGBUILD")).unwrap();
    let spec = std::fs::read_to_string(format!("{ROOT}/packaging/rpm/wg-wrap.spec")).unwrap();
    let cargo = std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).unwrap();
    for needle in [
        "wg-unshare",
        "wg-up",
        "wg-exec",
        "wg-pin",
        "wg-profile",
        "wg-wrap-profile.5",
        "_wg-wrap",
        "wg-wrap.fish",
        "apparmor",
        "wg-wrap-pin@.service",
    ] {
        assert!(pkgbuild.contains(needle), "PKGBUILD lacks {needle}");
        assert!(spec.contains(needle), "spec lacks {needle}");
        assert!(cargo.contains(needle), "cargo-deb metadata lacks {needle}");
    }
}

/// The systemd user unit that keeps a pin (`wg-wrap-pin@NAME`) is one
/// systemd-analyze accepts without a word (binaries and man pages as
/// installed: here the built binary and packaging/man).
#[test]
fn the_pin_unit_verifies() {
    let dir = std::env::temp_dir().join(format!("wgwrap-unit-{}", std::process::id()));
    let man1 = dir.join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    for page in std::fs::read_dir(format!("{ROOT}/packaging/man"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(page.path(), man1.join(page.file_name())).unwrap();
    }
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for applet in ["wg-wrap", "wg-pin"] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_wg-wrap"), bin.join(applet)).unwrap();
    }
    let unit = std::fs::read_to_string(format!("{ROOT}/packaging/systemd/wg-wrap-pin@.service"))
        .unwrap()
        .replace("/usr/bin/", &format!("{}/", bin.display()));
    std::fs::write(dir.join("wg-wrap-pin@.service"), unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("wg-wrap-pin@work.service"))
        .env("MANPATH", dir.join("man"))
        .output()
        .expect("systemd-analyze");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{out:?}");
}
