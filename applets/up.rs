//! wg-up: the tunnel inside the namespace.

use crate::cli::{self, Parsed};
use argh::FromArgs;
use std::ffi::OsString;
use std::time::Duration;
use wg_wrap::{Error, chain, engine, guard, log, runtime, tunnel};

/// Bring the tunnel up in this namespace: the TUN wg0, its addresses and
/// routes, and the WireGuard engine; wait for the first handshake, then
/// execute into the next link (wg-exec, or wg-pin).
#[derive(FromArgs)]
pub struct Args {
    /// seconds to wait for the first handshake (default 5; 0: do not wait)
    #[argh(option, default = "5", arg_name = "S")]
    handshake_timeout: u64,
    /// the next link and its arguments
    #[argh(positional, greedy, arg_name = "NEXT")]
    rest: Vec<String>,
}

pub fn main(name: &str, args: Vec<OsString>) -> Result<u8, Error> {
    let Parsed::Run(opts) = cli::parse::<Args>(name, &args)? else {
        return Ok(0);
    };
    let next = chain::strip_dashes(cli::tail(&args, opts.rest.len()));
    chain::require(chain::CONF_FD, "wg-unshare")?;
    chain::check_link(&next, &["wg-exec", "wg-pin"])?;
    // wg-up holds the keys while it waits for the handshake (exec makes the
    // next link dumpable again; it holds no key).
    guard::hold_keys("wg-up")?;
    let conf = chain::take_conf()?;
    let host = engine::HostFds {
        udp: chain::take_fd(chain::UDP_FD, "wg-unshare")?,
        bus_proxy: match std::env::var_os(chain::BUS_FD) {
            Some(_) => Some(chain::take_fd(chain::BUS_FD, "wg-unshare")?),
            None => None,
        },
        published: match std::env::var(chain::PUBLISH) {
            Ok(text) => wg_wrap::publish::from_chain(&text)?,
            Err(_) => Vec::new(),
        },
        resolver: match std::env::var_os(chain::RESOLVER_FD) {
            Some(_) => {
                let fd = chain::take_fd(chain::RESOLVER_FD, "wg-unshare")?;
                let peers = std::env::var(chain::RESOLVER_PEERS).unwrap_or_default();
                let named = peers.split(',').filter_map(|i| i.parse().ok()).collect();
                Some((fd, named))
            }
            None => None,
        },
    };
    chain::unset(chain::RESOLVER_PEERS);
    chain::unset(chain::PUBLISH);
    // The identity's lock (from wg-unshare): held until the engine is
    // registered, so a concurrent start of this identity finds it.
    let identity_lock = match std::env::var_os(chain::LOCK_FD) {
        Some(_) => Some(chain::take_fd(chain::LOCK_FD, "wg-unshare")?),
        None => None,
    };
    let (identity, shape) = wg_wrap::identity::of(&conf);
    let labels = wg_wrap::registry::Labels {
        profile: std::env::var(chain::PROFILE).unwrap_or_else(|_| "-".to_string()),
        store: std::env::var(chain::STORE).ok(),
        identity,
        shape,
    };
    chain::unset(chain::STORE);
    let runtime = runtime::dir()?;
    let tun = tunnel::bring_up(&conf)?;
    let peers: Vec<_> = (conf.peers.iter())
        .map(|p| (p.public_key, p.endpoint.clone()))
        .collect();
    // The conf (and its keys) moves into the engine.
    let engine = engine::spawn(conf, tun, host, &runtime, &labels)?;
    let pid = engine.pid;
    let waited = std::time::Instant::now();
    let ready = engine.wait(Duration::from_secs(opts.handshake_timeout))?;
    for index in &ready.handshakes {
        if let Some((public_key, _)) = peers.get(*index) {
            log::info(format_args!(
                "handshake with peer {public_key} within {} ms",
                waited.elapsed().as_millis()
            ));
        }
    }
    drop(identity_lock);
    if opts.handshake_timeout > 0 {
        for (index, (public_key, endpoint)) in peers.iter().enumerate() {
            if let Some(endpoint) = endpoint
                && !ready.handshakes.contains(&index)
            {
                log::warn(format_args!(
                    "no handshake with peer {public_key} ({endpoint}) after {} s (check the Endpoint and that the server runs and knows your public key; the tunnel comes up when it answers)",
                    opts.handshake_timeout
                ));
            }
        }
    }
    chain::set(chain::ENGINE_PID, pid.to_string());
    chain::set(chain::IFACE, tunnel::IFACE);
    Err(chain::exec_link(&next, &["wg-exec", "wg-pin"]))
}
