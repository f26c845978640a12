//! geth's `sync_test.go` peer scenarios, and the further faults, as named simulations. Each run
//! checks, after every step, that nothing unverified was written, that the syncer's bounds held
//! and that progress never went backwards; at the end, that the stored flat state is exactly
//! the target and every stored trie node is the target's (see `snap_sim::sim`). An honest,
//! empty, unresponsive, starving, capped-code, proof-happy or self-disconnecting peer that the
//! syncer disconnects fails the run.

use std::time::Duration;

use snap_core::sync::SyncConfig;
use snap_sim::sim::{Behaviour, Faults, NetConfig, Outcome, PeerStats, SimConfig, Summary, run};

/// A run over `accounts` accounts and `slots` slots with `peers` peers, the first ones taking
/// `faults`.
fn config(
    seed: u64,
    accounts: usize,
    slots: usize,
    peers: usize,
    faults: &[Behaviour],
) -> SimConfig {
    let mut config = SimConfig::new(seed, accounts, peers);
    config.slots = slots;
    config.faults = Faults::List(faults.to_vec());
    config
}

fn pass(config: &SimConfig) -> (Summary, Outcome) {
    let outcome = run(config);
    match &outcome.result {
        Ok(summary) => (summary.clone(), outcome),
        Err(_) => panic!("expected PASS:\n{}", outcome.render()),
    }
}

fn stats(outcome: &Outcome, behaviour: Behaviour) -> &PeerStats {
    &outcome.peers.iter().find(|(b, _)| *b == behaviour).expect("peer present").1
}

fn disconnected(stats: &PeerStats) -> bool {
    stats.syncer_disconnects + stats.decode_disconnects > 0
}

#[test]
fn sync_one_honest_peer() {
    let (summary, _) = pass(&config(1, 100, 0, 1, &[]));
    assert_eq!((summary.accounts, summary.slots), (100, 0));
    assert!(summary.codes > 0 && summary.nodes > 0);
}

#[test]
fn sync_tiny_trie_one_account() {
    let (summary, _) = pass(&config(2, 1, 0, 1, &[]));
    assert_eq!(summary.accounts, 1);
}

#[test]
fn multi_sync_two_honest_peers() {
    let (summary, outcome) = pass(&config(3, 100, 0, 2, &[]));
    assert_eq!(summary.accounts, 100);
    assert!(outcome.peers.iter().all(|(_, stats)| stats.requests > 0), "both peers are used");
}

#[test]
fn sync_with_storage_chunks() {
    // Three contracts of about 3,000 slots each: more than a 64 KiB first reply holds, so
    // every contract is split into chunks.
    let mut config = config(4, 3, 9000, 1, &[]);
    config.large = 3;
    config.large_percent = 100;
    config.storage_percent = 100;
    let (summary, _) = pass(&config);
    assert!(summary.slots > 4000);
    assert!(summary.kinds.chunks > 0, "large contracts are fetched in chunks");
}

/// geth's "many useless peers": one full peer and peers that answer one kind of request empty.
fn useless(seed: u64, behaviours: &[Behaviour], tweak: impl FnOnce(&mut SimConfig)) -> Outcome {
    let mut config = config(seed, 100, 30_000, behaviours.len() + 1, behaviours);
    config.large = 5;
    tweak(&mut config);
    pass(&config).1
}

const EMPTY_ONES: [Behaviour; 3] =
    [Behaviour::EmptyAccounts, Behaviour::EmptyStorage, Behaviour::EmptyCodes];

#[test]
fn many_useless_peers() {
    assert_useless_peers_spared(&useless(5, &EMPTY_ONES, |_| {}));
}

/// Each empty peer was asked, never banned, and not asked again and again.
fn assert_useless_peers_spared(outcome: &Outcome) {
    let sim = outcome.result.as_ref().map(|summary| summary.sim).unwrap_or_default();
    // An empty answer marks the peer unavailable for that kind for 30 s: within each such
    // window it is asked at most as often as requests to it can be in flight at once.
    let per_window = SyncConfig::default().max_requests_per_peer as u64 * (sim.as_secs() / 30 + 1);
    for (behaviour, kind) in EMPTY_ONES.into_iter().zip(0..) {
        let stats = stats(outcome, behaviour);
        assert!(stats.requests > 0, "{behaviour} was asked");
        assert!(stats.by_kind[kind] <= per_window, "{behaviour} asked again and again: {stats:?}");
        assert!(!disconnected(stats), "{behaviour} is unavailable, never banned");
    }
}

