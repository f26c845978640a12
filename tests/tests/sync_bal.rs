//! snap/2 catch-up scenarios on the BAL simulation (`snap_sim::sim::bal`): a chain whose blocks
//! carry real access lists, headers fed in order, peers that retain, lack, cut short or corrupt
//! lists. Every run must end with the store exactly equal to the final target's state (flat
//! accounts and slots, codes, every trie node), and every rebuilt root must have matched (a
//! mismatch is repaired by downloading again, which would hide an application bug).

use alloy_primitives::B256;
use snap_core::{
    serve::InMemoryState,
    sync::{
        CatchUpMode, CatchUpStrategy, HashRange, Misbehaviour, Phase, RestartReason, SyncEvent,
    },
    wire::SnapVersion,
};
use snap_sim::sim::{
    bal::{BalChain, BalOutcome, BalPeer, BalSetup, HostEvent, Served, When, run},
    check_exact,
};

/// `0..default`, or `0..$SNAP_SIM_BAL_SEEDS` for a longer sweep.
fn seeds(default: u64) -> std::ops::Range<u64> {
    let count = std::env::var("SNAP_SIM_BAL_SEEDS").ok().and_then(|v| v.parse().ok());
    0..count.unwrap_or(default)
}

fn served(chain: &BalChain) -> Served<'_> {
    Served { states: &chain.states, bals: &chain.bals, headers: &chain.headers }
}

fn exact(out: &BalOutcome, state: &InMemoryState, seed: u64) {
    assert_eq!(out.target_root, state.root(), "seed {seed}: Done on the final target");
    check_exact(&out.store, state).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let mismatch = out.events.iter().find(|e| matches!(e, SyncEvent::RootMismatch { .. }));
    assert!(mismatch.is_none(), "seed {seed}: {mismatch:?}");
}

fn peers(kinds: &[(&[SnapVersion], BalPeer)]) -> BalSetup {
    BalSetup {
        peers: kinds.iter().map(|(versions, kind)| (versions.to_vec(), *kind)).collect(),
        ..BalSetup::default()
    }
}

const V1: &[SnapVersion] = &[SnapVersion::V1];
const V2: &[SnapVersion] = &[SnapVersion::V2];

#[test]
fn moves_during_ranges_are_caught_up_by_applying_every_block() {
    for seed in seeds(8) {
        let chain = BalChain::generate(seed, 300, 8);
        let delay = (seed % 6) as usize * 4;
        let script = vec![
            (When::Step(8 + delay), HostEvent::Headers(chain.headers[1..4].to_vec())),
            (When::Step(16 + delay), HostEvent::Headers(chain.headers[4..6].to_vec())),
            (When::Phase(Phase::Applying), HostEvent::Headers(chain.headers[6..].to_vec())),
        ];
        let out =
            run(&BalSetup::default(), seed, chain.headers[0], served(&chain), script).unwrap();
        assert_eq!(out.strategy(), Some(CatchUpStrategy::Bal), "seed {seed}");
        let decided = out.events.iter().position(|e| matches!(e, SyncEvent::Strategy(_)));
        let moved = out.events.iter().position(|e| matches!(e, SyncEvent::NewTarget(_)));
        assert!(moved < decided, "seed {seed}: the target moved while ranges downloaded");
        assert_eq!(out.counters.bals, 8, "seed {seed}: every block applied once");
        exact(&out, &chain.states[8], seed);
    }
}

#[test]
fn crashes_during_application_and_rebuild_apply_every_block_once() {
    for seed in seeds(6) {
        let chain = BalChain::generate(50 + seed, 300, 12);
        let script = vec![
            (When::Step(30), HostEvent::Headers(chain.headers[1..].to_vec())),
            (When::Phase(Phase::Applying), HostEvent::Crash),
            // Mid-application: some blocks applied and committed, others not yet.
            (When::Applied(104 + seed % 4), HostEvent::Crash),
            (When::Phase(Phase::Rebuilding), HostEvent::Crash),
        ];
        let out =
            run(&BalSetup::default(), seed, chain.headers[0], served(&chain), script).unwrap();
        assert_eq!(out.crashes, 3, "seed {seed}: crashed while applying and rebuilding");
        assert_eq!(out.counters.bals, 12, "seed {seed}: every block applied exactly once");
        exact(&out, &chain.states[12], seed);
    }
}

