//! Serving the real hivechain head state (block 600): a sweep of requests over the key space,
//! byte budgets from 0 to 2 MiB, every account with storage, every code and trie paths at every
//! depth. Every range reply verifies against the head state root with our own range verifier,
//! and clients that follow the replies collect exactly the dumped state.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;
use snap_core::{
    dump::StateDump,
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    trie::{build_trie, proof::verify_range},
    wire::{
        AccountRange, ByteCodes, GetAccountRange, GetByteCodes, GetStorageRanges, GetTrieNodes,
        SnapMessage, StorageRanges, TrieNodePathSet, TrieNodes,
    },
};
use snap_sim::testdata::hivechain_dir;

const HEAD_ROOT: B256 = snap_sim::testdata::HIVECHAIN_HEAD_STATE_ROOT;
const MAX_HASH: B256 = B256::repeat_byte(0xff);
const BUDGETS: [u64; 9] = [0, 1, 150, 1_000, 4_096, 20_000, 100_000, 2 * 1024 * 1024, u64::MAX];

struct Fixture {
    dump: StateDump,
    state: InMemoryState,
}

fn load(test: &str) -> Option<Fixture> {
    let dir = hivechain_dir(test)?;
    let text = std::fs::read_to_string(dir.join("headstate.json")).expect("readable headstate");
    let dump = StateDump::from_geth_dump(&text).expect("a geth state dump");
    let state = dump.to_state();
    assert_eq!(state.root(), HEAD_ROOT);
    Some(Fixture { dump, state })
}

fn ask(state: &InMemoryState, request: SnapMessage) -> SnapMessage {
    let reply = serve(&request, state, &NoBals, &ServeLimits::default()).expect("served");
    assert_eq!(reply.request_id(), request.request_id());
    reply
}

fn accounts(state: &InMemoryState, origin: B256, limit: B256, bytes: u64) -> AccountRange {
    let request =
        GetAccountRange { request_id: 1, root: HEAD_ROOT, origin, limit, response_bytes: bytes };
    match ask(state, SnapMessage::GetAccountRange(request)) {
        SnapMessage::AccountRange(reply) => reply,
        other => panic!("unexpected {other:?}"),
    }
}

fn storage(state: &InMemoryState, accounts: &[B256], origin: B256, bytes: u64) -> StorageRanges {
    let request = GetStorageRanges {
        request_id: 2,
        root: HEAD_ROOT,
        account_hashes: accounts.to_vec(),
        origin: if origin.is_zero() {
            Bytes::new()
        } else {
            Bytes::copy_from_slice(origin.as_slice())
        },
        limit: Bytes::new(),
        response_bytes: bytes,
    };
    match ask(state, SnapMessage::GetStorageRanges(request)) {
        SnapMessage::StorageRanges(reply) => reply,
        other => panic!("unexpected {other:?}"),
    }
}

/// Verifies an account range; returns whether accounts remain to the right.
fn verify_accounts(origin: B256, reply: &AccountRange) -> bool {
    assert!(reply.accounts.windows(2).all(|w| w[0].hash < w[1].hash));
    let keys: Vec<B256> = reply.accounts.iter().map(|a| a.hash).collect();
    let values: Vec<Vec<u8>> =
        reply.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
    verify_range(HEAD_ROOT, origin, &keys, &values, &reply.proof).expect("account range verifies")
}

fn next_hash(hash: &B256) -> Option<B256> {
    U256::from_be_bytes(hash.0).checked_add(U256::from(1)).map(|n| B256::from(n.to_be_bytes()))
}

fn expected_accounts(dump: &StateDump) -> Vec<(B256, TrieAccount)> {
    dump.accounts.iter().map(|(hash, account)| (*hash, account.trie_account())).collect()
}