#[test]
fn many_useless_peers_with_low_timeout() {
    // geth overrides the TTL limit to 1 ms to force timeout/response races: round trips of
    // 0 to 2 ms here land on both sides of the 1 ms deadline.
    let outcome = useless(6, &EMPTY_ONES, |config| {
        config.ttl_ms = 1;
        config.net = NetConfig { jitter: Duration::from_millis(1), ..NetConfig::INSTANT };
        config.store_delay = Duration::ZERO;
    });
    assert_useless_peers_spared(&outcome);
}

#[test]
fn unresponsive_peers_with_low_timeout() {
    let outcome = useless(7, &[Behaviour::Unresponsive; 3], |config| {
        config.ttl_ms = 1;
        config.net = NetConfig::INSTANT;
        config.store_delay = Duration::ZERO;
    });
    assert!(stats(&outcome, Behaviour::Unresponsive).requests > 0);
}

#[test]
fn unresponsive_peers_with_default_timeouts() {
    let outcome = useless(8, &[Behaviour::Unresponsive; 3], |_| {});
    assert!(stats(&outcome, Behaviour::Unresponsive).requests > 0);
}

#[test]
fn boundary_accounts() {
    let mut config = config(9, 3000, 0, 2, &[]);
    config.boundary = true;
    let (summary, _) = pass(&config);
    assert!(summary.accounts >= 3000 + 15, "accounts sit on the task boundaries too");
}

#[test]
fn capped_peer() {
    let (_, outcome) = pass(&config(10, 3000, 0, 4, &[Behaviour::Starving]));
    assert!(stats(&outcome, Behaviour::Starving).replies > 0);
}

#[test]
fn code_corrupt_peer() {
    // geth: a capped-code peer and a corrupt-code peer, no other.
    let (_, outcome) =
        pass(&config(11, 3000, 0, 2, &[Behaviour::CappedCode, Behaviour::CorruptCode]));
    let corrupt = stats(&outcome, Behaviour::CorruptCode);
    assert!(disconnected(corrupt), "{corrupt:?}");
    assert!(corrupt.first_reason.as_deref().is_some_and(|r| r.contains("bytecode")));
}

#[test]
fn code_capped_peer_fetches_each_code_once() {
    // One code per reply: bytecodes are deduplicated across the whole sync, so exactly one
    // request per distinct code.
    let (summary, _) = pass(&config(12, 3000, 0, 1, &[Behaviour::CappedCode]));
    assert_eq!(summary.kinds.codes, summary.codes);
}

#[test]
fn account_corrupt_proof_peer() {
    let (_, outcome) = pass(&config(13, 3000, 0, 2, &[Behaviour::CorruptAccountProof]));
    let corrupt = stats(&outcome, Behaviour::CorruptAccountProof);
    assert!(disconnected(corrupt));
    assert!(corrupt.first_reason.as_deref().is_some_and(|r| r.contains("range proof")));
}

#[test]
fn boundary_storage_trie() {
    let mut config = config(14, 10, 10_000, 2, &[]);
    config.boundary = true;
    config.large = 10;
    config.large_percent = 100;
    config.storage_percent = 100;
    pass(&config);
}

#[test]
fn storage_capped_peer() {
    let mut config = config(15, 300, 30_000, 2, &[Behaviour::Starving]);
    config.storage_percent = 100;
    let (_, outcome) = pass(&config);
    assert!(stats(&outcome, Behaviour::Starving).replies > 0);
}

fn storage_with(seed: u64, behaviour: Behaviour) -> Outcome {
    let mut config = config(seed, 100, 30_000, 4, &[behaviour]);
    config.large = 10;
    config.storage_percent = 100;
    pass(&config).1
}

#[test]
fn storage_corrupt_proof_peer() {
    let outcome = storage_with(16, Behaviour::CorruptStorageProof);
    let corrupt = stats(&outcome, Behaviour::CorruptStorageProof);
    assert!(disconnected(corrupt), "asked for chunks, its proofs fail: {corrupt:?}");
}

