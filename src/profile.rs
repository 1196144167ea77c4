//! The profile store: `$XDG_CONFIG_HOME/wg-wrap/profiles/NAME.conf`.
//!
//! The directories are 0700, the files 0600, written atomically (a temporary
//! file in the same directory, fsync, rename, fsync of the directory), so a
//! profile is never seen half-written and a failed write changes nothing.

use crate::conf::{self, Conf, Parsed};
use crate::error::{Error, Result};
use crate::{files, log};
use std::fs::{self};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Longest profile name accepted.
pub const MAX_NAME: usize = 64;

/// What a profile argument names: a stored profile, or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileRef {
    Named(String),
    File(PathBuf),
}

impl ProfileRef {
    /// An argument that contains `/` or ends in `.conf` is a file path.
    pub fn from_arg(arg: &str) -> Self {
        if arg.contains('/') || arg.ends_with(".conf") {
            ProfileRef::File(PathBuf::from(arg))
        } else {
            ProfileRef::Named(arg.to_string())
        }
    }
}

/// Checks a profile name: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with
/// `.` or `-`, not ending in `.conf`, and not one of `reserved` (applet names).
pub fn check_name(name: &str, reserved: &[&str]) -> Result<()> {
    let fix = "use letters, digits, '.', '_' and '-', up to 64 characters";
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(Error::new(format!("invalid profile name \"{name}\"")).hint(fix));
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok_chars || name.starts_with(['.', '-']) {
        return Err(Error::new(format!("invalid profile name \"{name}\"")).hint(fix));
    }
    if name.ends_with(".conf") {
        return Err(Error::new(format!("invalid profile name \"{name}\""))
            .hint("a name ending in .conf is taken as a file path; drop the .conf"));
    }
    if reserved.contains(&name) {
        return Err(Error::new(format!(
            "invalid profile name \"{name}\": it is an applet's name"
        ))
        .hint("`wg-wrap NAME` would run the applet; choose another name"));
    }
    Ok(())
}

/// The store's directories.
#[derive(Clone, Debug)]
pub struct Store {
    /// `$XDG_CONFIG_HOME/wg-wrap`: masked inside the namespace.
    root: PathBuf,
    /// `root/profiles`.
    dir: PathBuf,
}

impl Store {
    /// `$XDG_CONFIG_HOME/wg-wrap`, else `$HOME/.config/wg-wrap`.
    pub fn from_env() -> Result<Store> {
        let config = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
            Some(dir) if dir.is_absolute() => dir,
            _ => match std::env::var_os("HOME").map(PathBuf::from) {
                Some(home) if home.is_absolute() => home.join(".config"),
                _ => {
                    return Err(Error::new("cannot find the profile store: HOME is not set")
                        .hint("set HOME or XDG_CONFIG_HOME to an absolute path"));
                }
            },
        };
        Ok(Store::at(config.join("wg-wrap")))
    }

    pub fn at(root: PathBuf) -> Store {
        let dir = root.join("profiles");
        Store { root, dir }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where profile NAME lives (whether or not it exists).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.conf"))
    }

    /// Stored profile names, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::sys(
                    format_args!("list profiles in {}", self.dir.display()),
                    e,
                ));
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry
                    .file_name()
                    .to_str()?
                    .strip_suffix(".conf")?
                    .to_string();
                check_name(&name, &[]).ok().map(|_| name)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// The text of stored profile NAME, or an error listing what exists.
    pub fn read(&self, name: &str) -> Result<String> {
        check_name(name, &[])?;
        let path = self.path(name);
        if !path.exists() {
            return Err(self.not_found(name));
        }
        conf::read_file(&path)
    }

    /// "no profile NAME" with the names that do exist.
    pub fn not_found(&self, name: &str) -> Error {
        let names = self.list().unwrap_or_default();
        let hint = if let Some(ns) = crate::chain::NAMESPACE.get() {
            format!(
                "this runs inside the wg-wrap namespace {}, where the profiles are hidden: run wg-wrap from outside",
                ns
            )
        } else if names.is_empty() && crate::fixes::real_root() {
            "as root, profiles are root's own (none yet); wg-wrap needs no root: run it as your user".to_string()
        } else if names.is_empty() {
            "no profiles yet: add one with `wg-profile import FILE`".to_string()
        } else {
            format!("profiles: {}", names.join(", "))
        };
        Error::new(format!("no profile \"{name}\"")).hint(hint)
    }

    /// Stores `text` (already validated by the caller) as NAME.
    /// Without `replace`, an existing profile is left alone and refused.
    pub fn write(&self, name: &str, text: &str, replace: bool) -> Result<PathBuf> {
        let path = self.path(name);
        if !replace && path.exists() {
            return Err(Error::new(format!("profile \"{name}\" already exists"))
                .hint("use --force to replace it, or give another NAME"));
        }
        crate::live::registry::check_store_unmoved(&self.root)?;
        self.make_dirs()?;
        files::write_atomic(&path, text.as_bytes(), files::Durability::Durable)?;
        Ok(path)
    }

    /// Deletes profile NAME.
    pub fn remove(&self, name: &str) -> Result<()> {
        check_name(name, &[])?;
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => {
                files::sync_dir(&self.dir);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.not_found(name)),
            Err(e) => Err(Error::sys(format_args!("remove {}", path.display()), e)),
        }
    }

    /// Creates the store's directories 0700, tightening them if they exist.
    pub fn make_dirs(&self) -> Result<()> {
        if let Some(parent) = self.root.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                Error::sys(format_args!("create directory {}", parent.display()), e)
            })?;
        }
        for dir in [&self.root, &self.dir] {
            files::private_dir(dir, "profile directory", files::Links::Follow)?;
        }
        Ok(())
    }
}

