//! wg-pin: keep a namespace alive under a name; list and remove pins.

use crate::man::{CHAIN_EXIT, Extra};
use argh::{ArgsInfo, FromArgs};
use std::ffi::OsString;
use wg_wrap::live::registry::Dir;
use wg_wrap::live::listing::Namespace;
use wg_wrap::{Error, chain, pin, live};

/// Pin this wg-wrap namespace as NAME so that it outlives PROG and can be
/// joined (`wg-wrap --join NAME -- PROG`), then execute into the next link
/// (wg-exec): `wg-pin NAME wg-exec PROG...`. Also `wg-pin --list` and
/// `wg-pin --remove NAME` on the host.
#[derive(FromArgs, ArgsInfo)]
pub struct Args {
    /// list the pinned namespaces: name, profile, engine, age, and per peer
    /// the endpoint, last handshake and bytes in and out
    #[argh(switch)]
    list: bool,
    /// with --list: one JSON array, for scripts
    #[argh(switch)]
    json: bool,
    /// remove pin NAME; the namespace (its engine and tunnel) ends with
    /// its last pin
    #[argh(option, arg_name = "NAME")]
    remove: Option<String>,
    /// NAME, then the next link and its arguments
    #[argh(positional, greedy, arg_name = "NAME NEXT")]
    rest: Vec<String>,
}


pub const MAN: Extra = Extra {
    name: "keep a wg-wrap namespace under a name; list and end pins",
    synopsis: "wg-pin NAME wg-exec ...\nwg-pin --list [--json]\nwg-pin --remove NAME",
    exit: CHAIN_EXIT,
    environment: "",
    files: "$XDG_RUNTIME_DIR/wg-wrap/pins/NAME. As real root also /run/netns/NAME.",
    examples: "wg-unshare work wg-up wg-pin dl wg-exec true\nwg-pin --list\nwg-pin --list --json\nwg-pin --remove dl",
};

pub fn main(name: &str, opts: Args, args: &[OsString]) -> Result<u8, Error> {
    let runtime = live::dir()?;
    if let Some(pin_name) = opts.remove {
        if let Some(extra) = opts.rest.first() {
            return Err(Error::new(format!("--remove takes one NAME, not also \"{extra}\""))
                .hint(format!("remove each with its own `{name} --remove NAME`")));
        }
        pin::remove(&pin_name, &runtime)?;
        return Ok(0);
    }
    if opts.list {
        list(&runtime, opts.json);
        return Ok(0);
    }
    let rest = crate::cli::tail(args, opts.rest.len());
    let Some((pin_name, next)) = rest.split_first() else {
        return Err(Error::new("missing NAME").hint(format!("try '{name} --help'")));
    };
    let next = chain::strip_dashes(next.to_vec());
    chain::check_link(&next, name)?;
    let pin_name = pin_name.to_string_lossy();
    let entry = pin::pin(&pin_name, &runtime)?;
    if let Err(e) = pin::request_netns_bind(entry.engine_pid, &pin_name) {
        Dir::pins(&runtime).remove(&pin_name);
        return Err(e);
    }
    chain::PIN.set(&*pin_name);
    let err = chain::exec_link(&next, name);
    let _ = pin::remove(&pin_name, &runtime);
    Err(err)
}

/// Prints the live pins, and each stale one once (it is removed).
fn list(runtime: &std::path::Path, json: bool) {
    let listing = Dir::pins(runtime).list();
    let namespaces: Vec<Namespace> = listing
        .live
        .into_iter()
        .map(|(name, entry)| Namespace::read(runtime, Some(name), entry))
        .collect();
    if json {
        let items: Vec<String> = namespaces.iter().map(Namespace::json).collect();
        let stale: Vec<String> = listing.stale.iter().map(|(n, _)| wg_wrap::live::listing::json_string(n)).collect();
        wg_wrap::outln!("{{\"pins\":[{}],\"stale\":[{}]}}", items.join(","), stale.join(","));
        return;
    }
    for namespace in &namespaces {
        wg_wrap::outln!("{}", namespace.line());
    }
    for (stale, _) in &listing.stale {
        wg_wrap::outln!(
            "{} stale (its engine is gone): removed",
            wg_wrap::live::listing::printable(stale)
        );
    }
}
