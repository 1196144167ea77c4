//! wg-profile as a user sees it: the store, its modes, and its refusals.

use crate::common::{Sandbox, keys, sample_profile, snapshot};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn import_from_file_then_list_show_path_remove() {
    let sb = Sandbox::new();
    let file = sb.user_file("work.conf", sample_profile(), 0o644);
    sb.cmd("wg-profile").args(["import"]).arg(&file).run().ok();

    assert_eq!(sb.cmd("wg-profile").arg("list").run().ok(), "work\n");
    let long = sb.cmd("wg-profile").args(["list", "--long"]).run();
    assert_eq!(
        long.ok(),
        "work\t198.18.0.1:51820\t198.18.100.2/32,fd00:100::2/128\n"
    );

    let path = sb.cmd("wg-profile").args(["path", "work"]).run();
    let stored = sb.store().join("profiles/work.conf");
    assert_eq!(path.ok(), format!("{}\n", stored.display()));
    assert_eq!(fs::read_to_string(&stored).unwrap(), sample_profile());
    assert_eq!(fs::metadata(&stored).unwrap().uid(), sb.user.uid);

    let show = sb.cmd("wg-profile").args(["show", "work"]).run();
    let text = show.ok();
    assert!(!text.contains(keys::CLIENT_PRIVATE), "{text}");
    assert!(!text.contains(keys::PRESHARED), "{text}");
    assert!(text.contains("PrivateKey = (hidden)"), "{text}");
    assert!(text.contains("PresharedKey = (hidden)"), "{text}");
    assert!(text.contains(keys::SERVER_PUBLIC), "{text}");
    assert!(text.contains("Endpoint = 198.18.0.1:51820"), "{text}");

    sb.cmd("wg-profile").args(["remove", "work"]).run().ok();
    assert!(!stored.exists());
    assert_eq!(sb.cmd("wg-profile").arg("list").run().ok(), "");
    sb.cmd("wg-profile")
        .args(["show", "work"])
        .run()
        .fails(125, "wg-profile: no profile \"work\"");
}

#[test]
fn import_from_stdin_needs_a_name() {
    let sb = Sandbox::new();
    sb.cmd("wg-profile")
        .args(["import", "-", "home"])
        .stdin(sample_profile())
        .run()
        .ok();
    let stored = sb.store().join("profiles/home.conf");
    assert_eq!(fs::read_to_string(stored).unwrap(), sample_profile());
    sb.cmd("wg-profile")
        .args(["import", "-"])
        .stdin(sample_profile())
        .run()
        .fails(125, "cannot import from standard input without a NAME");
}

