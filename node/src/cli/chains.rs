//! `snap chains`: one line per built-in chain.

use std::{
    process::ExitCode,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_primitives::B256;
use snap_node::network::Network;
use snap_tokio_adapter::{chains::NamedChain, forkid::ForkId};

/// The line of one chain.
pub(crate) fn line(
    name: &str,
    network_id: u64,
    genesis: B256,
    fork_id: ForkId,
    bootnodes: usize,
) -> String {
    format!(
        "{name} network_id={network_id} genesis={genesis} fork_id={} next={} bootnodes={bootnodes}",
        fork_id.hash, fork_id.next
    )
}

/// Prints the built-in chains, each with the fork id its up-to-date nodes announce now.
pub(crate) fn run() -> ExitCode {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for chain in NamedChain::ALL {
        let spec = chain.spec();
        let fork_id = spec.fork_id_at(now);
        println!(
            "{}",
            line(&spec.name, spec.network_id, spec.genesis_hash(), fork_id, spec.bootnodes.len())
        );
    }
    let demo = Network::demo_client().info;
    let fork_id = demo.forks.fork_id(0, 0);
    println!("{}", line("demo", demo.network_id, demo.forks.genesis(), fork_id, 0));
    ExitCode::SUCCESS
}
