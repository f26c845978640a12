//! What snap/1 healing fetches against what snap/2 fetches, on the same simulated chains and
//! the same moves: trie-node bytes (`GetTrieNodes` answers) against block-access-list bytes.
//! Every run ends exactly on the final state.
//!
//! `cargo run --release -p snap-sim --example bal_vs_heal -- [seeds per row, default 10]`

use snap_core::{
    sync::{CatchUpMode, CatchUpStrategy},
    wire::SnapVersion,
};
use snap_sim::sim::{
    bal::{BalChain, BalPeer, BalSetup, HostEvent, Served, When, run},
    check_exact,
};

fn main() -> Result<(), String> {
    let seeds: u64 = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(10);
    let setup = |version: SnapVersion, catch_up| BalSetup {
        peers: (0..3).map(|_| (vec![version], BalPeer::Honest)).collect(),
        retain: None,
        catch_up,
    };
    let heal = setup(SnapVersion::V1, CatchUpMode::Heal);
    let bal = setup(SnapVersion::V2, CatchUpMode::Bal);
    println!(
        "accounts blocks seeds | heal: node_bytes GetTrieNodes | bal: bal_bytes lists \
         GetBlockAccessLists rebuilt_leaves | bal/heal bytes"
    );
    for (accounts, blocks) in [(1000, 4), (1000, 16), (1000, 64), (4000, 16), (4000, 64)] {
        let mut totals = [0u64; 6];
        for seed in 0..seeds {
            let chain = BalChain::generate(1000 + seed, accounts, blocks);
            let served =
                Served { states: &chain.states, bals: &chain.bals, headers: &chain.headers };
            // The chain moves while ranges download: a quarter of the blocks at a time.
            let quarter = (blocks as usize / 4).max(1);
            let script = || {
                (0..4)
                    .map(|i| {
                        let end = (quarter * (i + 1)).min(blocks as usize);
                        let headers = chain.headers[quarter * i + 1..=end].to_vec();
                        (When::Step(10 + i * 40), HostEvent::Headers(headers))
                    })
                    .collect::<Vec<_>>()
            };
            let last = chain.states.last().ok_or("no blocks")?;
            let healed = run(&heal, seed, chain.headers[0], served, script())?;
            check_exact(&healed.store, last)?;
            let applied = run(&bal, seed, chain.headers[0], served, script())?;
            check_exact(&applied.store, last)?;
            if applied.strategy() != Some(CatchUpStrategy::Bal) {
                return Err(format!("seed {seed}: snap/2 was not used"));
            }
            let count = |out: &snap_sim::sim::bal::BalOutcome, name: &str| {
                out.requests.get(name).copied().unwrap_or(0)
            };
            totals[0] += healed.counters.node_bytes;
            totals[1] += count(&healed, "GetTrieNodes");
            totals[2] += applied.counters.bal_bytes;
            totals[3] += applied.counters.bals;
            totals[4] += count(&applied, "GetBlockAccessLists");
            totals[5] += applied.counters.rebuilt_leaves;
        }
        println!(
            "{accounts} {blocks} {seeds} | {} {} | {} {} {} {} | {:.3}",
            totals[0],
            totals[1],
            totals[2],
            totals[3],
            totals[4],
            totals[5],
            totals[2] as f64 / totals[0].max(1) as f64
        );
    }
    Ok(())
}
