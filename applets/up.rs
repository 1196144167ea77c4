//! wg-up: the tunnel inside the namespace.

use crate::man::{CHAIN_EXIT, Extra};
use argh::{ArgsInfo, FromArgs};
use std::ffi::OsString;
use std::time::Duration;
use wg_wrap::{Error, chain, engine, guard, log, live, tunnel};

/// Bring the tunnel up in this namespace: the TUN wg0, its addresses and
/// routes, and the WireGuard engine; wait for the first handshake, then
/// execute into the next link (wg-exec, or wg-pin).
#[derive(FromArgs, ArgsInfo)]
pub struct Args {
    /// seconds to wait for the first handshake (default 5; 0: do not wait)
    #[argh(option, default = "5", arg_name = "S")]
    handshake_timeout: u64,
    /// the next link and its arguments
    #[argh(positional, greedy, arg_name = "NEXT")]
    rest: Vec<String>,
}


pub const MAN: Extra = Extra {
    name: "bring the tunnel up inside the namespace (second link)",
    synopsis: "wg-up [--handshake-timeout S] {wg-exec|wg-pin} ...",
    exit: CHAIN_EXIT,
    environment: "",
    files: "$XDG_RUNTIME_DIR/wg-wrap/live/PID and engine-PID.sock, made by the engine.",
    examples: "wg-unshare work wg-up --handshake-timeout 2 wg-exec curl https://example.com/",
};

pub fn main(name: &str, opts: Args, args: &[OsString]) -> Result<u8, Error> {
    let next = chain::strip_dashes(crate::cli::tail(args, opts.rest.len()));
    chain::CONF_FD.require()?;
    chain::check_link(&next, name)?;
    // wg-up holds the keys while it waits for the handshake (exec makes the
    // next link dumpable again; it holds no key).
    guard::hold_keys("wg-up")?;
    let conf = chain::take_conf()?;
    let host = engine::HostFds {
        udp: chain::UDP_FD.take_fd()?,
        bus_proxy: chain::BUS_FD.take_fd_if_set()?,
        published: match chain::PUBLISH.take() {
            Some(text) => wg_wrap::publish::from_chain(&text)?,
            None => Vec::new(),
        },
        resolver: match chain::RESOLVER_FD.take_fd_if_set()? {
            Some(fd) => {
                let peers = chain::RESOLVER_PEERS.take().unwrap_or_default();
                let named = peers.split(',').filter_map(|i| i.parse().ok()).collect();
                Some((fd, named))
            }
            None => None,
        },
        // The identity's lock (from wg-unshare): the engine holds it until
        // it is registered, so a concurrent start of this identity finds it.
        lock: chain::LOCK_FD.take_fd_if_set()?,
    };
    let (identity, shape) = wg_wrap::identity::of(&conf);
    let labels = wg_wrap::live::registry::Labels {
        profile: chain::PROFILE.get().unwrap_or_else(|| "-".to_string()),
        store: chain::STORE.take(),
        identity,
        shape,
        host_bus: chain::HOST_BUS.take().is_some(),
    };
    let runtime = live::dir()?;
    let tun = tunnel::bring_up(&conf)?;
    let peers: Vec<_> = (conf.peers.iter())
        .map(|p| (p.public_key, p.endpoint.clone()))
        .collect();
    // The conf (and its keys) moves into the engine.
    let engine = engine::spawn(conf, tun, host, &runtime, &labels)?;
    let pid = engine.pid;
    chain::ENGINE_PID.set(pid.to_string());
    chain::IFACE.set(tunnel::IFACE);
    // Only this wg-up's engine is waited for (a hand-run chain's caller may
    // have set the variable).
    chain::ENGINE_FD.unset();
    // Nothing to wait for here: wg-exec waits for the engine to be ready
    // just before PROG runs, and the engine starts meanwhile.
    let to_exec = next.first().and_then(|n| chain::links::applet_of(n)) == Some("wg-exec");
    if opts.handshake_timeout == 0 && to_exec {
        let report = engine.hand_over()?;
        if let Some(report) = &report {
            chain::ENGINE_FD.pass_fd(report)?;
        }
        return Err(chain::exec_link(&next, name));
    }
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
    Err(chain::exec_link(&next, name))
}
