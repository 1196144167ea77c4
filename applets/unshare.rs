//! wg-unshare: the host side of the chain.

use crate::man::{CHAIN_EXIT, FILES, Extra};
use argh::{ArgsInfo, FromArgs};
use std::ffi::OsString;
use std::path::Path;
use wg_wrap::live::registry::Entry;
use wg_wrap::profile::{self, ProfileRef, Store};
use wg_wrap::{Error, caps, chain, guard, host, identity, log, ns, pin, live, services};

/// Read PROFILE, resolve its endpoints, bind the UDP socket, leave the host's
/// namespaces for new user, network and mount namespaces, then execute into
/// the next link (wg-up). PROFILE is a stored profile's name, or a file path
/// (it contains '/' or ends in .conf). When a live namespace of yours has
/// the profile's key already, the chain goes on in it from wg-exec (and
/// wg-pin's NAME pins it).
#[derive(FromArgs, ArgsInfo)]
pub struct Args {
    /// be uid 0 inside (default: your own uid)
    #[argh(switch)]
    map_root: bool,
    /// give PROG the host's session bus unfiltered: it can then start
    /// programs outside the tunnel (default: a filtered bus)
    #[argh(switch)]
    host_session_bus: bool,
    /// make HOSTADDR:HOSTPORT on the host reach PORT inside (repeatable;
    /// [HOSTADDR:]HOSTPORT:PORT[/tcp|/udp], HOSTADDR 127.0.0.1 by default)
    #[argh(option, arg_name = "SPEC")]
    publish: Vec<String>,
    /// PROFILE, then the next link and its arguments
    #[argh(positional, greedy, arg_name = "PROFILE NEXT")]
    rest: Vec<String>,
}


pub const MAN: Extra = Extra {
    name: "leave the host's namespaces for the tunnel's (first link of the chain)",
    synopsis: "wg-unshare [--map-root] [--host-session-bus] [--publish SPEC]... PROFILE wg-up ...",
    exit: CHAIN_EXIT,
    environment: "",
    files: FILES,
    examples: "wg-unshare work wg-up wg-exec curl https://example.com/",
};

