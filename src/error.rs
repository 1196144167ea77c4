//! One error type for every applet: one line, what failed, why, and what to do.
//!
//! Printed by `applets/main.rs` as `<applet>: <message> (<hint>)`.

use std::fmt;
use std::io;

/// Exit status when wg-wrap itself fails (usage, profile, namespace, tunnel).
pub const EXIT_FAILURE: u8 = 125;
/// Exit status when PROG exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit status when PROG is not found.
pub const EXIT_NOT_FOUND: u8 = 127;

#[derive(Debug)]
pub struct Error {
    message: String,
    hint: Option<String>,
    code: u8,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failure described in full by `message` (exit status 125).
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            hint: None,
            code: EXIT_FAILURE,
        }
    }

    /// `cannot <op>: <cause>`, the cause taken from an OS error.
    pub fn sys(op: impl fmt::Display, err: impl Into<io::Error>) -> Self {
        Error::new(format!("cannot {op}: {}", cause(&err.into())))
    }

    /// Adds the "what to do" part, printed in parentheses.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Changes the exit status (126 and 127 for exec failures).
    pub fn with_code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    pub fn code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// An OS error as a lower-case phrase without "(os error N)".
pub fn cause(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_error_reads_as_one_line_with_hint() {
        let err = Error::sys(
            "create TUN device",
            io::Error::from_raw_os_error(rustix::io::Errno::PERM.raw_os_error()),
        )
        .hint("is /dev/net/tun mode 0666?");
        assert_eq!(
            err.to_string(),
            "cannot create TUN device: operation not permitted (is /dev/net/tun mode 0666?)"
        );
        assert_eq!(err.code(), 125);
    }
}
