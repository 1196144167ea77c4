//! Files of ours that must not be half-written or readable by others:
//! private directories, atomic replacement, durable renames. The profile
//! store, the registry and the runtime directory all use these.

use crate::error::{Error, Result};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Whether a private directory may be a symlink to one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// The user's own place (a store kept in dotfiles may be a link).
    Follow,
    /// State a program of the same uid must not redirect: a real
    /// directory, owned by the caller.
    Refuse,
}

/// Creates `dir` with mode 0700 (its parent must exist), or checks that an
/// existing one is a directory of ours and makes it 0700. `what` names it
/// in errors ("runtime directory").
pub fn private_dir(dir: &Path, what: &str, links: Links) -> Result<()> {
    let fail = |e| Error::sys(format_args!("use {what} {}", dir.display()), e);
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(fail(e)),
        Err(_) => {}
    }
    let meta = match links {
        Links::Follow => fs::metadata(dir),
        Links::Refuse => fs::symlink_metadata(dir),
    }
    .map_err(fail)?;
    let uid = rustix::process::getuid().as_raw();
    if !meta.is_dir() || (links == Links::Refuse && meta.uid() != uid) {
        return Err(Error::new(format!(
            "cannot use {what} {}: not a directory owned by you",
            dir.display()
        ))
        .hint("move it out of the way"));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

/// Whether a replaced file must survive a crash of the machine.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Synced to disk with its directory (profiles).
    Durable,
    /// Runtime state, gone at reboot anyway: no sync (an fsync costs a
    /// millisecond on a disk-backed runtime directory, at every start).
    Volatile,
}

/// Replaces `path` with `bytes` (mode 0600) so that readers see the old file
/// or the new one, never a mix; on failure the old file is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().unwrap_or(OsStr::new("file"));
    let mut tmp_name = OsStr::new(".").to_os_string();
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let fail = |e| Error::sys(format_args!("write {}", path.display()), e);
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        if durability == Durability::Durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(fail(e));
    }
    if durability == Durability::Durable {
        sync_dir(dir);
    }
    Ok(())
}

/// Makes a rename or unlink in `dir` durable; best effort.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dirs_are_0700_and_links_refused_where_asked() {
        let base = std::env::temp_dir().join(format!("wg-wrap-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir(&base).unwrap();
        let dir = base.join("d");
        fs::DirBuilder::new().mode(0o755).create(&dir).unwrap();
        private_dir(&dir, "test directory", Links::Refuse).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let link = base.join("l");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(private_dir(&link, "test directory", Links::Follow).is_ok());
        let refused = private_dir(&link, "test directory", Links::Refuse).unwrap_err();
        assert!(
            refused.to_string().contains("not a directory owned by you"),
            "{refused}"
        );
        write_atomic(&dir.join("f"), b"one", Durability::Durable).unwrap();
        write_atomic(&dir.join("f"), b"two", Durability::Volatile).unwrap();
        assert_eq!(fs::read(dir.join("f")).unwrap(), b"two");
        assert_eq!(fs::metadata(dir.join("f")).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
