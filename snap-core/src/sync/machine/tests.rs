//! The machine's timer contract, driven by an in-crate server.

use std::time::Duration;

use alloy_primitives::{B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};

use crate::{
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    sync::{Input, Misbehaviour, Output, PeerId, SyncConfig, Syncer, Target, test_epoch},
    wire::{ByteCodes, SnapMessage, SnapVersion},
};

fn state(accounts: u64) -> InMemoryState {
    let mut list: Vec<(B256, TrieAccount)> = (0..accounts)
        .map(|i| {
            let account = TrieAccount {
                nonce: i,
                balance: U256::from(i),
                storage_root: EMPTY_ROOT_HASH,
                code_hash: KECCAK_EMPTY,
            };
            (keccak256(i.to_be_bytes()), account)
        })
        .collect();
    list.sort_by_key(|(hash, _)| *hash);
    InMemoryState::from_sorted(list, [], []).expect("sorted")
}

/// With batches never acknowledged and a stall time far away, every deadline the machine
/// returns lies in the future: a deadline it cannot act on would make the host spin.
#[test]
fn deadlines_are_never_in_the_past_while_writes_are_held_back() {
    let state = state(2_000);
    let config = SyncConfig {
        max_unacknowledged_batches: 1,
        batch_bytes: 1,
        min_request_bytes: 1,
        max_request_bytes: 4_000,
        stall_after: Duration::MAX,
        progress_interval: Duration::MAX,
        ..SyncConfig::default()
    };
    let mut now = test_epoch();
    let target = Target { root: state.root(), number: 1 };
    let mut syncer = Syncer::new(config, target, now);
    syncer.handle_input(
        now,
        Input::PeerConnected { peer: PeerId(1), versions: vec![SnapVersion::V1] },
    );
    let mut writes = 0;
    for _ in 0..200 {
        let mut replies = Vec::new();
        while let Some(output) = syncer.poll_output() {
            match output {
                Output::Send { peer, message } => {
                    let reply = serve(&message, &state, &NoBals, &ServeLimits::default());
                    replies.push(Input::Response { peer, message: reply.expect("well formed") });
                }
                Output::Write(_) => writes += 1,
                _ => {}
            }
        }
        if let Some(deadline) = syncer.poll_timeout() {
            assert!(deadline > now, "deadline {:?} not after now", deadline - now);
        }
        now += Duration::from_secs(3);
        match replies.pop() {
            Some(input) => syncer.handle_input(now, input),
            None => syncer.handle_timeout(now),
        }
    }
    assert_eq!(writes, 1, "one batch out, none acknowledged: back-pressure holds the rest");
    assert_eq!(syncer.unacknowledged_batches(), 1);
}

/// Connects two peers and returns the syncer with the first request sent and to whom.
fn first_request(state: &InMemoryState) -> (Syncer, PeerId, SnapMessage) {
    let now = test_epoch();
    let config = SyncConfig { account_tasks: 1, max_requests_per_peer: 1, ..SyncConfig::default() };
    let mut syncer = Syncer::new(config, Target { root: state.root(), number: 1 }, now);
    syncer.handle_input(
        now,
        Input::PeerConnected { peer: PeerId(1), versions: vec![SnapVersion::V1] },
    );
    let sent: Vec<(PeerId, SnapMessage)> = std::iter::from_fn(|| syncer.poll_output())
        .filter_map(|output| match output {
            Output::Send { peer, message } => Some((peer, message)),
            _ => None,
        })
        .collect();
    let (peer, message) = sent.into_iter().next().expect("a request to the only peer");
    (syncer, peer, message)
}

/// The requests a second peer, connected now, is sent.
fn sent_to_second_peer(syncer: &mut Syncer) -> Vec<SnapMessage> {
    let now = test_epoch();
    syncer.handle_input(
        now,
        Input::PeerConnected { peer: PeerId(2), versions: vec![SnapVersion::V1] },
    );
    std::iter::from_fn(|| syncer.poll_output())
        .filter_map(|output| match output {
            Output::Send { peer: PeerId(2), message } => Some(message),
            _ => None,
        })
        .collect()
}

