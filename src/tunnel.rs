//! The tunnel's network side inside the namespace: TUN, addresses, routes.

use crate::conf::{Conf, IpNet};
use crate::error::{Error, Result};
use crate::netlink::{LOOPBACK_INDEX, Netlink};
use crate::{chain, host, log};

/// The TUN's name inside the namespace.
pub const IFACE: &str = "wg0";

/// Creates the TUN, brings `lo` and it up, adds the addresses and one route
/// per distinct AllowedIPs network, and lets the user's group ping.
/// Packets the kernel queues on the TUN for the engine to read (the kernel's
/// default for a TUN is 500). A full queue drops what comes next: at 1 Gbit/s
/// of UDP, 500 packets are 5 ms, less than the engine may wait for a core
/// on a busy machine. 1000 (about 11 ms there) took the bench's lossless
/// UDP rate, wg-wrap to wg-wrap, from 0.9-1.0 to 1.25 Gbit/s; TCP queues
/// no more for it (its send buffer bounds what it has in flight).
pub const TX_QUEUE: u32 = 1000;

pub fn bring_up(conf: &Conf) -> Result<tun_rs::SyncDevice> {
    // No link-local address on the TUN (this netns's default, set before it
    // exists): the kernel would otherwise send router solicitations and MLD
    // reports into the tunnel, which kernel WireGuard interfaces do not.
    let gen_mode = "/proc/sys/net/ipv6/conf/default/addr_gen_mode";
    if let Err(e) = std::fs::write(gen_mode, "1") {
        log::info(format_args!(
            "cannot write {gen_mode}: {}",
            crate::error::cause(&e)
        ));
    }
    let mtu = conf.interface.mtu.unwrap_or(host::DEFAULT_MTU);
    let tun = tun_rs::DeviceBuilder::new()
        .name(IFACE)
        .mtu(mtu)
        .enable(false)
        // Offload (IFF_VNET_HDR): the kernel hands over TCP super-packets and
        // takes coalesced ones; fewer reads and writes per byte.
        .with(|b| {
            b.offload(true);
        })
        .build_sync()
        .map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EACCES | libc::EPERM) => crate::fixes::tun_denied(),
                Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => {
                    format!("there is no /dev/net/tun: {}", crate::fixes::tun_missing())
                }
                _ => "see `wg-wrap doctor`".into(),
            };
            Error::sys("create TUN device", e).hint(hint)
        })?;
    // Persistent: it goes with the namespace, not with the engine's
    // descriptor. A device unregistered on its own, at the engine's exit,
    // waits for an RCU barrier holding the kernel's network lock, which
    // every new TUN and address waits for (back-to-back runs queued behind
    // the ending ones); a dying namespace's devices are removed in batches.
    // The namespace is ours alone, so nothing outlives it.
    if let Err(e) = tun.persist() {
        log::info(format_args!(
            "cannot make the TUN device persistent: {}",
            crate::error::cause(&e)
        ));
    }
    configure(conf, tun)
}

fn configure(conf: &Conf, tun: tun_rs::SyncDevice) -> Result<tun_rs::SyncDevice> {
    let index = tun
        .if_index()
        .map_err(|e| Error::sys("find the TUN device", e))?;
    let mut nl = Netlink::open()?;
    nl.link_up(LOOPBACK_INDEX)?;
    nl.link_up_with_queue(index, TX_QUEUE)?;
    for addr in &conf.interface.addresses {
        nl.add_address(index, *addr)?;
    }
    let mut routes: Vec<IpNet> = Vec::new();
    for (i, peer) in conf.peers.iter().enumerate() {
        for net in &peer.allowed_ips {
            if routes.contains(net) {
                if conf.peers[..i].iter().any(|p| p.allowed_ips.contains(net)) {
                    log::warn(format_args!(
                        "{net} is in the AllowedIPs of two peers: it goes to the last, {}",
                        peer.public_key
                    ));
                }
                continue;
            }
            routes.push(*net);
        }
    }
    for net in routes {
        nl.add_route(index, net)?;
    }
    let gid = rustix::process::getgid().as_raw();
    if let Err(e) = std::fs::write(
        "/proc/sys/net/ipv4/ping_group_range",
        format!("{gid} {gid}"),
    ) {
        log::info(format_args!(
            "cannot open ping to your group: {}",
            crate::error::cause(&e)
        ));
    }
    Ok(tun)
}

/// Refuses unless this is a live wg-wrap namespace: the TUN exists and the
/// engine named by the chain is alive.
pub fn check_live() -> Result<()> {
    let not_live = |why: &str| {
        Error::new(format!("not in a live wg-wrap namespace: {why}"))
            .hint("run PROG with `wg-wrap PROFILE -- PROG`, or after wg-up in a chain")
    };
    let pid: i32 = chain::ENGINE_PID
        .get()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| not_live("WG_WRAP_ENGINE_PID is not set (wg-up must run before wg-exec)"))?;
    let iface = chain::IFACE.get().unwrap_or_else(|| IFACE.to_string());
    let alive = rustix::process::Pid::from_raw(pid)
        .is_some_and(|p| rustix::process::test_kill_process(p).is_ok());
    if !alive {
        return Err(not_live("the engine is gone"));
    }
    // /proc/self/net is this network namespace's view (/sys may be the host's).
    let devices = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    let has_iface = devices
        .lines()
        .any(|line| line.trim_start().split(':').next() == Some(iface.as_str()));
    if !has_iface {
        return Err(not_live(&format!("there is no {iface} interface")));
    }
    Ok(())
}