#[test]
fn non_proving_peer() {
    let outcome = storage_with(17, Behaviour::NoProof);
    assert!(disconnected(stats(&outcome, Behaviour::NoProof)));
}

#[test]
fn proof_happy_peer() {
    // geth: 10 accounts with 30 unique slots each, one peer that always proves the last slot.
    let mut config = config(18, 10, 300, 1, &[Behaviour::ProofHappy]);
    config.storage_percent = 100;
    config.large = 1;
    config.large_percent = 10;
    let (summary, _) = pass(&config);
    assert!(summary.slots > 0);
}

#[test]
fn uneven_storage_with_empty_chunks() {
    // Three contracts of 256 slots in three first-nibble buckets, 128-byte replies: chunks of
    // the empty nibbles come back as proofs without slots.
    let mut config = config(19, 3, 768, 1, &[]);
    config.uneven = true;
    config.large = 3;
    config.large_percent = 100;
    config.storage_percent = 100;
    config.min_request_bytes = 128;
    config.max_request_bytes = 128;
    config.chunk_slots = 16;
    let (summary, _) = pass(&config);
    assert!(summary.kinds.chunks > 3);
}

#[test]
fn bloated_proof_gap() {
    let (_, outcome) = pass(&config(20, 100, 0, 2, &[Behaviour::BloatedProofGap]));
    let bloated = stats(&outcome, Behaviour::BloatedProofGap);
    assert!(disconnected(bloated), "{bloated:?}");
}

#[test]
fn bloated_proof_gap_alone_writes_nothing_and_never_finishes() {
    // geth's TestSyncBloatedProof: with only the lying peer the sync must fail. Here it is
    // banned, nothing it sent is ever written (checked on every batch), and the run stops at
    // the livelock bound instead of finishing.
    let mut config = config(21, 100, 0, 1, &[Behaviour::BloatedProofGap]);
    config.idle_steps = 2_000;
    let outcome = run(&config);
    let reason = outcome.result.as_ref().expect_err("cannot finish without an honest peer");
    assert!(reason.starts_with("livelock") || reason.starts_with("deadlock"), "{reason}");
    assert!(disconnected(stats(&outcome, Behaviour::BloatedProofGap)));
}

#[test]
fn account_tasks_of_one_fetch_a_small_trie_in_one_request() {
    // geth's TestSyncAccountPerformance: one account task, 100 accounts, one peer.
    let mut config = config(22, 100, 0, 1, &[]);
    config.tasks = 1;
    let (summary, _) = pass(&config);
    assert_eq!(summary.kinds.accounts, 1);
}

fn faulty(seed: u64, behaviour: Behaviour) -> Outcome {
    let mut config = config(seed, 500, 5_000, 3, &[behaviour]);
    config.large = 2;
    pass(&config).1
}

#[test]
fn wrong_root_peer() {
    let outcome = faulty(23, Behaviour::WrongRoot);
    assert!(disconnected(stats(&outcome, Behaviour::WrongRoot)));
}

#[test]
fn duplicate_responses_peer() {
    let outcome = faulty(24, Behaviour::Duplicate);
    let stats = stats(&outcome, Behaviour::Duplicate);
    assert!(stats.first_reason.as_deref().is_some_and(|r| r.contains("unsolicited")), "{stats:?}");
}

#[test]
fn unsolicited_responses_peer() {
    let outcome = faulty(25, Behaviour::Unsolicited);
    let stats = stats(&outcome, Behaviour::Unsolicited);
    assert!(stats.first_reason.as_deref().is_some_and(|r| r.contains("unsolicited")), "{stats:?}");
}

#[test]
fn responses_with_another_requests_id() {
    let outcome = faulty(26, Behaviour::WrongId);
    assert!(disconnected(stats(&outcome, Behaviour::WrongId)));
}

#[test]
fn responses_of_the_wrong_kind() {
    let outcome = faulty(37, Behaviour::WrongKind);
    let stats = stats(&outcome, Behaviour::WrongKind);
    assert!(stats.first_reason.as_deref().is_some_and(|r| r.contains("kind")), "{stats:?}");
}