pub fn main(name: &str, opts: Args, args: &[OsString]) -> Result<u8, Error> {
    // The first link: nothing of a chain comes from the caller.
    chain::vars::clear_inherited();
    let rest = crate::cli::tail(args, opts.rest.len());
    let Some((profile_arg, next)) = rest.split_first() else {
        return Err(Error::new("missing PROFILE").hint(format!("try '{name} --help'")));
    };
    let next = chain::strip_dashes(next.to_vec());
    chain::check_link(&next, name)?;
    // Read by the grammar, not by looking for names among PROG's arguments.
    let tail = chain::links::Tail::parse(&next);
    // From before the profile is read until the exec.
    guard::hold_keys("wg-unshare")?;
    let profile_arg = profile_arg.to_str().ok_or_else(|| {
        Error::new("PROFILE is not valid UTF-8").hint("rename the profile file")
    })?;

    if wg_wrap::fixes::real_root() {
        log::warn(
            "running as root: the program can read and write root's files on this host (wg-wrap needs no root: run it as your user)",
        );
    }
    let store = Store::from_env()?;
    let loaded = profile::load(profile_arg, &store)?;
    for warning in &loaded.parsed.warnings {
        log::warn(warning);
    }
    ns::check_not_on_stdio(&loaded.path)?;
    let specs = (opts.publish.iter())
        .map(|s| wg_wrap::publish::Spec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = live::dir()?;
    // One key, one namespace (see `identity`). The lock goes down the chain
    // and is held until wg-up has registered its engine.
    let (identity, shape) = identity::of(&loaded.parsed.conf);
    let lock = identity::lock(&runtime, &identity)?;
    if let Some(live) = identity::live(&runtime, &identity) {
        identity::check_shape(&live, &shape, profile_arg)?;
        identity::check_map(&live, opts.map_root)?;
        identity::check_bus(&live, opts.host_session_bus)?;
        if !specs.is_empty() {
            return Err(Error::new(format!(
                "cannot publish ports into the live namespace of engine {} (it has this profile's key)",
                live.engine_pid
            ))
            .hint("publish them when the namespace is made: end it, then run again with --publish"));
        }
        // A profile given by path is hidden there too (the namespace may
        // have been made from another spelling of this identity).
        let store_dir = store.root().canonicalize().unwrap_or_else(|_| store.root().into());
        let file = match ProfileRef::from_arg(profile_arg) {
            ProfileRef::File(_) => loaded.path.canonicalize().ok(),
            ProfileRef::Named(_) => None,
        }
        .filter(|file| !file.starts_with(&store_dir));
        // Unless it ended in the meantime: then a new one, as if it never was.
        if pin::join_engine(live.engine_pid, &runtime)? {
            if let Some(file) = &file {
                ns::hide_file(file)?;
            }
            drop(lock);
            return Err(run_joined(&live, tail.as_ref(), &next, &runtime));
        }
    }
    chain::LOCK_FD.pass_fd(&lock)?;
    let mut conf = loaded.parsed.conf;
    let names = wg_wrap::resolver::names(&conf);
    host::resolve_endpoints(&mut conf)?;
    conf.interface.mtu = Some(host::choose_mtu(&conf));
    // Bound before anything else is made: a port in use is one line.
    let published = wg_wrap::publish::bind(&specs)?;
    let udp = host::bind_udp(conf.interface.listen_port)?;
    let local = rustix::net::getsockname(&udp).ok();
    if let Some(local) = local.and_then(|a| std::net::SocketAddr::try_from(a).ok()) {
        log::info(format_args!("WireGuard's UDP socket: port {}", local.port()));
    }
    let dns = ns::plan_dns(&conf.interface.dns);
    let mut text = conf.to_wg_quick();
    let memfd = chain::conf_memfd(&text);
    zeroize::Zeroize::zeroize(&mut text);
    let memfd = memfd?;
    if opts.host_session_bus {
        chain::HOST_BUS.set("1");
    }
    let bus_mode = if opts.host_session_bus {
        services::BusMode::Host
    } else {
        services::BusMode::Filtered
    };
    // Held until the exec: the proxy's pipe goes down the chain.
    let bus = services::plan_bus(bus_mode, &runtime)?;
    // As real root, a pinned namespace is also bound at /run/netns/NAME by a
    // helper that stays in the host's mount namespace.
    let pinning = tail.as_ref().is_some_and(|t| t.find("wg-pin").is_some());
    let helper = if pinning && rustix::process::getuid().is_root() {
        Some(pin::spawn_netns_helper()?)
    } else {
        None
    };

    // Endpoint names are resolved again, when handshakes stop, from here
    // on the host side (see `resolver`).
    let resolver = if names.is_empty() {
        None
    } else {
        let indices: Vec<String> = names.iter().map(|(i, _, _)| i.to_string()).collect();
        chain::RESOLVER_PEERS.set(indices.join(","));
        Some(wg_wrap::resolver::spawn_helper(names)?)
    };
    ns::unshare(opts.map_root)?;
    let file = match ProfileRef::from_arg(profile_arg) {
        ProfileRef::File(_) => Some(loaded.path.as_path()),
        ProfileRef::Named(_) => None,
    };
    let cwd = std::env::current_dir().ok();
    if let Some(id) = ns::hide_profiles(store.root(), file)? {
        chain::STORE.set(id);
    }
    services::mask(&bus, &runtime)?;
    ns::reenter_cwd(cwd);
    ns::setup_dns(&dns, &runtime.join(format!("mnt-{}", std::process::id())))?;
    ns::own_sysfs_net(&runtime.join(format!("sys-{}", std::process::id())));
    caps::keep_across_exec(caps::CHAIN)?;
    chain::UDP_FD.pass_fd(&udp)?;
    chain::CONF_FD.pass_fd(&memfd)?;
    if !published.is_empty() {
        wg_wrap::publish::pass(&published)?;
    }
    chain::PROFILE.set(&loaded.name);
    if let Some(helper) = &helper {
        chain::NETNS_FD.pass_fd(helper)?;
    }
    if let Some(resolver) = &resolver {
        chain::RESOLVER_FD.pass_fd(resolver)?;
    }
    Err(chain::exec_link(&next, name))
}

/// Runs the rest of the chain in `live`, the namespace that already has
/// this profile's key and which this process has just entered: wg-pin's NAME
/// (if any) pins it, and wg-exec runs PROG there.
fn run_joined(live: &Entry, tail: Option<&chain::links::Tail>, next: &[OsString], runtime: &Path) -> Error {
    let Some((tail, exec_at)) = tail.and_then(|t| Some((t, t.find("wg-exec")?))) else {
        return Error::new("the chain has no wg-exec")
            .hint("e.g. `wg-unshare PROFILE wg-up wg-exec PROG`");
    };
    let pin_name = tail.operand("wg-pin").and_then(|name| name.to_str());
    if let Some(name) = pin_name
        && let Err(e) = pin::pin_existing(name, live, runtime)
    {
        return e;
    }
    log::note(format_args!(
        "this profile's key is in use by the live namespace of engine {} (profile {}): running in it",
        live.engine_pid, live.profile
    ));
    if let Err(e) = caps::keep_across_exec(caps::CHAIN) {
        return e;
    }
    chain::ENGINE_PID.set(live.engine_pid.to_string());
    chain::IFACE.set(wg_wrap::tunnel::IFACE);
    chain::exec_link(&next[exec_at..], "wg-pin")
}