#[test]
fn hivechain_account_ranges_verify_and_follow_to_the_state() {
    let Some(Fixture { dump, state }) =
        load("hivechain_account_ranges_verify_and_follow_to_the_state")
    else {
        return;
    };
    let expected = expected_accounts(&dump);
    assert_eq!(expected.len(), 194);
    // Origins across the key space: fixed points, every account hash and the hash just after it.
    let mut origins: BTreeSet<B256> = (0u8..=255).step_by(8).map(B256::repeat_byte).collect();
    origins.insert(B256::ZERO);
    for (hash, _) in &expected {
        origins.insert(*hash);
        origins.extend(next_hash(hash));
    }
    let mut replies = 0;
    for origin in &origins {
        for bytes in BUDGETS {
            for limit in [
                MAX_HASH,
                *origin,
                origins.range::<B256, _>(origin..).nth(3).copied().unwrap_or(MAX_HASH),
            ] {
                let reply = accounts(&state, *origin, limit, bytes);
                let more = verify_accounts(*origin, &reply);
                let from_origin = expected.iter().filter(|(h, _)| h >= origin).count();
                assert_eq!(reply.accounts.is_empty(), from_origin == 0, "at least one account");
                assert!(reply.accounts.iter().all(|a| a.hash >= *origin));
                assert!(reply.accounts.iter().rev().skip(1).all(|a| a.hash < limit));
                assert_eq!(more, reply.accounts.len() < from_origin);
                replies += 1;
            }
        }
    }
    assert!(replies > 5_000);
    for bytes in BUDGETS {
        let mut collected = Vec::new();
        let mut origin = B256::ZERO;
        loop {
            let reply = accounts(&state, origin, MAX_HASH, bytes);
            let more = verify_accounts(origin, &reply);
            collected.extend(reply.accounts.iter().map(|a| (a.hash, a.account)));
            match (more, reply.accounts.last().and_then(|a| next_hash(&a.hash))) {
                (true, Some(next)) => origin = next,
                _ => break,
            }
        }
        assert_eq!(collected, expected, "following with a {bytes}-byte budget");
    }
}

#[test]
fn hivechain_storage_ranges_verify_and_follow_to_every_slot() {
    let Some(Fixture { dump, state }) =
        load("hivechain_storage_ranges_verify_and_follow_to_every_slot")
    else {
        return;
    };
    let roots: BTreeMap<B256, B256> =
        dump.accounts.iter().map(|(h, a)| (*h, a.storage_root())).collect();
    let expected: BTreeMap<B256, Vec<(B256, Bytes)>> = dump
        .accounts
        .iter()
        .filter(|(_, a)| !a.storage.is_empty())
        .map(|(h, a)| {
            (*h, a.storage_leaves().into_iter().map(|(k, v)| (k, Bytes::from(v))).collect())
        })
        .collect();
    assert_eq!(expected.len(), 60);
    assert_eq!(expected.values().map(Vec::len).sum::<usize>(), 2_164);
    let with_storage: Vec<B256> = expected.keys().copied().collect();
    let mut largest: Vec<usize> = expected.values().map(Vec::len).collect();
    largest.sort_unstable();
    assert_eq!(largest[largest.len() - 2..], [589, 1_190]);
    for bytes in BUDGETS {
        // One account per request, following each storage to its end.
        for account in &with_storage {
            let mut collected = Vec::new();
            let mut origin = B256::ZERO;
            let mut requests = 0;
            loop {
                requests += 1;
                let reply = storage(&state, &[*account], origin, bytes);
                assert_eq!(reply.slots.len(), 1, "one non-empty list");
                let list = &reply.slots[0];
                assert!(list.iter().all(|s| s.hash >= origin));
                let more = verify_slots(roots[account], origin, list, &reply.proof);
                collected.extend(list.iter().map(|s| (s.hash, s.value.clone())));
                if !more {
                    break;
                }
                origin =
                    next_hash(&list.last().expect("non-empty").hash).expect("room to the right");
            }
            assert_eq!(collected, expected[account]);
            if expected[account].len() > 500 && bytes <= 20_000 {
                assert!(requests > 1, "a large storage is split at {bytes} bytes");
            }
        }
        // All accounts at once, as a syncing client asks: complete lists advance, a proven list
        // continues from its last slot.
        let mut pending = with_storage.clone();
        let mut collected: BTreeMap<B256, Vec<(B256, Bytes)>> = BTreeMap::new();
        let mut origin = B256::ZERO;
        while !pending.is_empty() {
            let reply = storage(&state, &pending, origin, bytes);
            assert!(!reply.slots.is_empty());
            let last = reply.slots.len() - 1;
            let mut more = false;
            for (index, list) in reply.slots.iter().enumerate() {
                let account = pending[index];
                let list_origin = if index == 0 { origin } else { B256::ZERO };
                let proof: &[Bytes] = if index == last { &reply.proof } else { &[] };
                more = verify_slots(roots[&account], list_origin, list, proof);
                assert!(index == last || !more);
                collected
                    .entry(account)
                    .or_default()
                    .extend(list.iter().map(|s| (s.hash, s.value.clone())));
                if more {
                    origin = next_hash(&list.last().expect("non-empty").hash).expect("room");
                }
            }
            pending.drain(..if more { last } else { last + 1 });
            if !more {
                origin = B256::ZERO;
            }
        }
        assert_eq!(collected, expected, "all storage with a {bytes}-byte budget");
    }
}

