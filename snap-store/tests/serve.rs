//! A synced store serves what it holds: a whole state loaded as one batch is served through
//! `StoreView` exactly as snap-core serves the same state from memory (every reply equal), the
//! account ranges verify against the root with the range verifier, and `verify` finds the
//! store complete. Runs on a generated state, and on hivechain's head state when present.

mod common;

use alloy_primitives::{B256, Bytes};
use alloy_trie::EMPTY_ROOT_HASH;
use nybbles::Nibbles;
use snap_core::{
    dump::StateDump,
    serve::{InMemoryState, NoBals, ServeLimits, StateView, serve},
    trie::{build_trie, verify_range},
    wire::{
        GetAccountRange, GetByteCodes, GetStorageRanges, GetTrieNodes, SnapMessage,
        TrieNodePathSet, encode_compact,
    },
};
use snap_store::{StoreView, SyncStore, verify};

const BUDGETS: [u64; 4] = [0, 700, 20_000, 2 * 1024 * 1024];

fn ask(state: &dyn StateView, request: &SnapMessage) -> SnapMessage {
    serve(request, state, &NoBals, &ServeLimits::default()).expect("a request")
}

/// Asks both the store and the in-memory state; the replies must be equal. Returns the reply.
fn both(store: &dyn StateView, memory: &InMemoryState, request: SnapMessage) -> SnapMessage {
    let from_store = ask(store, &request);
    assert_eq!(from_store, ask(memory, &request), "reply to {request:?}");
    from_store
}

fn check_serving(store: &dyn SyncStore, state: &InMemoryState) {
    let view = StoreView::new(store).unwrap();
    let root = state.root();
    assert_eq!(view.root(), Some(root));
    assert!(view.has_root(&root) && !view.has_root(&EMPTY_ROOT_HASH));
    let accounts = state.account_list();

    // Account ranges from many origins, each verified against the root.
    let mut origins = vec![B256::ZERO, B256::repeat_byte(0x80), B256::repeat_byte(0xff)];
    origins.extend(accounts.iter().step_by(7).map(|(hash, _)| *hash));
    let mut replies = 0;
    for origin in &origins {
        for bytes in BUDGETS {
            let request = GetAccountRange {
                request_id: 1,
                root,
                origin: *origin,
                limit: B256::repeat_byte(0xff),
                response_bytes: bytes,
            };
            let SnapMessage::AccountRange(reply) =
                both(&view, state, SnapMessage::GetAccountRange(request))
            else {
                panic!("not an account range");
            };
            let keys: Vec<B256> = reply.accounts.iter().map(|a| a.hash).collect();
            let values: Vec<Vec<u8>> =
                reply.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
            verify_range(root, *origin, &keys, &values, &reply.proof).expect("range verifies");
            replies += usize::from(!keys.is_empty());
        }
    }
    assert!(replies > origins.len(), "non-empty replies served");

    // Storage ranges: each account with storage alone, from the start and from its middle, and
    // all of them in one request.
    let with_storage: Vec<B256> = accounts
        .iter()
        .map(|(hash, _)| *hash)
        .filter(|hash| !state.slot_list(hash).is_empty())
        .collect();
    assert!(!with_storage.is_empty());
    for account in with_storage.iter().take(40) {
        let slots = state.slot_list(account);
        for origin in [B256::ZERO, slots[slots.len() / 2].0] {
            for bytes in BUDGETS {
                let request = GetStorageRanges {
                    request_id: 2,
                    root,
                    account_hashes: vec![*account],
                    origin: Bytes::copy_from_slice(origin.as_slice()),
                    limit: Bytes::new(),
                    response_bytes: bytes,
                };
                both(&view, state, SnapMessage::GetStorageRanges(request));
            }
        }
    }
    for bytes in BUDGETS {
        let request = GetStorageRanges {
            request_id: 3,
            root,
            account_hashes: with_storage.clone(),
            origin: Bytes::new(),
            limit: Bytes::new(),
            response_bytes: bytes,
        };
        both(&view, state, SnapMessage::GetStorageRanges(request));
    }

    // Codes, with one the state does not hold.
    let mut hashes: Vec<B256> = state.codes().keys().copied().collect();
    hashes.push(B256::repeat_byte(0x42));
    let SnapMessage::ByteCodes(codes) = both(
        &view,
        state,
        SnapMessage::GetByteCodes(GetByteCodes { request_id: 4, hashes, response_bytes: u64::MAX }),
    ) else {
        panic!("not byte codes");
    };
    assert_eq!(codes.codes.len(), state.codes().len());

    // Trie nodes: every stored path of the account trie (and a path below a leaf), and the
    // storage paths of a few accounts.
    let leaves: Vec<(B256, Vec<u8>)> =
        accounts.iter().map(|(hash, account)| (*hash, alloy_rlp::encode(account))).collect();
    let mut paths: Vec<TrieNodePathSet> = build_trie(&leaves)
        .nodes
        .keys()
        .chain([Nibbles::from_nibbles([0xf; 20])].iter())
        .map(|path| TrieNodePathSet(vec![encode_compact(path, false)]))
        .collect();
    for account in with_storage.iter().take(10) {
        let mut set = vec![Bytes::copy_from_slice(account.as_slice())];
        set.extend(
            build_trie(state.slot_list(account)).nodes.keys().map(|p| encode_compact(p, false)),
        );
        paths.push(TrieNodePathSet(set));
    }
    for chunk in paths.chunks(200) {
        let request =
            GetTrieNodes { request_id: 5, root, paths: chunk.to_vec(), response_bytes: u64::MAX };
        let SnapMessage::TrieNodes(reply) = both(&view, state, SnapMessage::GetTrieNodes(request))
        else {
            panic!("not trie nodes");
        };
        assert!(reply.nodes.iter().any(|node| !node.is_empty()));
    }

    // Another root is not served.
    let request = GetAccountRange {
        request_id: 6,
        root: EMPTY_ROOT_HASH,
        origin: B256::ZERO,
        limit: B256::repeat_byte(0xff),
        response_bytes: u64::MAX,
    };
    let SnapMessage::AccountRange(reply) = ask(&view, &SnapMessage::GetAccountRange(request))
    else {
        panic!("not an account range");
    };
    assert!(reply.accounts.is_empty() && reply.proof.is_empty());
}

fn check_state(state: &InMemoryState) {
    let batch = common::state_batch(state, b"synced");
    for (name, open) in common::backends() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path()).unwrap();
        store.apply(&batch).unwrap();
        check_serving(&*store, state);
        let report = verify(&*store).unwrap();
        assert!(report.is_ok(), "{name}: {report:?}");
        assert_eq!(report.stored_root, Some(state.root()));
        assert_eq!(report.computed_root, state.root());
        assert_eq!(report.accounts, state.account_list().len() as u64);
        assert_eq!(report.slots, state.slot_count() as u64);
        assert_eq!(report.codes, state.codes().len() as u64);
        assert_eq!(report.nodes, batch.nodes.writes.len() as u64);
    }
}

#[test]
fn generated_state_is_served_from_the_store() {
    check_state(&common::generated_state(7, 600, 300));
}

#[test]
fn hivechain_head_state_is_served_from_the_store() {
    let Some(dir) =
        snap_sim::testdata::hivechain_dir("hivechain_head_state_is_served_from_the_store")
    else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("headstate.json")).expect("readable headstate");
    let dump = StateDump::from_geth_dump(&text).expect("a geth state dump");
    let state = dump.to_state();
    assert_eq!(state.root(), snap_sim::testdata::HIVECHAIN_HEAD_STATE_ROOT);
    check_state(&state);
}