#[test]
fn store_is_private_whatever_the_source_mode() {
    let sb = Sandbox::new();
    let file = sb.user_file("open.conf", sample_profile(), 0o666);
    sb.cmd("wg-profile")
        .args(["import"])
        .arg(&file)
        .arg("p")
        .run()
        .ok();
    assert_eq!(mode(&sb.store()), 0o700);
    assert_eq!(mode(&sb.store().join("profiles")), 0o700);
    assert_eq!(mode(&sb.store().join("profiles/p.conf")), 0o600);
    // No temporary file is left next to it.
    let names: Vec<_> = fs::read_dir(sb.store().join("profiles"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["p.conf"]);
}

#[test]
fn failed_imports_leave_the_store_byte_for_byte_unchanged() {
    let sb = Sandbox::new();
    let good = sb.user_file("work.conf", sample_profile(), 0o600);
    sb.cmd("wg-profile").args(["import"]).arg(&good).run().ok();
    let before = snapshot(&sb.store());

    let bad = sb.user_file("bad.conf", sample_profile().replace("/32", "/40"), 0o600);
    let out = sb
        .cmd("wg-profile")
        .args(["import"])
        .arg(&bad)
        .arg("work")
        .arg("--force")
        .run();
    out.fails(
        125,
        "line 3: Address: \"198.18.100.2/40\": prefix length must be 0 to 32",
    );
    assert_eq!(snapshot(&sb.store()), before);

    // Same name without --force: refused, old one kept.
    let other = sb.user_file(
        "other.conf",
        sample_profile().replace("MTU = 1400", "MTU = 1300"),
        0o600,
    );
    sb.cmd("wg-profile")
        .args(["import"])
        .arg(&other)
        .arg("work")
        .run()
        .fails(125, "profile \"work\" already exists (use --force");
    assert_eq!(snapshot(&sb.store()), before);

    for name in ["bad name", "x.conf", "wrap", "profile", "-x"] {
        sb.cmd("wg-profile")
            .args(["import"])
            .arg(&good)
            .arg("--")
            .arg(name)
            .run()
            .fails(125, &format!("invalid profile name \"{name}\""));
    }
    sb.cmd("wg-profile")
        .args(["import", "/nonexistent/x.conf"])
        .run()
        .fails(
            125,
            "cannot read profile /nonexistent/x.conf: no such file or directory",
        );
    sb.cmd("wg-profile")
        .args(["import", "-", "junk"])
        .stdin([0xffu8, 0, 1, 2, 0xfe])
        .run()
        .fails(125, "standard input: not a text file");
    assert_eq!(snapshot(&sb.store()), before);

    // --force replaces with a valid profile.
    sb.cmd("wg-profile")
        .args(["import", "--force"])
        .arg(&other)
        .arg("work")
        .run()
        .ok();
    assert!(
        fs::read_to_string(sb.store().join("profiles/work.conf"))
            .unwrap()
            .contains("MTU = 1300")
    );
}

#[test]
fn a_failed_first_import_creates_no_store() {
    let sb = Sandbox::new();
    let bad = sb.user_file("bad.conf", "[Interface]\n", 0o600);
    sb.cmd("wg-profile")
        .args(["import"])
        .arg(&bad)
        .run()
        .fails(125, "bad.conf line 1: [Interface] has no PrivateKey");
    assert!(!sb.store().exists());
}

#[test]
fn edit_with_a_scripted_editor() {
    let sb = Sandbox::new();
    let file = sb.user_file("work.conf", sample_profile(), 0o600);
    sb.cmd("wg-profile").args(["import"]).arg(&file).run().ok();
    let stored = sb.store().join("profiles/work.conf");

    sb.cmd("wg-profile")
        .args(["edit", "work"])
        .env("EDITOR", "sed -i s/MTU\\ =\\ 1400/MTU\\ =\\ 1320/")
        .run()
        .ok();
    let text = fs::read_to_string(&stored).unwrap();
    assert!(text.contains("MTU = 1320"), "{text}");
    assert_eq!(mode(&stored), 0o600);

    // VISUAL wins over EDITOR.
    sb.cmd("wg-profile")
        .args(["edit", "work"])
        .env("VISUAL", "sed -i s/MTU\\ =\\ 1320/MTU\\ =\\ 1330/")
        .env("EDITOR", "false")
        .run()
        .ok();
    let before = snapshot(&sb.store());
    assert!(fs::read_to_string(&stored).unwrap().contains("MTU = 1330"));

    let out = sb
        .cmd("wg-profile")
        .args(["edit", "work"])
        .env(
            "EDITOR",
            "sed -i s,AllowedIPs.*,AllowedIPs\\ =\\ 300.1.1.1/8,",
        )
        .run();
    let line = out.fails(
        125,
        "edit refused, \"work\" kept as it was: work.conf line 10: AllowedIPs:",
    );
    assert!(line.starts_with("wg-profile: "), "{line}");
    assert_eq!(snapshot(&sb.store()), before);

    sb.cmd("wg-profile")
        .args(["edit", "work"])
        .env("EDITOR", "false")
        .run()
        .fails(125, "editor \"false\" failed");
    assert_eq!(snapshot(&sb.store()), before);
    sb.cmd("wg-profile")
        .args(["edit", "nope"])
        .env("EDITOR", "true")
        .run()
        .fails(125, "no profile \"nope\" (profiles: work)");
}

#[test]
fn a_world_readable_store_directory_is_made_private() {
    let sb = Sandbox::new();
    let profiles = sb.store().join("profiles");
    fs::create_dir_all(&profiles).unwrap();
    for dir in [sb.home.join(".config"), sb.store(), profiles.clone()] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        sb.chown(&dir);
    }
    let file = sb.user_file("work.conf", sample_profile(), 0o600);
    sb.cmd("wg-profile").args(["import"]).arg(&file).run().ok();
    assert_eq!(mode(&sb.store()), 0o700);
    assert_eq!(mode(&profiles), 0o700);
}