#[test]
fn peer_disconnecting_mid_request() {
    let outcome = faulty(27, Behaviour::Disconnect);
    let stats = stats(&outcome, Behaviour::Disconnect);
    assert!(stats.own_disconnects > 0 && !disconnected(stats), "{stats:?}");
}

#[test]
fn garbage_bytes_peer() {
    let outcome = faulty(28, Behaviour::Garbage);
    assert!(disconnected(stats(&outcome, Behaviour::Garbage)));
}

#[test]
fn huge_message_peer() {
    let outcome = faulty(29, Behaviour::Huge);
    assert!(stats(&outcome, Behaviour::Huge).decode_disconnects > 0);
}

#[test]
fn empty_peer_is_never_banned() {
    let outcome = faulty(30, Behaviour::Empty);
    let stats = stats(&outcome, Behaviour::Empty);
    assert!(stats.requests > 0 && !disconnected(stats));
}

#[test]
fn crashes_and_resumes_lose_nothing() {
    let mut config = config(31, 1500, 15_000, 3, &[]);
    config.large = 3;
    config.crash_every = 40;
    config.batch_bytes = 16 * 1024;
    let (summary, _) = pass(&config);
    assert!(summary.crashes >= 3, "crashed {} times", summary.crashes);
}

#[test]
fn lossy_slow_network() {
    let mut config = config(32, 800, 8_000, 3, &[]);
    config.net = NetConfig {
        latency: Duration::from_millis(150),
        jitter: Duration::from_millis(100),
        bandwidth: 256 * 1024,
        loss: 0.05,
    };
    pass(&config);
}

#[test]
fn sync_hivechain_head_state_under_faults_and_crashes() {
    let Some(dir) =
        snap_sim::testdata::hivechain_dir("sync_hivechain_head_state_under_faults_and_crashes")
    else {
        return;
    };
    let mut config = SimConfig::new(33, 0, 5);
    config.state_dump = Some(dir.join("headstate.json").display().to_string());
    config.faults = Faults::List(vec![
        Behaviour::CorruptStorageProof,
        Behaviour::Garbage,
        Behaviour::EmptyAccounts,
    ]);
    config.crash_every = 25;
    config.min_request_bytes = 2048;
    config.max_request_bytes = 4096;
    config.chunk_slots = 16;
    config.batch_bytes = 4096;
    let (summary, _) = pass(&config);
    assert_eq!(summary.root, snap_sim::testdata::HIVECHAIN_HEAD_STATE_ROOT);
    assert_eq!((summary.accounts, summary.slots, summary.codes), (194, 2164, 65));
    assert!(summary.crashes > 0);
}

#[test]
fn bit_flipping_peer() {
    // Every reply of the second peer has one to three bits flipped: most no longer decode or
    // verify; whatever still does must be exactly the target's data (checked on every write).
    let outcome = faulty(34, Behaviour::BitFlip);
    assert!(disconnected(stats(&outcome, Behaviour::BitFlip)));
}

#[test]
fn slow_peers_are_timed_out_but_never_banned() {
    // Only slow peers, answering 2 to 20 s late with an 8 s TTL limit: many requests time out
    // and their answers arrive late; a late answer is dropped quietly, never punished.
    let mut config = config(35, 3000, 30_000, 2, &[Behaviour::Slow, Behaviour::Slow]);
    config.ttl_ms = 8000;
    let (summary, outcome) = pass(&config);
    assert!(outcome.peers.iter().all(|(_, stats)| !disconnected(stats)));
    // Slow peers answer in full, so only timeouts (work handed out again) can make this run
    // send more requests than the same sync from prompt peers.
    let mut prompt = config;
    prompt.faults = Faults::List(vec![Behaviour::Honest, Behaviour::Honest]);
    let (prompt_summary, _) = pass(&prompt);
    assert!(
        summary.requests > prompt_summary.requests,
        "slow: {} requests, prompt: {}",
        summary.requests,
        prompt_summary.requests
    );
}

#[test]
fn honest_runs_never_stall_and_report_progress() {
    let (summary, _) = pass(&config(36, 2000, 20_000, 4, &[]));
    assert_eq!(summary.stalls, 0);
    assert!(summary.reports > 0);
}
