//! Capabilities: what the chain keeps across exec, and what PROG gets (nothing).

use crate::error::{Error, Result};
use rustix::thread::{
    CapabilitiesSecureBits, CapabilitySet, capabilities, clear_ambient_capability_set,
    configure_capability_in_ambient_set, remove_capability_from_bounding_set, set_capabilities,
    set_capabilities_secure_bits,
};

/// What the links after wg-unshare need: create the TUN and routes
/// (NET_ADMIN), mount (SYS_ADMIN), shrink the bounding set (SETPCAP), and
/// see every process of the namespace in the engine's scan (SYS_PTRACE).
pub const CHAIN: CapabilitySet = CapabilitySet::NET_ADMIN
    .union(CapabilitySet::SYS_ADMIN)
    .union(CapabilitySet::SETPCAP)
    .union(CapabilitySet::SYS_PTRACE);

/// Raises `set` into the ambient set, so it survives exec under an identity
/// uid map (uid ≠ 0 inside loses every capability at exec otherwise).
pub fn keep_across_exec(set: CapabilitySet) -> Result<()> {
    let fail = |e| Error::sys("keep capabilities for the next link", e);
    let mut sets = capabilities(None).map_err(fail)?;
    sets.inheritable |= set;
    set_capabilities(None, sets).map_err(fail)?;
    for bit in single_bits(set) {
        configure_capability_in_ambient_set(bit, true).map_err(fail)?;
    }
    Ok(())
}

/// Keeps only `keep` in the permitted and effective sets, nothing inheritable
/// or ambient (the engine keeps SYS_PTRACE for its process scan).
pub fn keep_only(keep: CapabilitySet) -> Result<()> {
    let fail = |e| Error::sys("drop capabilities", e);
    clear_ambient_capability_set().map_err(fail)?;
    let mut sets = capabilities(None).map_err(fail)?;
    sets.permitted &= keep;
    sets.effective &= keep;
    sets.inheritable = CapabilitySet::empty();
    set_capabilities(None, sets).map_err(fail)
}

/// Drops everything before PROG runs: root gains nothing at exec
/// (SECBIT_NOROOT, locked), the bounding set keeps only NET_RAW (for `ping`'s
/// file capability; a raw socket here reaches only the tunnel), and the
/// permitted, effective, inheritable and ambient sets are emptied.
pub fn drop_all_for_prog() -> Result<()> {
    let fail = |e| Error::sys("drop capabilities before running PROG", e);
    set_capabilities_secure_bits(
        CapabilitiesSecureBits::NO_ROOT | CapabilitiesSecureBits::NO_ROOT_LOCKED,
    )
    .map_err(fail)?;
    for bit in single_bits(CapabilitySet::all()) {
        if bit != CapabilitySet::NET_RAW {
            match remove_capability_from_bounding_set(bit) {
                Ok(()) | Err(rustix::io::Errno::INVAL) => {} // INVAL: beyond this kernel's last cap
                Err(e) => return Err(fail(e)),
            }
        }
    }
    clear_ambient_capability_set().map_err(fail)?;
    let mut sets = capabilities(None).map_err(fail)?;
    sets.permitted = CapabilitySet::empty();
    sets.effective = CapabilitySet::empty();
    sets.inheritable = CapabilitySet::empty();
    set_capabilities(None, sets).map_err(fail)
}

fn single_bits(set: CapabilitySet) -> impl Iterator<Item = CapabilitySet> {
    (0..64)
        .map(|i| CapabilitySet::from_bits_retain(1 << i))
        .filter(move |bit| set.contains(*bit))
}