/// A profile ready for use, with the name to show for it.
pub struct Loaded {
    pub parsed: Parsed,
    /// The profile's name, or the file's path.
    pub name: String,
    /// The file it came from (masked inside the namespace).
    pub path: PathBuf,
}

/// Reads and validates the profile an argument names (a store name or a path).
/// Warns, as ssh does, when the file can be read by others.
pub fn load(arg: &str, store: &Store) -> Result<Loaded> {
    let (name, path) = match ProfileRef::from_arg(arg) {
        ProfileRef::Named(name) => {
            check_name(&name, &[])?;
            let path = store.path(&name);
            if !path.exists() {
                return Err(store.not_found(&name));
            }
            (name, path)
        }
        ProfileRef::File(path) => (arg.to_string(), path),
    };
    let text = conf::read_file(&path)?;
    if let Ok(meta) = fs::metadata(&path)
        && meta.mode() & 0o004 != 0
    {
        log::warn(format_args!(
            "{} is readable by every user: its private key is not secret (chmod 600 {})",
            path.display(),
            path.display()
        ));
    }
    let parsed = Conf::parse(&text, &path.display().to_string())?;
    Ok(Loaded { parsed, name, path })
}

/// The profile text with PrivateKey and PresharedKey values replaced by `(hidden)`;
/// comments, order and everything else kept as written.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let secret = line.split_once('=').filter(|(key, _)| {
            let key = key.trim();
            key.eq_ignore_ascii_case("PrivateKey") || key.eq_ignore_ascii_case("PresharedKey")
        });
        match secret {
            Some((key, _)) => {
                out.push_str(key.trim_end());
                out.push_str(" = (hidden)");
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["work", "a", "my-vpn_2.se", &"x".repeat(64)] {
            assert!(check_name(good, &["wrap"]).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a b",
            "a/b",
            "x.conf",
            "é",
            &"x".repeat(65),
            "wrap",
        ] {
            assert!(check_name(bad, &["wrap"]).is_err(), "{bad}");
        }
    }

    #[test]
    fn profile_arguments() {
        assert_eq!(
            ProfileRef::from_arg("work"),
            ProfileRef::Named("work".into())
        );
        assert_eq!(
            ProfileRef::from_arg("work.conf"),
            ProfileRef::File("work.conf".into())
        );
        assert_eq!(
            ProfileRef::from_arg("./work"),
            ProfileRef::File("./work".into())
        );
    }

    #[test]
    fn redaction_hides_only_secrets() {
        let text = "[Interface]\nPrivateKey=abc=\n  presharedkey = xyz=\nPublicKey = pub=\n# PrivateKey in a comment stays\n";
        assert_eq!(
            redact(text),
            "[Interface]\nPrivateKey = (hidden)\n  presharedkey = (hidden)\nPublicKey = pub=\n# PrivateKey in a comment stays\n"
        );
    }
}
