//! Computes the state root of a geth state dump (or a genesis file's `alloc`), recomputing every
//! storage root from its slots.
//!
//! `cargo run -p snap-core --example state_root -- <dump.json>`; the last line is the root.

use std::process::ExitCode;

use snap_core::dump::StateDump;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: state_root <geth state dump or genesis JSON>");
        return ExitCode::FAILURE;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("cannot read {path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let dump = match StateDump::from_json(&text) {
        Ok(dump) => dump,
        Err(error) => {
            eprintln!("cannot parse {path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let with_storage = dump.accounts.values().filter(|a| !a.storage.is_empty()).count();
    let slots: usize = dump.accounts.values().map(|a| a.storage.len()).sum();
    let with_code = dump.accounts.values().filter(|a| !a.code.is_empty()).count();
    println!(
        "accounts: {}, with storage: {with_storage}, slots: {slots}, with code: {with_code}",
        dump.accounts.len()
    );
    println!("{}", dump.state_root());
    ExitCode::SUCCESS
}
