//! wg-wrap: run one program through a WireGuard tunnel, rootless, without
//! touching the host's network. The applets in `applets/` are thin; the
//! mechanisms live here, one module per job.
//!
//! The chain: `wg-unshare PROFILE wg-up [wg-pin NAME] wg-exec PROG`, each
//! link doing one job and then executing the next (execline style), state
//! passing in inherited descriptors named by `WG_WRAP_*` variables
//! (`chain`: the grammar in `chain::links`, every variable in
//! `chain::vars`), never a key in argv or the environment.
//! - wg-unshare, on the host: reads the profile, resolves endpoints, binds
//!   the UDP socket and the published ports, starts the host-side helpers
//!   (session bus proxy, endpoint resolver), then unshares user, network and
//!   mount namespaces and hides what the program must not reach (profiles,
//!   host services, the host's DNS). A profile whose key a live namespace
//!   has goes on in that namespace instead (`identity`).
//! - wg-up, inside: the TUN and its routes, and the engine, a daemon that
//!   moves packets between the TUN and the host's UDP socket.
//! - wg-pin (optional): registers the namespace under a name.
//! - wg-exec: drops every privilege, gives PROG its own read-only view of
//!   the runtime directory, and executes it.
//!
//! No module here prints or exits: errors go up as `Error`, and only the
//! logger (`log`) writes to the terminal.

#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

// Ground: errors, files of ours, the profile format and store, the logger.
pub mod conf;
pub mod error;
pub mod files;
pub mod log;
pub mod profile;
pub use error::{Error, Result};

// The chain (its grammar, its variables, the argv wg-wrap builds) and the
// hygiene of its links: capabilities, key guarding, processes.
pub mod caps;
pub mod chain;
pub mod guard;
pub mod install;
pub mod process;

// Host side: what wg-unshare does before the unshare.
pub mod fixes;
pub mod host;
pub mod identity;
pub mod publish;
pub mod resolver;

// Namespace side: the boundary and the tunnel.
pub mod netlink;
pub mod ns;
pub mod services;
pub mod tunnel;

// The engine and what runs beside it.
pub mod engine;
pub mod relay;

// Runtime state (`live`: the runtime directory, the registry, the status
// protocol and listing), pins, and the host check.
pub mod doctor;
pub mod live;
pub mod pin;
