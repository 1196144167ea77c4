//! A tiny logger: the applet's name, a level, one line on stderr.
//!
//! Verbosity travels down the chain in `WG_WRAP_VERBOSITY`: 0 quiet, 1 default
//! (a successful run prints nothing), 2 verbose.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU8, Ordering};

static APPLET: RwLock<&str> = RwLock::new("wg-wrap");
static LEVEL: AtomicU8 = AtomicU8::new(1);

/// Names the applet in every message and reads the inherited verbosity.
pub fn init(applet: &'static str) {
    if let Ok(mut name) = APPLET.write() {
        *name = applet;
    }
    if let Some(level) = crate::chain::VERBOSITY
        .get()
        .and_then(|v| v.parse::<u8>().ok())
    {
        LEVEL.store(level.min(2), Ordering::Relaxed);
    }
}

pub fn applet() -> &'static str {
    APPLET.read().map(|name| *name).unwrap_or("wg-wrap")
}

pub fn level() -> u8 {
    LEVEL.load(Ordering::Relaxed)
}

/// `wg-up: warning: ...`, shown unless quiet.
pub fn warn(message: impl std::fmt::Display) {
    if level() >= 1 {
        err(format_args!("{}: warning: {message}", applet()));
    }
}

/// `wg-unshare: note: ...`: something works differently inside, not a
/// fault. Shown unless quiet.
pub fn note(message: impl std::fmt::Display) {
    if level() >= 1 {
        err(format_args!("{}: note: {message}", applet()));
    }
}

/// `wg-up: ...`, shown only when verbose.
pub fn info(message: impl std::fmt::Display) {
    if level() >= 2 {
        err(format_args!("{}: {message}", applet()));
    }
}

/// One line on stderr. A stderr that is closed (`2>&1 | head -c 10`) loses
/// it: `eprintln!` would panic and turn the exit status into 101.
pub fn err(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Text on stdout, as `print!`, but a closed stdout (`wg-pin --list | head
/// -1`) loses the rest instead of panicking.
pub fn out(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = write!(std::io::stdout(), "{text}");
}

/// `println!` that never panics: see [`out`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::log::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