#[test]
fn a_reorg_past_the_target_is_repaired_from_the_orphaned_lists() {
    for seed in seeds(6) {
        let main = BalChain::generate(80 + seed, 300, 6);
        let branch = main.fork(seed, 3, 5);
        let states: Vec<InMemoryState> =
            main.states.iter().chain(&branch.states).cloned().collect();
        let mut bals = main.bals.clone();
        bals.extend(branch.bals.clone());
        let headers: Vec<_> = main.headers.iter().chain(&branch.headers).copied().collect();
        let all = Served { states: &states, bals: &bals, headers: &headers };
        let script = || {
            vec![
                (When::Step(25), HostEvent::Headers(main.headers[1..7].to_vec())),
                (When::Phase(Phase::Applying), HostEvent::Headers(branch.headers.clone())),
            ]
        };
        let out = run(&BalSetup::default(), seed, main.headers[0], all, script()).unwrap();
        assert!(out.saw(|e| matches!(e, SyncEvent::Reorg { ancestor: 103, .. })), "seed {seed}");
        assert!(!out.saw(|e| matches!(e, SyncEvent::Restarted { .. })), "seed {seed}");
        exact(&out, branch.states.last().unwrap(), seed);

        // Without the orphaned lists the sync restarts on the branch, and still ends exact.
        let mut without = bals.clone();
        for header in &main.headers[4..] {
            without.remove(&header.hash);
        }
        let all = Served { states: &states, bals: &without, headers: &headers };
        let out = run(&BalSetup::default(), seed, main.headers[0], all, script()).unwrap();
        let restarted = |e: &SyncEvent| {
            matches!(e, SyncEvent::Restarted { reason: RestartReason::OrphanedBalsUnavailable, .. })
        };
        assert!(out.saw(restarted), "seed {seed}: {:?}", out.events);
        exact(&out, branch.states.last().unwrap(), seed);
    }
}

