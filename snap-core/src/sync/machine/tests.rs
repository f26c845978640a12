//! The machine's timer contract, driven by an in-crate server.

use std::time::Duration;

use alloy_primitives::{B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};

use crate::{
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    sync::{Input, Output, PeerId, SyncConfig, Syncer, Target, test_epoch},
    wire::SnapVersion,
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