fn verify_slots(
    root: B256,
    origin: B256,
    slots: &[snap_core::wire::StorageSlot],
    proof: &[Bytes],
) -> bool {
    assert!(slots.windows(2).all(|w| w[0].hash < w[1].hash));
    let keys: Vec<B256> = slots.iter().map(|s| s.hash).collect();
    let values: Vec<Bytes> = slots.iter().map(|s| s.value.clone()).collect();
    verify_range(root, origin, &keys, &values, proof).expect("storage range verifies")
}

#[test]
fn hivechain_bytecodes_collect_every_code() {
    let Some(Fixture { dump, state }) = load("hivechain_bytecodes_collect_every_code") else {
        return;
    };
    let codes: BTreeMap<B256, Bytes> = dump
        .accounts
        .values()
        .filter(|a| !a.code.is_empty())
        .map(|a| (keccak256(&a.code), a.code.clone()))
        .collect();
    let accounts_with_code = dump.accounts.values().filter(|a| !a.code.is_empty()).count();
    assert_eq!(accounts_with_code, 65);
    for bytes in BUDGETS {
        // Request every code hash (plus an unknown hash and the empty-code hash); re-request the
        // missing suffix until everything arrived.
        let mut wanted: Vec<B256> = codes.keys().copied().collect();
        wanted.insert(wanted.len() / 2, B256::repeat_byte(0x77));
        wanted.insert(0, KECCAK_EMPTY);
        let mut collected = BTreeMap::new();
        while !wanted.is_empty() {
            let request =
                GetByteCodes { request_id: 3, hashes: wanted.clone(), response_bytes: bytes };
            let SnapMessage::ByteCodes(ByteCodes { codes: reply, .. }) =
                ask(&state, SnapMessage::GetByteCodes(request))
            else {
                panic!("not a ByteCodes reply");
            };
            assert!(!reply.is_empty());
            // Replies are in request order with unknown hashes skipped.
            let mut cursor = 0;
            for code in &reply {
                let hash = if code.is_empty() { KECCAK_EMPTY } else { keccak256(code) };
                let at =
                    wanted[cursor..].iter().position(|h| *h == hash).expect("requested, in order");
                assert!(
                    wanted[cursor..cursor + at]
                        .iter()
                        .all(|h| !codes.contains_key(h) && *h != KECCAK_EMPTY)
                );
                cursor += at + 1;
                collected.insert(hash, code.clone());
            }
            wanted.drain(..cursor);
            wanted.retain(|h| codes.contains_key(h));
        }
        collected.remove(&KECCAK_EMPTY);
        assert_eq!(collected, codes, "all codes with a {bytes}-byte budget");
    }
}

