//! The guarantees README makes, attacked: what PROG can reach, read or
//! keep, and what is left when the tunnel is down.

mod dns;
mod exit;
mod network;
mod secrets;
mod services;
