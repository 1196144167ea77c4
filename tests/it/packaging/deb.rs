//! The Debian package: built with cargo-deb, installed with dpkg on this
//! machine, used for real as the unprivileged user, then purged.

use crate::common::net::{self, Net};
use crate::common::{Cmd, Sandbox};
use std::path::Path;
use std::process::Command;

/// Purges the package even when the test fails half-way.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "wg-wrap"]).output();
    }
}

const FILES: &[&str] = &[
    "/usr/bin/wg-wrap",
    "/usr/bin/wg-unshare",
    "/usr/bin/wg-up",
    "/usr/bin/wg-exec",
    "/usr/bin/wg-pin",
    "/usr/bin/wg-profile",
    "/usr/share/man/man1/wg-wrap.1.gz",
    "/usr/share/man/man5/wg-wrap-profile.5.gz",
    "/usr/share/bash-completion/completions/wg-wrap",
    "/usr/share/bash-completion/completions/wg-up",
    "/usr/share/fish/vendor_completions.d/wg-up.fish",
    "/usr/share/zsh/vendor-completions/_wg-wrap",
    "/usr/share/fish/vendor_completions.d/wg-wrap.fish",
    "/etc/apparmor.d/wg-wrap",
    "/usr/lib/systemd/user/wg-wrap-pin@.service",
    "/usr/share/doc/wg-wrap/README.md",
];

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_deb_installs_works_and_purges_clean() {
    assert!(
        !Path::new("/usr/bin/wg-wrap").exists(),
        "/usr/bin/wg-wrap exists already: this test installs and purges the package itself"
    );
    let out_dir = Sandbox::new();
    let built = run(Command::new(env!("CARGO"))
        .args(["deb", "--output"])
        .arg(&out_dir.root)
        .current_dir(env!("CARGO_MANIFEST_DIR")));
    let deb = built
        .lines()
        .rev()
        .find(|l| l.trim().ends_with(".deb"))
        .unwrap_or_else(|| panic!("no .deb in: {built}"))
        .trim()
        .to_string();

    // Debian's checks: no error (warnings are allowed).
    let lint = Command::new("lintian")
        .arg(&deb)
        .output()
        .expect("lintian (installed by .ci/run)");
    let report = String::from_utf8_lossy(&lint.stdout);
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian: {report}");
    let _installed = Installed;
    run(Command::new("dpkg").args(["-i", &deb]));
    for file in FILES {
        assert!(
            Path::new(file).symlink_metadata().is_ok(),
            "{file} not installed"
        );
    }
    assert_eq!(
        std::fs::read_link("/usr/bin/wg-up").unwrap(),
        Path::new("wg-wrap")
    );

    let mut net = Net::with_wireguard_go_server();
    net.start_httpd("installed-token", 1);
    let sb = &net.sb;
    let installed = |program: &str| Cmd::from(sb, Path::new(program)).in_netns(&net.host_ns);
    assert_eq!(
        installed("/usr/bin/wg-wrap").arg("--version").run().ok(),
        format!("wg-wrap {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(
        installed("/usr/bin/wg-up")
            .arg("--help")
            .run()
            .ok()
            .starts_with("Usage: wg-up")
    );
    assert_eq!(
        run(Command::new("man").args(["-w", "wg-wrap"])).trim(),
        "/usr/share/man/man1/wg-wrap.1.gz"
    );
    installed("/usr/bin/wg-profile")
        .args(["import", "-", "vpn"])
        .stdin(net.profile("0.0.0.0/0, ::/0"))
        .run()
        .ok();
    let fetched = installed("/usr/bin/wg-wrap")
        .args(["vpn", "--", "curl", "-sS", "--max-time", "10"])
        .arg(format!("http://{}:8000/token", net::SERVER_TUN))
        .run();
    assert_eq!(fetched.ok(), "installed-token\n");

    run(Command::new("dpkg").args(["--purge", "wg-wrap"]));
    for file in FILES {
        assert!(
            Path::new(file).symlink_metadata().is_err(),
            "{file} left after purge"
        );
    }
    let status = Command::new("dpkg")
        .args(["-s", "wg-wrap"])
        .output()
        .unwrap();
    assert!(!status.status.success(), "dpkg still knows wg-wrap");
}