#[test]
fn hivechain_trie_nodes_at_every_depth() {
    let Some(Fixture { dump, state }) = load("hivechain_trie_nodes_at_every_depth") else {
        return;
    };
    // Every stored node of the account trie and of every storage trie, plus paths that hold no
    // node (one nibble past each stored path): each stored node hashes to the reference its
    // parent holds, and missing paths get empty items.
    let mut sets = Vec::new();
    // The oracle: the whole-trie builder over the dump's leaves, independent of the server.
    let mut tries = vec![(None, build_trie(&dump.account_leaves()))];
    for (hash, account) in &dump.accounts {
        if !account.storage.is_empty() {
            tries.push((Some(*hash), build_trie(&account.storage_leaves())));
        }
    }
    let mut max_depth = 0;
    for (owner, trie) in &tries {
        for path in trie.nodes.keys() {
            max_depth = max_depth.max(path.len());
            let mut absent = *path;
            if absent.len() < 64 {
                absent.push(0);
            }
            for path in [*path, absent] {
                sets.push((
                    *owner,
                    path,
                    match owner {
                        None => TrieNodePathSet::account(&path),
                        Some(owner) => TrieNodePathSet::storage(*owner, &[path]),
                    },
                ));
            }
        }
    }
    assert!(max_depth >= 3);
    let mut served = 0;
    for chunk in sets.chunks(300) {
        let request = GetTrieNodes {
            request_id: 4,
            root: HEAD_ROOT,
            paths: chunk.iter().map(|(_, _, set)| set.clone()).collect(),
            response_bytes: 2 * 1024 * 1024,
        };
        let SnapMessage::TrieNodes(TrieNodes { nodes, .. }) =
            ask(&state, SnapMessage::GetTrieNodes(request))
        else {
            panic!("not a TrieNodes reply");
        };
        assert_eq!(nodes.len(), chunk.len());
        for ((owner, path, _), node) in chunk.iter().zip(&nodes) {
            let trie = &tries.iter().find(|(o, _)| o == owner).expect("known trie").1;
            match trie.nodes.get(path) {
                None => assert!(node.is_empty(), "no node at {path:?}"),
                Some(_) if path.is_empty() => {
                    let expected_root =
                        owner.map_or(HEAD_ROOT, |o| dump.accounts[&o].storage_root());
                    assert_eq!(keccak256(node), expected_root);
                }
                Some(_) => {
                    // The closest stored ancestor references this node by hash.
                    let parent = (0..path.len())
                        .rev()
                        .find_map(|len| trie.nodes.get(&path.slice(..len)))
                        .expect("root");
                    let hash = keccak256(node);
                    assert!(parent.windows(32).any(|w| w == hash.as_slice()));
                    served += 1;
                }
            }
        }
    }
    assert!(served > 1_000);
    // Unknown account: one empty item per path, items stay aligned.
    let unknown = B256::repeat_byte(0x01);
    let request = GetTrieNodes {
        request_id: 5,
        root: HEAD_ROOT,
        paths: vec![
            TrieNodePathSet::storage(unknown, &[Nibbles::new(), Nibbles::from_nibbles([1])]),
            TrieNodePathSet::account(&Nibbles::new()),
        ],
        response_bytes: 1000,
    };
    let SnapMessage::TrieNodes(TrieNodes { nodes, .. }) =
        ask(&state, SnapMessage::GetTrieNodes(request))
    else {
        panic!("not a TrieNodes reply");
    };
    assert_eq!(nodes.len(), 3);
    assert!(nodes[0].is_empty() && nodes[1].is_empty());
    assert_eq!(keccak256(&nodes[2]), HEAD_ROOT);
}

#[test]
fn hivechain_genesis_alloc_is_served_whole() {
    let Some(dir) = hivechain_dir("hivechain_genesis_alloc_is_served_whole") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("genesis.json")).expect("readable genesis");
    let dump = StateDump::from_genesis(&text).expect("a genesis alloc");
    let state = dump.to_state();
    // The dump computes its root through its own path (storage roots from raw slots).
    assert_eq!(state.root(), dump.state_root());
    assert!(dump.accounts.values().any(|a| !a.storage.is_empty() || !a.code.is_empty()));
    let mut collected = Vec::new();
    let mut origin = B256::ZERO;
    loop {
        let request = GetAccountRange {
            request_id: 9,
            root: state.root(),
            origin,
            limit: MAX_HASH,
            response_bytes: 300,
        };
        let SnapMessage::AccountRange(reply) = ask(&state, SnapMessage::GetAccountRange(request))
        else {
            panic!("not an AccountRange reply");
        };
        let keys: Vec<B256> = reply.accounts.iter().map(|a| a.hash).collect();
        let values: Vec<Vec<u8>> =
            reply.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
        let more = verify_range(state.root(), origin, &keys, &values, &reply.proof)
            .expect("genesis account range verifies");
        collected.extend(reply.accounts.iter().map(|a| (a.hash, a.account)));
        match (more, keys.last().and_then(next_hash)) {
            (true, Some(next)) => origin = next,
            _ => break,
        }
    }
    assert_eq!(collected, expected_accounts(&dump));
}
