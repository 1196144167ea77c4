//! `wg-wrap --install DIR`: one symlink per applet to this binary.

use crate::error::{Error, Result};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Makes `DIR/NAME` a symlink to the running binary for every name.
/// Idempotent; refuses, before changing anything, when a name is taken by a
/// file or link that is not this binary. Returns the links it made.
pub fn install_links(dir: &Path, names: &[&str]) -> Result<Vec<PathBuf>> {
    let exe =
        fs::canonicalize("/proc/self/exe").map_err(|e| Error::sys("find the wg-wrap binary", e))?;
    let dir = fs::canonicalize(dir)
        .map_err(|e| Error::sys(format_args!("install into {}", dir.display()), e))?;
    // A link next to the binary is relative, so the pair can be moved together.
    let target = match (exe.parent(), exe.file_name()) {
        (Some(parent), Some(file)) if parent == dir => PathBuf::from(file),
        _ => exe.clone(),
    };
    let mut todo = Vec::new();
    for name in names {
        let link = dir.join(name);
        match fs::symlink_metadata(&link) {
            Err(e) if e.kind() == ErrorKind::NotFound => todo.push(link),
            Err(e) => return Err(Error::sys(format_args!("check {}", link.display()), e)),
            Ok(_) if fs::canonicalize(&link).is_ok_and(|p| p == exe) => {}
            Ok(_) => {
                return Err(Error::new(format!(
                    "cannot install {}: it exists and is not a link to {}",
                    link.display(),
                    exe.display()
                ))
                .hint("remove it first if it is an old wg-wrap, or choose another DIR"));
            }
        }
    }
    for link in &todo {
        std::os::unix::fs::symlink(&target, link)
            .map_err(|e| Error::sys(format_args!("create {}", link.display()), e))?;
    }
    Ok(todo)
}
