//! Moving targets: the chain evolves while the sync runs, and the runner feeds each new target
//! at its block time. Every run checks after every step that each write is the data of a
//! target the sync was given, and at the end that the store holds exactly the final target
//! (flat accounts and slots, every code it references, and exactly its trie node set; see
//! `snap_sim::sim`). Each test also checks that the situation it names really happened: the
//! syncer's phase when the move was fed, the requests sent before and after it, or what the
//! chain changed between the first and the final target.

use std::time::Duration;

use alloy_primitives::B256;
use snap_core::sync::Phase;
use snap_sim::sim::{
    Behaviour, Faults, MoveRecord, NetConfig, Outcome, RunOptions, SimConfig, Summary, World,
};

/// A run of `accounts` accounts over `peers` honest peers on the default network, with
/// `moves` moves of 32 blocks every `block_ms`.
fn moving(seed: u64, accounts: usize, peers: usize, moves: u64, block_ms: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, accounts, peers);
    config.moves = moves;
    config.block_time = Duration::from_millis(block_ms);
    config.changes_per_block = 4;
    config
}

/// The same on a slow network (256 KiB/s links), moves every 8 blocks: the range phase takes
/// seconds, so moves land inside it.
fn slow(seed: u64, accounts: usize, peers: usize, moves: u64, block_ms: u64) -> SimConfig {
    let mut config = moving(seed, accounts, peers, moves, block_ms);
    config.blocks_per_move = 8;
    config.changes_per_block = 6;
    config.net = NetConfig { bandwidth: 256 * 1024, ..NetConfig::default() };
    config
}

fn pass(config: &SimConfig) -> (World, Summary, Outcome) {
    let world = World::build(config, RunOptions::default()).expect("the world builds");
    let outcome = world.run(config, RunOptions::default(), &mut |_| {});
    match &outcome.result {
        Ok(summary) => {
            let summary = summary.clone();
            assert_eq!(summary.moves.len() as u64, config.moves, "every move was fed");
            assert_eq!(summary.root, world.final_target().root());
            (world, summary, outcome)
        }
        Err(_) => panic!("expected PASS:\n{}", outcome.render()),
    }
}

/// The first move fed in `phase`.
fn move_in(summary: &Summary, phase: Phase) -> Option<&MoveRecord> {
    summary.moves.iter().find(|m| m.phase == phase)
}

#[test]
fn target_moves_during_account_ranges() {
    let config = slow(1, 3000, 2, 3, 10);
    let (world, summary, _) = pass(&config);
    let first = summary.moves[0];
    assert_eq!(first.phase, Phase::Ranges);
    // Account ranges were requested before the move and still after it: the move landed
    // while the account trie was being downloaded.
    assert!(first.kinds.accounts > 0, "{first:?}");
    assert!(summary.kinds.accounts > first.kinds.accounts, "{first:?} {:?}", summary.kinds);
    assert!(first.written.accounts < world.target().state.account_list().len() as u64);
    // The target really changed, and healing had to fetch nodes to catch up.
    assert!(world.changed_nodes().unwrap() > 0);
    assert!(summary.heal_nodes > 0, "{summary:?}");
}

/// One large contract of about 27,000 slots among 40 accounts, on the slow network, with
/// moves every 8 blocks of `block_ms`.
fn large_contract(seed: u64, moves: u64, block_ms: u64) -> SimConfig {
    let mut config = slow(seed, 40, 2, moves, block_ms);
    config.slots = 30_000;
    config.large = 1;
    config.large_percent = 90;
    config.storage_percent = 30;
    config
}

/// The large contracts of the first target with their storage roots in the first and the final
/// target (`None` when deleted).
fn large_roots(world: &World) -> Vec<(B256, B256, Option<B256>)> {
    let first = world.target();
    first
        .state
        .account_list()
        .iter()
        .filter(|(hash, _)| first.state.slot_list(hash).len() >= 10_000)
        .map(|(hash, account)| {
            let last = world.final_target().account(hash).map(|a| a.storage_root);
            (*hash, account.storage_root, last)
        })
        .collect()
}

