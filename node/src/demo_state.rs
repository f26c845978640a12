//! The demo's built-in state: generated from a seed by `snap-gen`'s in-memory generator (the
//! simulator's: accounts with small storage, a few large contracts, shared and unique code), or
//! a state dump such as hivechain's head state.

use std::path::Path;

use snap_core::{dump::StateDump, serve::InMemoryState};
use snap_gen::StateSpec;

/// A generated state of about `accounts` accounts and `slots` slots (seeded, so the same
/// arguments give the same root).
pub fn generated(seed: u64, accounts: usize, slots: usize) -> Result<InMemoryState, String> {
    StateSpec::new(seed, accounts, slots)
        .generate_state()
        .map_err(|error| format!("state generation: {error}"))
}

/// The state of a JSON dump (geth's `dump` format, a genesis alloc, or hivechain's
/// `headstate.json`).
pub fn from_dump_file(path: &Path) -> Result<InMemoryState, String> {
    let json = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dump = StateDump::from_json(&json).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(dump.to_state())
}
