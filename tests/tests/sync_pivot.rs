//! The target trust model against lying peers: `snap_core::pivot` driven by the pivot
//! simulation (`snap_sim::sim::pivot`) under every anchor, with honest peers and header liars
//! of every kind, while the chain grows and reorgs. Every run checks that the target only ever
//! moves to an anchored header, in linked order, that no well-behaved peer is penalized and
//! that memory stays bounded; with enough honest peers, that the sync starts and follows the
//! tip. `SNAP_SIM_PIVOT_SEEDS` sets the seeds per scenario (default 8).

use snap_sim::sim::pivot::{AnchorKind, PeerKind, PivotReport, PivotScenario, run_pivot};

fn seeds() -> u64 {
    std::env::var("SNAP_SIM_PIVOT_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(8)
}

const HONEST: PeerKind = PeerKind::Honest { lag: 0, retain: 128 };

fn sweep(name: &str, make: impl Fn(u64) -> PivotScenario) -> Vec<PivotReport> {
    (1..=seeds())
        .map(|seed| {
            let scenario = make(seed);
            match run_pivot(&scenario) {
                Ok(report) => report,
                Err(violation) => panic!("{name}, seed {seed}: {}\n{scenario:#?}", violation.0),
            }
        })
        .collect()
}

/// The liars every scenario can meet.
fn liars() -> Vec<PeerKind> {
    vec![
        PeerKind::FakeChain { bump: 3 },
        PeerKind::FakeChain { bump: 1_000_000_000 },
        PeerKind::Malformed,
        PeerKind::BadProof,
        PeerKind::Silent,
        PeerKind::Late,
        PeerKind::Empty,
    ]
}

#[test]
fn peers_agreement_follows_the_honest_chain_among_liars() {
    let reports = sweep("peers among liars", |seed| {
        let mut peers = vec![HONEST, PeerKind::Honest { lag: 2, retain: 128 }, HONEST];
        peers.extend(liars());
        PivotScenario::new(seed, AnchorKind::Peers, peers)
    });
    for report in &reports {
        let (target, _) = report.started.expect("started");
        assert!(report.headers > 0, "followed the chain: {report:?}");
        assert!(target.number > 0);
        // The malformed replier is always asked (for its head) and always penalized; the bad
        // prover only when it was probed before another peer's proof started the sync. (The
        // simulation fails the run if any other peer is penalized.)
        assert!(
            report.penalized.iter().any(|(_, reason)| reason.starts_with("header reply")),
            "{:?}",
            report.penalized
        );
    }
}

#[test]
fn one_liar_alone_never_moves_the_target() {
    // One honest peer and one peer announcing a made-up chain far above it: with a quorum of
    // two nothing is trusted, so nothing starts (and the liar, lying well-formedly, is not
    // penalized: it cannot be told from a peer on another branch).
    sweep("one honest, one liar", |seed| {
        PivotScenario::new(
            seed,
            AnchorKind::Peers,
            vec![HONEST, PeerKind::FakeChain { bump: 1_000_000 }],
        )
    })
    .iter()
    .for_each(|report| assert!(report.started.is_none(), "{report:?}"));
}

#[test]
fn liars_claiming_high_heads_cannot_hold_the_choice_up() {
    // Two liars announce (different) made-up heads far above the chain, so the second-highest
    // head is a lie: the round based on it gets no agreement, and the next lower head is used.
    for report in sweep("two high liars", |seed| {
        PivotScenario::new(
            seed,
            AnchorKind::Peers,
            vec![
                PeerKind::FakeChain { bump: 1_000_000 },
                PeerKind::FakeChain { bump: 2_000_000 },
                HONEST,
                HONEST,
            ],
        )
    }) {
        let (target, at) = report.started.expect("started");
        assert!(target.number <= 300 && at.as_secs() < 5, "{report:?}");
    }
}

#[test]
fn peers_agreement_follows_reorgs() {
    let reports = sweep("peers with reorgs", |seed| {
        let mut scenario = PivotScenario::new(
            seed,
            AnchorKind::Peers,
            vec![HONEST, HONEST, HONEST, PeerKind::FakeChain { bump: 5 }],
        );
        scenario.reorg_every = 7;
        scenario.reorg_depth = 3;
        scenario.config.offset = 2;
        scenario
    });
    assert!(reports.iter().any(|r| r.reorgs > 0), "reorgs were seen");
}

#[test]
fn a_pivot_no_peer_serves_falls_back_to_the_trusted_head() {
    // Honest peers that keep only their head state (as `snap serve` does).
    for report in sweep("head-only servers", |seed| {
        let mut scenario = PivotScenario::new(
            seed,
            AnchorKind::Peers,
            vec![PeerKind::Honest { lag: 0, retain: 1 }; 3],
        );
        scenario.growth = 0;
        scenario
    }) {
        let (target, _) = report.started.expect("started");
        assert_eq!(target.number, report.tip, "started at the head");
    }
}

#[test]
fn a_consensus_client_anchors_and_peers_fill_in_the_headers() {
    for report in sweep("consensus", |seed| {
        let mut peers = vec![HONEST];
        peers.extend(liars());
        let mut scenario = PivotScenario::new(seed, AnchorKind::Consensus, peers);
        scenario.reorg_every = 9;
        scenario.reorg_depth = 2;
        scenario
    }) {
        assert!(report.started.is_some() && report.headers > 0, "{report:?}");
    }
}

#[test]
fn a_consensus_head_far_ahead_jumps() {
    for report in sweep("consensus jump", |seed| {
        let mut scenario = PivotScenario::new(seed, AnchorKind::Consensus, vec![HONEST, HONEST]);
        scenario.config.max_backfill = 8;
        scenario.block_time = std::time::Duration::from_millis(100);
        scenario.growth = 200;
        scenario
    }) {
        assert!(report.jumps > 0, "{report:?}");
    }
}

#[test]
fn a_user_block_hash_starts_from_whichever_peer_has_it() {
    sweep("block hash", |seed| {
        let mut peers = vec![PeerKind::Empty, PeerKind::Silent, PeerKind::FakeChain { bump: 9 }];
        peers.push(HONEST);
        PivotScenario::new(seed, AnchorKind::BlockHash, peers)
    });
}

#[test]
fn a_user_root_starts_at_once() {
    for report in sweep("root", |seed| {
        PivotScenario::new(seed, AnchorKind::Root, vec![PeerKind::FakeChain { bump: 1 }])
    }) {
        let (_, at) = report.started.expect("started");
        assert_eq!(at.as_nanos(), 0);
    }
}