#[test]
fn target_moves_during_storage_chunks_of_a_large_contract() {
    let config = large_contract(2, 3, 100);
    let (world, summary, _) = pass(&config);
    let first = summary.moves[0];
    assert_eq!(first.phase, Phase::Ranges);
    // Chunks of the large contract were requested before the move and after it.
    assert!(first.kinds.chunks > 0, "{first:?}");
    assert!(summary.kinds.chunks > first.kinds.chunks, "{first:?} {:?}", summary.kinds);
    assert_eq!(large_roots(&world).len(), 1);
    assert!(summary.heal_nodes > 0);
}

#[test]
fn large_contract_whose_storage_changes_between_targets() {
    let mut config = large_contract(4, 3, 150);
    config.crash_every = 60;
    let (world, summary, outcome) = pass(&config);
    // The contract survives, with other storage at the final target than at the first.
    let large = large_roots(&world);
    assert!(
        large.iter().any(|(_, first, last)| last.is_some_and(|last| last != *first)),
        "{large:?}"
    );
    assert!(world.chain_stats().large_slot_writes > 0);
    // Its slots were partly stored for an earlier target before the chain changed them.
    assert!(summary.moves.iter().any(|m| m.written.slots > 0), "{}", outcome.render());
    assert!(summary.heal_nodes > 0 && summary.healed_slots > 0, "{summary:?}");
}

#[test]
fn target_moves_during_healing() {
    let config = moving(1, 1000, 4, 6, 4);
    let (_, summary, outcome) = pass(&config);
    let healing = move_in(&summary, Phase::Healing)
        .unwrap_or_else(|| panic!("no move landed during healing:\n{}", outcome.render()));
    // Nodes were requested before that move, and after it (healing restarted from the new
    // root and finished).
    assert!(healing.kinds.nodes > 0, "{healing:?}");
    assert!(summary.kinds.nodes > healing.kinds.nodes);
}

#[test]
fn account_deleted_between_targets() {
    let config = moving(5, 1500, 2, 3, 8);
    let (world, summary, outcome) = pass(&config);
    let (first, last) = (world.target(), world.final_target());
    // Accounts with storage were downloaded for an earlier target, deleted by the chain, and
    // removed from the store with their storage by pruned ranges; the end check found none of
    // them, nor any of their slots or storage-trie nodes.
    assert!(!summary.deleted_after_download.is_empty(), "{}", outcome.render());
    for hash in &summary.deleted_after_download {
        assert!(first.account(hash).is_some() && last.account(hash).is_none());
        assert!(!first.state.slot_list(hash).is_empty());
    }
}

#[test]
fn crash_right_after_a_move() {
    let mut config = moving(6, 1500, 3, 8, 4);
    config.crash_every = 200;
    config.faults = Faults::List(vec![Behaviour::Slow]);
    let (_, summary, outcome) = pass(&config);
    assert!(
        summary.moves.iter().any(|m| m.crash_after),
        "no crash right after a move:\n{}",
        outcome.render()
    );
    assert!(summary.crashes > 0);
}

#[test]
fn heal_against_partly_stateless_peers() {
    let mut config = moving(7, 1500, 5, 8, 4);
    config.faults = Faults::List(vec![
        Behaviour::ShortMemory,
        Behaviour::ShortMemory,
        Behaviour::EmptyNodes,
        Behaviour::Empty,
    ]);
    let (_, summary, outcome) = pass(&config);
    assert!(move_in(&summary, Phase::Healing).is_some(), "{}", outcome.render());
    assert!(summary.heal_nodes > 0);
    // The short-memory peers were asked for trie nodes, and for roots they had dropped (and
    // answered empty); the runner already failed the run had the syncer disconnected any of
    // the stateless peers.
    let short = outcome.peers.iter().filter(|(b, _)| *b == Behaviour::ShortMemory);
    let (nodes, forgotten) =
        short.fold((0, 0), |(n, f), (_, s)| (n + s.by_kind[3], f + s.unknown_roots));
    assert!(nodes > 0 && forgotten > 0, "{}", outcome.render());
}