#[test]
fn profile_errors_are_one_line_and_125() {
    let sb = Sandbox::new();
    sb.cmd("wg-profile").run().fails(
        125,
        "wg-profile: one of the following subcommands must be present",
    );
    sb.cmd("wg-profile")
        .arg("frobnicate")
        .run()
        .fails(125, "try 'wg-profile --help'");
    sb.cmd("wg-profile").args(["remove", "ghost"]).run().fails(
        125,
        "no profile \"ghost\" (no profiles yet: add one with `wg-profile import FILE`)",
    );
    sb.cmd("wg-profile")
        .args(["path", "ghost"])
        .run()
        .fails(125, "no profile \"ghost\"");
    sb.cmd("wg-profile")
        .arg("list")
        .env_remove("HOME")
        .env_remove("XDG_CONFIG_HOME")
        .run()
        .fails(125, "cannot find the profile store: HOME is not set");
    let huge = sb.user_file("huge.conf", "", 0o600);
    fs::File::options()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(3 << 20)
        .unwrap();
    sb.cmd("wg-profile")
        .args(["import"])
        .arg(&huge)
        .run()
        .fails(125, "huge.conf: larger than 1 MiB");
}

#[test]
fn genkey_and_pubkey_agree_with_wireguard_tools() {
    let sb = Sandbox::new();
    let private = sb
        .cmd("wg-profile")
        .arg("genkey")
        .run()
        .ok()
        .trim()
        .to_string();
    assert_eq!(private.len(), 44);
    let ours = sb
        .cmd("wg-profile")
        .arg("pubkey")
        .stdin(format!("{private}\n"))
        .run();
    let mut wg = std::process::Command::new("wg")
        .arg("pubkey")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    wg.stdin
        .take()
        .unwrap()
        .write_all(private.as_bytes())
        .unwrap();
    let theirs = wg.wait_with_output().unwrap();
    assert_eq!(ours.ok(), String::from_utf8(theirs.stdout).unwrap());
    sb.cmd("wg-profile")
        .arg("pubkey")
        .stdin("nonsense\n")
        .run()
        .fails(
            125,
            "wg-profile: standard input: private key is 6 bytes long",
        );
}

/// A FIFO nothing writes to, given as the profile: one line and 125, not a
/// hang.
#[test]
fn a_fifo_nobody_writes_to_is_refused() {
    let sb = Sandbox::new();
    let fifo = sb.home.join("profile.conf");
    crate::common::net::run_ok(std::process::Command::new("mkfifo").arg(&fifo));
    sb.chown(&fifo);
    sb.cmd("wg-wrap")
        .arg(&fifo)
        .args(["--", "true"])
        .run()
        .fails(125, "it is a FIFO and nothing wrote to it within 5 s");
}

/// Provider files as they come: a byte-order mark, a comment after a section
/// header, whitespace between Address and DNS items are taken; AllowedIPs
/// separated by spaces and a file name that is no profile name each get one
/// line saying what to do.
#[test]
fn provider_files_as_they_come() {
    let sb = Sandbox::new();
    let text = format!(
        "\u{feff}[Interface]\nPrivateKey = {}\nAddress = 198.19.10.20/32 fd00:1910::20/128\nDNS = 198.19.10.1 fd00:1910::1\n\n[Peer] # the one server\nPublicKey = {}\nAllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 198.18.0.1:51820\n",
        keys::CLIENT_PRIVATE,
        keys::SERVER_PUBLIC
    );
    let file = sb.user_file("airvpn.conf", &text, 0o600);
    sb.cmd("wg-profile").arg("import").arg(&file).run().ok();
    let long = sb.cmd("wg-profile").args(["list", "--long"]).run();
    assert_eq!(
        long.ok(),
        "airvpn\t198.18.0.1:51820\t198.19.10.20/32,fd00:1910::20/128\n"
    );
    let spaced = sb.user_file(
        "spaced.conf",
        text.replace("0.0.0.0/0, ::/0", "0.0.0.0/0 ::/0"),
        0o600,
    );
    sb.cmd("wg-profile").arg("import").arg(&spaced).run().fails(
        125,
        "AllowedIPs: \"0.0.0.0/0 ::/0\" holds several networks (separate them with commas",
    );
    let odd = sb.user_file("Windscribe Toronto (1).conf", &text, 0o600);
    let out = sb.cmd("wg-profile").arg("import").arg(&odd).run();
    let line = out.fails(
        125,
        "wg-profile: the file name \"Windscribe Toronto (1)\" is not a valid profile name",
    );
    assert!(
        line.ends_with(&format!(
            "(give one: `wg-profile import '{}' NAME` (letters, digits, '.', '_' and '-'))",
            odd.display()
        )),
        "{line}"
    );
}
