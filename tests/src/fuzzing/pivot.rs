//! The target trust model under fuzzer-chosen scenarios: anchors, honest peers and header
//! liars of every kind, chain growth and reorgs, run through the pivot simulation, whose
//! invariants (the target only moves to anchored headers, in linked order; no well-behaved
//! peer penalized; bounded memory; liveness with enough honest peers) are the oracle.

use std::time::Duration;

use arbitrary::Arbitrary;

use crate::sim::pivot::{AnchorKind, PeerKind, PivotScenario, run_pivot};

/// One scenario, as the fuzzer draws it.
#[derive(Clone, Debug, Arbitrary)]
pub struct Input {
    seed: u64,
    anchor: u8,
    peers: Vec<(u8, u8)>,
    quorum: u8,
    offset: u8,
    initial: u8,
    growth: u8,
    reorg_every: u8,
    reorg_depth: u8,
    max_headers: u8,
}

fn kind(tag: u8, arg: u8) -> PeerKind {
    match tag % 8 {
        0 | 1 => PeerKind::Honest { lag: u64::from(arg % 4), retain: 1 + u64::from(arg % 128) },
        2 => PeerKind::FakeChain { bump: u64::from(arg) << (arg % 40) },
        3 => PeerKind::Malformed,
        4 => PeerKind::BadProof,
        5 => PeerKind::Silent,
        6 => PeerKind::Late,
        _ => PeerKind::Empty,
    }
}

/// The scenario an input describes.
pub fn scenario(input: &Input) -> PivotScenario {
    let anchor = match input.anchor % 4 {
        0 | 1 => AnchorKind::Peers,
        2 => AnchorKind::Consensus,
        _ => AnchorKind::BlockHash,
    };
    let peers = input.peers.iter().take(8).map(|(tag, arg)| kind(*tag, *arg)).collect();
    let mut scenario = PivotScenario::new(input.seed, anchor, peers);
    // A quorum of one trusts any single peer (test networks only): not what is checked here.
    scenario.config.quorum = 2 + usize::from(input.quorum % 2);
    scenario.config.offset = u64::from(input.offset % 70);
    // Header requests of a few headers (geth asks for 192) follow a 2 s chain more slowly than
    // it grows when peers time out: a throughput limit, not what this target checks.
    scenario.config.max_headers = 8 + u64::from(input.max_headers % 57);
    scenario.config.max_backfill = 16 + u64::from(input.max_headers);
    scenario.initial_blocks = 2 + u64::from(input.initial);
    scenario.growth = u64::from(input.growth % 48);
    scenario.reorg_every = u64::from(input.reorg_every % 12);
    scenario.reorg_depth = 1 + u64::from(input.reorg_depth % 6);
    scenario.settle = Duration::from_secs(20);
    scenario
}

/// Runs one input; panics on a violated invariant.
pub fn check(input: Input) {
    let scenario = scenario(&input);
    if let Err(violation) = run_pivot(&scenario) {
        panic!("{}\n{scenario:#?}", violation.0);
    }
}
