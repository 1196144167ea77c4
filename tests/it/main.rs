//! The integration tests, one binary (the harness compiles once): the real
//! binary run as an unprivileged user, real namespaces, a real TUN, real
//! WireGuard peers. A file per applet or concern; `leak/` tries to break
//! the guarantees README makes; `packaging/` checks what distributions ship.
//! The harness is in `common/`.

mod common;

mod applets;
mod containers;
mod demo;
mod doctor;
mod faults;
mod hostile_network;
mod identity;
mod leak;
mod packaging;
mod pin;
mod profile;
mod publish;
mod tunnel;