#[test]
fn peers_forget_old_roots_and_the_sync_still_converges() {
    // Every peer keeps only the states of the last 8 blocks: each move makes the previous
    // target unavailable everywhere, and requests still out for it come back empty.
    let mut config = slow(8, 2000, 3, 4, 10);
    config.retain_blocks = 8;
    let (_, summary, outcome) = pass(&config);
    let unknown: u64 = outcome.peers.iter().map(|(_, stats)| stats.unknown_roots).sum();
    assert!(unknown > 0, "{}", outcome.render());
    assert!(summary.heal_nodes > 0);
}

#[test]
fn a_fixed_target_still_counts_exactly() {
    // Without moves nothing changes: the range phase writes each account and slot once (the
    // runner checks the final counters exactly) and healing fetches only what the range
    // phase could not prove.
    let config = moving(9, 2000, 2, 0, 4);
    let (world, summary, _) = pass(&config);
    assert_eq!(world.changed_nodes(), Some(0));
    assert!(summary.moves.is_empty());
    assert_eq!(summary.accounts, world.target().state.account_list().len() as u64);
    assert!(summary.heal_nodes < summary.nodes / 10, "{summary:?}");
}

/// The moving chain of issue #18, scaled down: 10,000 accounts over 4 honest peers 100 ms
/// away, each message taking `len / bandwidth` on the wire; the chain makes a block every
/// `block_ms` and every block is a move (`moves` of them, more than the sync lasts).
fn every_block(bandwidth: u64, moves: u64, block_ms: u64) -> SimConfig {
    let mut config = SimConfig::new(1, 10_000, 4);
    config.net =
        NetConfig { latency: Duration::from_millis(100), bandwidth, ..NetConfig::default() };
    config.moves = moves;
    config.blocks_per_move = 1;
    config.block_time = Duration::from_millis(block_ms);
    config
}

/// Runs `config` to its end check and returns the world and the summary; the sync may finish
/// before the chain stops.
fn finish(config: &SimConfig) -> (World, Summary) {
    let world = World::build(config, RunOptions::default()).expect("the world builds");
    let outcome = world.run(config, RunOptions::default(), &mut |_| {});
    match outcome.result {
        Ok(summary) => (world, summary),
        Err(_) => panic!("expected PASS:\n{}", outcome.render()),
    }
}

/// The virtual time a sync of the same state takes on a chain that stands still.
fn still_time(config: &SimConfig) -> Duration {
    let still = SimConfig { moves: 0, ..config.clone() };
    finish(&still).1.sim
}

#[test]
fn finishes_at_the_newest_target_while_a_12s_chain_keeps_moving() {
    // A slow network: the sync takes about 20 s of virtual time, so blocks land in it.
    let config = every_block(40_000, 8, 12_000);
    let still = still_time(&config);
    let (world, summary) = finish(&config);
    let fed = summary.moves.len();
    assert!(fed >= 1, "the chain moved during the sync: {summary:?}");
    assert!(fed < config.moves as usize, "finished while the chain still moves: {summary:?}");
    // Exactly the newest target fed (the runner's end check compared the whole store to it).
    assert_eq!(summary.root, world.targets()[fed].root());
    assert!(
        summary.sim * 2 <= still * 3,
        "moving {:?} against still {still:?}: more than 1.5x",
        summary.sim
    );
}

#[test]
fn finishes_while_a_2s_chain_keeps_moving() {
    // Blocks come faster than one healing round (about ten round trips deep), so the sync
    // finishes at a target at most one block behind the newest; before it held newer
    // targets, healing restarted at every block and the sync finished only once the chain
    // stopped (33.6 s of virtual time here, 4.7x).
    let mut config = every_block(150_000, 12, 2_000);
    config.finish_within = 1;
    let still = still_time(&config);
    let (world, summary) = finish(&config);
    let fed = summary.moves.len();
    assert!(fed >= 2, "the chain moved during the sync: {summary:?}");
    assert!(fed < config.moves as usize, "finished while the chain still moves: {summary:?}");
    // The store is exactly a target's state (the runner's end check), one at most a block
    // behind the newest fed.
    let finished = world.targets().iter().position(|t| t.root() == summary.root);
    assert!(finished.is_some_and(|index| index + 1 >= fed), "{finished:?} of {fed}");
    assert!(
        summary.sim * 2 <= still * 3,
        "moving {:?} against still {still:?}: more than 1.5x",
        summary.sim
    );
}
