//! Progress reports of a sync whose storage is mostly one giant contract: the fraction weighs
//! the giant's slots still to come, and a resumed sync measures the giant again.

use std::time::{Duration, Instant};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};

use crate::{
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    sync::{
        Input, Output, PeerId, Phase, ProgressReport, SyncConfig, SyncEvent, Syncer, Target,
        test_epoch,
    },
    wire::SnapVersion,
};

const ACCOUNTS: u64 = 400;
const GIANT: u64 = 30_000;

/// `ACCOUNTS` accounts without code; the first (by index) owns `GIANT` slots, no other has
/// storage.
fn state() -> (InMemoryState, B256) {
    let mut accounts: Vec<(B256, TrieAccount)> = (0..ACCOUNTS)
        .map(|i| {
            let account = TrieAccount {
                nonce: i,
                balance: U256::from(i + 1),
                storage_root: EMPTY_ROOT_HASH,
                code_hash: KECCAK_EMPTY,
            };
            (keccak256(i.to_be_bytes()), account)
        })
        .collect();
    accounts.sort_by_key(|(hash, _)| *hash);
    let owner = keccak256(0u64.to_be_bytes());
    let mut slots: Vec<(B256, Bytes)> = (0..GIANT)
        .map(|i| {
            let key = keccak256((i + 1_000_000).to_be_bytes());
            (key, Bytes::from(alloy_rlp::encode(U256::from(i + 1))))
        })
        .collect();
    slots.sort_by_key(|(key, _)| *key);
    let state = InMemoryState::from_sorted(accounts, [(owner, slots)], []).expect("a valid state");
    (state, owner)
}

fn config() -> SyncConfig {
    SyncConfig {
        min_request_bytes: 1,
        max_request_bytes: 4_000,
        min_slots_per_chunk: 1_000,
        max_requests_per_peer: 2,
        progress_interval: Duration::from_millis(100),
        batch_bytes: 16 * 1024,
        ..SyncConfig::default()
    }
}

/// Drives `syncer` against an honest peer serving `state` while it is in the range phase,
/// every answer 20 ms after the last, every batch acknowledged at once; stops early when
/// `stop` says so of a report. Returns the reports, the last batch's progress record and when
/// it stopped.
fn drive(
    syncer: &mut Syncer,
    state: &InMemoryState,
    mut now: Instant,
    mut stop: impl FnMut(&ProgressReport) -> bool,
) -> (Vec<ProgressReport>, Option<Bytes>, Instant) {
    syncer.handle_input(
        now,
        Input::PeerConnected { peer: PeerId(1), versions: vec![SnapVersion::V1] },
    );
    let mut reports = Vec::new();
    let mut record = None;
    for _ in 0..10_000 {
        let mut inputs = Vec::new();
        while let Some(output) = syncer.poll_output() {
            match output {
                Output::Send { peer, message } => {
                    let reply = serve(&message, state, &NoBals, &ServeLimits::default());
                    inputs.push(Input::Response { peer, message: reply.expect("well formed") });
                }
                Output::Write(batch) => {
                    record = Some(batch.progress.clone());
                    inputs.push(Input::Written(batch.id));
                }
                Output::Event(SyncEvent::Progress(report)) => {
                    let stopping = stop(&report);
                    reports.push(report);
                    if stopping {
                        return (reports, record, now);
                    }
                }
                _ => {}
            }
        }
        if syncer.phase() != Phase::Ranges {
            return (reports, record, now);
        }
        now += Duration::from_millis(20);
        match inputs.is_empty() {
            true => syncer.handle_timeout(now),
            false => inputs.into_iter().for_each(|input| syncer.handle_input(now, input)),
        }
    }
    panic!("the range phase did not end");
}

/// The share of the work written: accounts and slots.
fn truth(report: &ProgressReport) -> f64 {
    (report.counters.accounts + report.counters.slots) as f64 / (ACCOUNTS + GIANT) as f64
}