/// A request message where a response was due is the peer's violation: it is disconnected
/// with `UnexpectedMessage`, and the work it held goes to another peer.
#[test]
fn a_request_in_place_of_a_response_is_a_violation() {
    let state = state(100);
    let (mut syncer, peer, request) = first_request(&state);
    syncer.handle_input(test_epoch(), Input::Response { peer, message: request.clone() });
    let outputs: Vec<Output> = std::iter::from_fn(|| syncer.poll_output()).collect();
    assert!(
        outputs.iter().any(|output| matches!(
            output,
            Output::Disconnect { peer: p, reason: Misbehaviour::UnexpectedMessage(id) }
                if *p == peer && *id == request.id()
        )),
        "{outputs:?}"
    );
    assert_eq!(syncer.in_flight(), 0);
    let resent = sent_to_second_peer(&mut syncer);
    assert!(matches!(resent.as_slice(), [SnapMessage::GetAccountRange(_)]), "{resent:?}");
}

/// A response of another kind than the request with its id is `WrongResponseKind`, and the
/// work goes to another peer.
#[test]
fn a_response_of_the_wrong_kind_is_a_violation() {
    let state = state(100);
    let (mut syncer, peer, request) = first_request(&state);
    let id = request.request_id();
    let wrong = SnapMessage::ByteCodes(ByteCodes { request_id: id, codes: Vec::new() });
    syncer.handle_input(test_epoch(), Input::Response { peer, message: wrong });
    let outputs: Vec<Output> = std::iter::from_fn(|| syncer.poll_output()).collect();
    assert!(
        outputs.iter().any(|output| matches!(
            output,
            Output::Disconnect { peer: p, reason: Misbehaviour::WrongResponseKind(i) }
                if *p == peer && *i == id
        )),
        "{outputs:?}"
    );
    let resent = sent_to_second_peer(&mut syncer);
    assert!(matches!(resent.as_slice(), [SnapMessage::GetAccountRange(_)]), "{resent:?}");
}

/// An overdue request goes to a second peer as well; the first answer to come (here the
/// original's, late) is used, and the other answer, when it comes, is dropped without penalty
/// and without being used twice.
#[test]
fn a_late_answer_to_a_hedged_request_is_used_and_the_duplicate_dropped() {
    let state = state(400);
    let config = SyncConfig {
        account_tasks: 1,
        max_requests_per_peer: 1,
        min_request_bytes: 1,
        max_request_bytes: 2_000,
        ..SyncConfig::default()
    };
    let mut now = test_epoch();
    let mut syncer = Syncer::new(config, Target { root: state.root(), number: 1 }, now);
    for id in [1, 2] {
        let versions = vec![SnapVersion::V1];
        syncer.handle_input(now, Input::PeerConnected { peer: PeerId(id), versions });
    }
    let answer = |message: &SnapMessage| {
        serve(message, &state, &NoBals, &ServeLimits::default()).expect("well formed")
    };
    let sends = |syncer: &mut Syncer| -> Vec<(PeerId, SnapMessage)> {
        std::iter::from_fn(|| syncer.poll_output())
            .filter_map(|output| match output {
                Output::Send { peer, message } => Some((peer, message)),
                _ => None,
            })
            .collect()
    };
    // Answer a few requests promptly, so both peers are measured.
    let mut pending = sends(&mut syncer);
    for _ in 0..6 {
        let (peer, request) = pending.pop().expect("the one task asks again");
        now += Duration::from_millis(100);
        syncer.handle_input(now, Input::Response { peer, message: answer(&request) });
        pending = sends(&mut syncer);
    }
    let (first, request) = pending.pop().expect("a request in flight");
    // Left unanswered, it becomes overdue and goes to the other peer as well.
    let mut hedge = Vec::new();
    while hedge.is_empty() {
        now = syncer.poll_timeout().expect("a deadline");
        syncer.handle_timeout(now);
        hedge = sends(&mut syncer);
    }
    let (second, hedge) = hedge.pop().expect("one hedge");
    assert_ne!(second, first, "hedged to the other peer");
    assert_ne!(hedge.request_id(), request.request_id());
    let (SnapMessage::GetAccountRange(asked), SnapMessage::GetAccountRange(again)) =
        (&request, &hedge)
    else {
        panic!("{request:?} {hedge:?}")
    };
    assert_eq!((asked.origin, asked.limit), (again.origin, again.limit), "the same work");
    assert_eq!(syncer.in_flight(), 2, "the original stays in flight");
    // The late original answer is used; the hedge is no longer waited for.
    let before = syncer.counters().accounts;
    now += Duration::from_millis(10);
    syncer.handle_input(now, Input::Response { peer: first, message: answer(&request) });
    let next = sends(&mut syncer);
    let delivered = syncer.counters().accounts;
    assert!(delivered > before, "the late answer delivered its range");
    assert_eq!(syncer.in_flight(), next.len(), "only the task's next request is in flight");
    // The hedge's answer is dropped quietly and nothing is counted twice.
    syncer.handle_input(now, Input::Response { peer: second, message: answer(&hedge) });
    let outputs: Vec<Output> = std::iter::from_fn(|| syncer.poll_output()).collect();
    assert!(!outputs.iter().any(|o| matches!(o, Output::Disconnect { .. })), "{outputs:?}");
    assert_eq!(syncer.counters().accounts, delivered, "nothing is used twice");
}