#[test]
fn a_rebuilt_root_that_does_not_match_names_the_ranges_and_repairs_them() {
    for seed in seeds(6) {
        let chain = BalChain::generate(120 + seed, 300, 3);
        // An account no block touches: the damage is the only reason for a mismatch.
        let account_of = |state: &InMemoryState, hash: &B256| {
            state.account_list().iter().find(|(h, _)| h == hash).map(|(_, a)| *a)
        };
        let victim = chain.states[0]
            .account_list()
            .iter()
            .map(|(hash, _)| *hash)
            .find(|hash| {
                let first = account_of(&chain.states[0], hash);
                chain.states.iter().all(|state| account_of(state, hash) == first)
            })
            .expect("some account never changes");
        let script = vec![
            (When::Step(10), HostEvent::Headers(chain.headers[1..].to_vec())),
            (When::Step(11), HostEvent::Damage(victim)),
        ];
        let out =
            run(&BalSetup::default(), seed, chain.headers[0], served(&chain), script).unwrap();
        let ranges = out.events.iter().find_map(|e| match e {
            SyncEvent::RootMismatch { ranges, expected, .. } => {
                assert_eq!(*expected, chain.headers[3].state_root);
                Some(ranges.clone())
            }
            _ => None,
        });
        let nibble = victim[0] >> 4;
        let mut first = B256::ZERO;
        first[0] = nibble << 4;
        let mut last = B256::repeat_byte(0xff);
        last[0] = (nibble << 4) | 0x0f;
        assert_eq!(
            ranges.expect("the damage was caught"),
            vec![HashRange { first, last }],
            "seed {seed}: exactly the victim's sixteenth"
        );
        check_exact(&out.store, &chain.states[3]).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn peers_serving_wrong_or_reordered_lists_are_penalized_and_the_sync_ends_exact() {
    for seed in seeds(8) {
        let chain = BalChain::generate(140 + seed, 300, 8);
        let liar = if seed % 2 == 0 { BalPeer::Reorders } else { BalPeer::Corrupts };
        // The liar is peer 1, which wins ties, so it is asked first.
        let setup = peers(&[(V2, liar), (V2, BalPeer::Honest), (V2, BalPeer::Honest)]);
        let script = vec![(When::Step(8), HostEvent::Headers(chain.headers[1..].to_vec()))];
        let out = run(&setup, seed, chain.headers[0], served(&chain), script).unwrap();
        assert!(
            matches!(out.penalized.as_slice(), [(_, Misbehaviour::BadBal(_))]),
            "seed {seed}: {:?}",
            out.penalized
        );
        exact(&out, &chain.states[8], seed);
    }
}

#[test]
fn peers_that_lack_lists_cut_answers_short_or_never_answer_are_worked_around_without_penalty() {
    for seed in seeds(8) {
        let chain = BalChain::generate(160 + seed, 300, 10);
        let setup = peers(&[
            (V2, BalPeer::Silent),
            (V2, BalPeer::Lacks),
            (V2, BalPeer::Truncates),
            (V2, BalPeer::Lacks),
        ]);
        let script = vec![(When::Step(8), HostEvent::Headers(chain.headers[1..].to_vec()))];
        let out = run(&setup, seed, chain.headers[0], served(&chain), script).unwrap();
        assert!(out.penalized.is_empty(), "seed {seed}: {:?}", out.penalized);
        assert_eq!(out.counters.bals, 10, "seed {seed}");
        exact(&out, &chain.states[10], seed);
    }
}

#[test]
fn lists_past_the_peers_retention_stall_near_the_tip_and_restart_far_behind_it() {
    // Lists retained for the newest 64 blocks cover a 12-block catch-up.
    let chain = BalChain::generate(180, 300, 12);
    let script = vec![(When::Step(8), HostEvent::Headers(chain.headers[1..].to_vec()))];
    let setup = BalSetup { retain: Some(64), ..BalSetup::default() };
    let out = run(&setup, 1, chain.headers[0], served(&chain), script.clone()).unwrap();
    exact(&out, &chain.states[12], 1);
    // Retained for 4 blocks, the oldest lists are gone everywhere. So close to the tip that may
    // be peers not having imported them yet: the sync waits (and says it stalls) rather than
    // accept a wrong state or throw its work away.
    let setup = BalSetup { retain: Some(4), ..BalSetup::default() };
    let error = run(&setup, 1, chain.headers[0], served(&chain), script).unwrap_err();
    assert!(!error.contains("stalls: 0"), "{error}");
    // Far behind the tip they are expired: the sync restarts at the tip and ends exact there.
    let long = BalChain::generate(181, 300, 80);
    let script = vec![(When::Step(8), HostEvent::Headers(long.headers[1..].to_vec()))];
    let out = run(&setup, 2, long.headers[0], served(&long), script).unwrap();
    let expired = |e: &SyncEvent| {
        matches!(e, SyncEvent::Restarted { reason: RestartReason::BalsExpired, .. })
    };
    assert!(out.saw(expired), "{:?}", out.events);
    exact(&out, &long.states[80], 2);
}

#[test]
fn auto_mode_picks_what_the_peers_speak() {
    let chain = BalChain::generate(200, 300, 5);
    let script = || vec![(When::Step(8), HostEvent::Headers(chain.headers[1..].to_vec()))];
    let both: &[SnapVersion] = &[SnapVersion::V1, SnapVersion::V2];
    // Mixed: snap/2 catch-up, lists only from the snap/2 peers (the runner checks).
    let mixed = peers(&[(V1, BalPeer::Honest), (both, BalPeer::Honest), (V2, BalPeer::Honest)]);
    let out = run(&mixed, 1, chain.headers[0], served(&chain), script()).unwrap();
    assert_eq!(out.strategy(), Some(CatchUpStrategy::Bal));
    exact(&out, &chain.states[5], 1);
    // snap/1 only: healing, although the headers commit to access lists.
    let old = peers(&[(V1, BalPeer::Honest), (V1, BalPeer::Honest), (V1, BalPeer::Honest)]);
    let out = run(&old, 2, chain.headers[0], served(&chain), script()).unwrap();
    assert_eq!(out.strategy(), Some(CatchUpStrategy::Heal));
    assert_eq!(out.counters.bals, 0);
    exact(&out, &chain.states[5], 2);
    // Forced snap/1 with snap/2-capable peers on both versions.
    let forced = BalSetup { catch_up: CatchUpMode::Heal, ..mixed };
    let out = run(&forced, 3, chain.headers[0], served(&chain), script()).unwrap();
    assert_eq!(out.strategy(), Some(CatchUpStrategy::Heal));
    exact(&out, &chain.states[5], 3);
}
