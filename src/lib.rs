//! wg-wrap: run one program through a WireGuard tunnel, rootless, without
//! touching the host's network. The applets in `applets/` are thin; the
//! mechanisms live here, one module per job.

pub mod conf;
pub mod error;
pub mod install;
pub mod log;
pub mod profile;
pub mod publish;
pub mod relay;
pub mod resolver;

pub use error::{Error, Result};
pub mod caps;
pub mod chain;
pub mod daemon;
pub mod doctor;
pub mod engine;
pub mod fixes;
pub mod guard;
pub mod host;
pub mod identity;
pub mod netlink;
pub mod ns;
pub mod pin;
pub mod registry;
pub mod runtime;
pub mod services;
pub mod status;
pub mod tunnel;