/// The room of the batch given back first in [`batches_of_a_sync`].
const ROOMY: usize = 100_000;

/// Runs a whole sync of `state` with one peer answering at once and every batch acknowledged
/// at once; `recycle` gives each applied batch back cleared. Returns the batches handed out.
fn batches_of_a_sync(state: &InMemoryState, recycle: bool) -> Vec<crate::sync::WriteBatch> {
    let config = SyncConfig { batch_bytes: 20_000, ..SyncConfig::default() };
    let mut now = test_epoch();
    let target = Target { root: state.root(), number: 1 };
    let mut syncer = Syncer::new(config, target, now);
    let mut inputs =
        vec![Input::PeerConnected { peer: PeerId(1), versions: vec![SnapVersion::V1] }];
    let mut batches = Vec::new();
    let mut store = crate::sync::host::MemoryStore::new();
    if recycle {
        // A batch with more room than any of this sync's needs: the second batch must get it.
        let mut roomy = crate::sync::WriteBatch::default();
        roomy.nodes.writes.reserve(ROOMY);
        syncer.recycle_batch(roomy);
    }
    for _ in 0..10_000 {
        match inputs.pop() {
            Some(input) => syncer.handle_input(now, input),
            None if syncer.phase() == crate::sync::Phase::Done => break,
            None => {
                now += Duration::from_secs(1);
                syncer.handle_timeout(now);
            }
        }
        while let Some(output) = syncer.poll_output() {
            match output {
                Output::Send { peer, message } => {
                    let reply = serve(&message, state, &NoBals, &ServeLimits::default());
                    inputs.push(Input::Response { peer, message: reply.expect("well formed") });
                }
                Output::Lookup { id, lookup } => {
                    inputs.push(Input::LookupDone { id, answer: store.answer(&lookup) });
                }
                Output::Write(batch) => {
                    if recycle && batch.id.0 == 2 {
                        assert!(batch.nodes.writes.capacity() >= ROOMY, "the spare's buffer");
                    }
                    inputs.push(Input::Written(batch.id));
                    store.apply(batch.clone());
                    batches.push(batch.clone());
                    if recycle {
                        let mut spare = batch;
                        spare.clear();
                        syncer.recycle_batch(spare);
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(syncer.phase(), crate::sync::Phase::Done);
    batches
}

/// Giving applied batches back only lends their buffers: the batches are the same, and the
/// next batch is built in the buffers given back (checked inside `batches_of_a_sync`).
#[test]
fn recycled_batches_change_nothing_but_their_buffers() {
    let state = state(3_000);
    let fresh = batches_of_a_sync(&state, false);
    let recycled = batches_of_a_sync(&state, true);
    assert!(fresh.len() > 3, "several batches: {}", fresh.len());
    assert_eq!(fresh, recycled);
}

/// A batch given back with data in it is not reused (its data would be written twice).
#[test]
fn a_batch_given_back_with_data_is_dropped() {
    let state = state(500);
    let target = Target { root: state.root(), number: 1 };
    let mut syncer = Syncer::new(SyncConfig::default(), target, test_epoch());
    let mut stale = crate::sync::WriteBatch::default();
    stale.codes.push((B256::ZERO, alloy_primitives::Bytes::from_static(b"stale")));
    syncer.recycle_batch(stale);
    let mut batches = Vec::new();
    let mut inputs =
        vec![Input::PeerConnected { peer: PeerId(1), versions: vec![SnapVersion::V1] }];
    let now = test_epoch();
    while let Some(input) = inputs.pop() {
        syncer.handle_input(now, input);
        while let Some(output) = syncer.poll_output() {
            match output {
                Output::Send { peer, message } => {
                    let reply = serve(&message, &state, &NoBals, &ServeLimits::default());
                    inputs.push(Input::Response { peer, message: reply.expect("well formed") });
                }
                Output::Write(batch) => {
                    inputs.push(Input::Written(batch.id));
                    batches.push(batch);
                }
                _ => {}
            }
        }
    }
    assert!(!batches.is_empty());
    assert!(batches.iter().all(|batch| batch.codes.is_empty()), "the stale code never went out");
}