#[test]
fn the_giant_weighs_in_the_fraction_and_its_slots_left_are_estimated() {
    let (state, owner) = state();
    let start = test_epoch();
    let mut syncer = Syncer::new(config(), Target { root: state.root(), number: 1 }, start);
    let (reports, _, end) = drive(&mut syncer, &state, start, |_| false);
    assert_eq!(syncer.phase(), Phase::Healing);
    for pair in reports.windows(2) {
        assert!(pair[0].fraction_done <= pair[1].fraction_done, "{pair:?}");
    }
    // Before the giant is found nothing tells it is there: the fraction is the account
    // space's, and it is held (never shown going back) until the work passes it.
    let found = reports.iter().position(|r| !r.largest_pending_contracts.is_empty());
    let held =
        reports[..found.expect("the giant is found")].last().expect("a report").fraction_done;
    // Once every account its task does not wait for is written (the giant's task waits at
    // it), the account space is nearly all done and the work is not.
    let waiting: Vec<&ProgressReport> = reports
        .iter()
        // Some density measured: a thousand slots.
        .filter(|r| r.counters.accounts > ACCOUNTS * 9 / 10 && r.counters.slots > 1_000)
        .filter(|r| !r.largest_pending_contracts.is_empty())
        .collect();
    assert!(waiting.len() > 10, "{} reports wait for the giant", waiting.len());
    for report in &waiting {
        let (fraction, truth) = (report.fraction_done, truth(report));
        assert!(fraction <= held.max(truth) + 0.1, "{fraction} vs {truth}");
        if truth > held + 0.1 {
            assert!((fraction - truth).abs() < 0.1, "{fraction} vs {truth}");
        }
        let [giant] = report.largest_pending_contracts.as_slice() else {
            panic!("{:?}", report.largest_pending_contracts)
        };
        assert_eq!(giant.account, owner);
        let left = (GIANT - report.counters.slots) as f64;
        let estimated = giant.slots_left.expect("measured") as f64;
        assert!((estimated - left).abs() <= 0.15 * left + 300.0, "{estimated} vs {left}");
        // While most of the giant is to come, the fraction says so (the account space says
        // over 95 %).
        if report.counters.slots < GIANT / 2 {
            assert!(fraction < 0.6, "{fraction} vs {truth}");
        }
        // Past the first half, the ETA is the time the rest of the giant took, within half.
        let took = end.saturating_duration_since(start + report.elapsed).as_secs_f64();
        let eta = report.eta.expect("an estimate").as_secs_f64();
        if truth > 0.5 {
            assert!((eta - took).abs() <= 0.5 * took + 0.2, "ETA {eta} s, took {took} s");
        }
    }
}

#[test]
fn a_resumed_sync_measures_the_giant_again_and_starts_low() {
    let (state, _) = state();
    let now = test_epoch();
    let mut syncer = Syncer::new(config(), Target { root: state.root(), number: 1 }, now);
    // Stop a third into the giant.
    let (_, record, _) = drive(&mut syncer, &state, now, |r| r.counters.slots > GIANT / 3);
    let record = record.expect("batches were written");
    let later = now + Duration::from_secs(600);
    let mut resumed = Syncer::resume_from_bytes(config(), &record, later).expect("a record");
    let (reports, _, _) = drive(&mut resumed, &state, later, |_| false);
    // The first report comes before any chunk answer: the giant is not measured yet, and the
    // fraction is a low bound.
    let first = &reports[0];
    let giant = first.largest_pending_contracts[0];
    assert_eq!(giant.slots_left, None);
    assert!(first.fraction_done < truth(first), "{} vs {}", first.fraction_done, truth(first));
    // Once measured, it tracks the work again.
    let measured: Vec<&ProgressReport> = reports
        .iter()
        .filter(|r| r.largest_pending_contracts.first().is_some_and(|p| p.slots_left.is_some()))
        .collect();
    assert!(measured.len() > 5);
    for report in &measured {
        let fraction = report.fraction_done;
        assert!((fraction - truth(report)).abs() < 0.1, "{fraction} vs {}", truth(report));
        assert!(report.eta.is_some());
    }
}
