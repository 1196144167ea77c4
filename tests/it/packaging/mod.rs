//! What distributions ship: the Debian package (built, installed, used,
//! purged), the RPM and Arch recipes, and the shell completions.

mod completions;
mod deb;
mod others;
