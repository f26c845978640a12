//! Differential tests: random batches (writes, node deletions, pruned ranges) applied to each
//! backend leave exactly what the same batches leave in a plain in-memory model built from
//! `PrunedRange::contains` (not from the store's key layout); lookups agree with the model;
//! reopening the database gives the same contents.

mod common;

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::TrieAccount;
use common::Model;
use nybbles::Nibbles;
use proptest::prelude::*;
use snap_core::{
    sync::{
        BatchId, FlatCursor, FlatEntry, Lookup, LookupAnswer, NodeQuery, WriteBatch,
        host::MemoryStore, host::cursor_after,
    },
    trie::{NodeChanges, NodeKey, PrunedRange},
};
use snap_store::SyncStore;

/// Hashes from a small pool whose first bytes collide often, so ranges catch real entries.
fn hash() -> impl Strategy<Value = B256> {
    (prop_oneof![Just(0x00u8), Just(0x10), Just(0x1f), Just(0x80), Just(0xff)], 0u8..4, any::<u8>())
        .prop_map(|(first, second, last)| {
            let mut bytes = [0u8; 32];
            bytes[0] = first;
            bytes[1] = second;
            bytes[31] = last;
            B256::from(bytes)
        })
}

fn owner() -> impl Strategy<Value = B256> {
    prop_oneof![2 => Just(B256::ZERO), 3 => hash()]
}

fn path() -> impl Strategy<Value = Nibbles> {
    prop_oneof![
        proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xf)], 0..5)
            .prop_map(Nibbles::from_nibbles),
        hash().prop_map(|hash| Nibbles::unpack(hash).slice(..4)),
    ]
}

fn bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 1..40).prop_map(Bytes::from)
}

fn pruned() -> impl Strategy<Value = PrunedRange> {
    prop_oneof![
        (owner(), path()).prop_map(|(owner, prefix)| PrunedRange::subtree(owner, prefix)),
        (owner(), path()).prop_map(|(owner, prefix)| PrunedRange::below(owner, prefix)),
        (owner(), path(), proptest::option::of(path())).prop_map(|(owner, from, to)| PrunedRange {
            owner,
            from,
            to
        }),
    ]
}

fn batch() -> impl Strategy<Value = WriteBatch> {
    (
        proptest::collection::vec((hash(), any::<u64>()), 0..8),
        proptest::collection::vec((hash(), hash(), bytes()), 0..12),
        proptest::collection::vec(bytes(), 0..3),
        proptest::collection::vec((owner(), path(), bytes()), 0..12),
        proptest::collection::vec((owner(), path()), 0..4),
        proptest::collection::vec(pruned(), 0..3),
        bytes(),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(accounts, storage, codes, writes, deletes, pruned, progress, clear_tries)| {
                WriteBatch {
                    id: BatchId(1),
                    accounts: accounts
                        .into_iter()
                        .map(|(hash, nonce)| {
                            (
                                hash,
                                TrieAccount {
                                    nonce,
                                    balance: U256::from(nonce),
                                    ..Default::default()
                                },
                            )
                        })
                        .collect(),
                    storage,
                    codes: codes.into_iter().map(|code| (keccak256(&code), code)).collect(),
                    nodes: NodeChanges {
                        writes: writes
                            .into_iter()
                            .map(|(owner, path, node)| (NodeKey { owner, path }, node))
                            .collect(),
                        deletes: deletes
                            .into_iter()
                            .map(|(owner, path)| NodeKey { owner, path })
                            .collect(),
                    },
                    pruned,
                    clear_tries,
                    progress,
                }
            },
        )
}

/// Lookups for everything the model holds plus near misses, checked against the model.
fn check_lookups(store: &dyn SyncStore, model: &Model, probes: &[(B256, Nibbles)]) {
    let mut hashes: Vec<B256> = model.codes.keys().copied().collect();
    hashes.push(keccak256(b"not stored"));
    let answer = store.answer(&Lookup::Codes(hashes.clone())).unwrap();
    let expected = hashes.iter().map(|hash| model.codes.contains_key(hash)).collect();
    assert_eq!(answer, LookupAnswer::Codes(expected));

    let mut queries = Vec::new();
    for ((owner, path), node) in &model.nodes {
        queries.push(NodeQuery { owner: *owner, path: *path, hash: keccak256(node) });
        // The right path with a wrong hash.
        queries.push(NodeQuery { owner: *owner, path: *path, hash: keccak256(path.to_vec()) });
    }
    for (owner, path) in probes {
        queries.push(NodeQuery { owner: *owner, path: *path, hash: B256::ZERO });
    }
    let expected = queries
        .iter()
        .map(|q| model.nodes.get(&(q.owner, q.path)).is_some_and(|node| keccak256(node) == q.hash))
        .collect();
    assert_eq!(store.answer(&Lookup::Nodes(queries)).unwrap(), LookupAnswer::Nodes(expected));

    // Flat accounts by hash, and the flat state streamed in trie order: as the contract's
    // reference store answers them over the same flat state.
    let mut reference = MemoryStore::new();
    reference.apply(WriteBatch {
        accounts: model.accounts.iter().map(|(h, a)| (*h, *a)).collect(),
        storage: model.slots.iter().map(|((a, s), v)| (*a, *s, v.clone())).collect(),
        ..WriteBatch::default()
    });
    let mut hashes: Vec<B256> = model.accounts.keys().copied().collect();
    hashes.extend(model.slots.keys().map(|(account, _)| *account));
    let lookup = Lookup::Accounts(hashes);
    assert_eq!(store.answer(&lookup).unwrap(), reference.answer(&lookup));
    let mut cursors = vec![FlatCursor { account: B256::ZERO, slot: None }];
    for (account, slot) in model.slots.keys() {
        cursors.push(FlatCursor { account: *account, slot: Some(*slot) });
        cursors.push(FlatCursor { account: *account, slot: None });
    }
    for (index, from) in cursors.into_iter().enumerate() {
        let lookup = Lookup::Flat { from, limit: 1 + index % 7 };
        assert_eq!(store.answer(&lookup).unwrap(), reference.answer(&lookup), "{lookup:?}");
    }
    // Streaming the whole state with cursor_after visits every entry once, in order.
    let mut streamed = Vec::new();
    let mut from = Some(FlatCursor { account: B256::ZERO, slot: None });
    while let Some(cursor) = from {
        let LookupAnswer::Flat(entries) =
            store.answer(&Lookup::Flat { from: cursor, limit: 3 }).unwrap()
        else {
            panic!("a flat answer")
        };
        from = if entries.len() == 3 { entries.last().and_then(cursor_after) } else { None };
        streamed.extend(entries);
    }
    let expected: Vec<FlatEntry> = model
        .accounts
        .iter()
        .flat_map(|(hash, account)| {
            std::iter::once(FlatEntry::Account(*hash, *account)).chain(
                model
                    .slots
                    .range((*hash, B256::ZERO)..)
                    .take_while(move |((owner, _), _)| owner == hash)
                    .map(move |((_, slot), value)| FlatEntry::Slot(*hash, *slot, value.clone())),
            )
        })
        .collect();
    assert_eq!(streamed, expected);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn store_equals_the_model(batches in proptest::collection::vec(batch(), 1..6)) {
        for (name, open) in common::backends() {
            let dir = tempfile::tempdir().unwrap();
            let mut model = Model::default();
            {
                let mut store = open(dir.path()).unwrap();
                prop_assert_eq!(store.progress().unwrap(), None);
                for batch in &batches {
                    model.apply(batch);
                    store.apply(batch).unwrap();
                    prop_assert_eq!(&Model::read(&*store), &model, "backend {}", name);
                    for (hash, account) in &model.accounts {
                        prop_assert_eq!(store.account(hash).unwrap(), Some(*account));
                    }
                }
                let probes: Vec<_> = batches
                    .iter()
                    .flat_map(|b| b.nodes.deletes.iter().map(|k| (k.owner, k.path)))
                    .collect();
                check_lookups(&*store, &model, &probes);
            }
            // Reopened, the store holds the same.
            let store = open(dir.path()).unwrap();
            prop_assert_eq!(&Model::read(&*store), &model, "backend {} after reopening", name);
        }
    }

    #[test]
    fn storage_reads_start_at_the_origin(
        slots in proptest::collection::btree_map((hash(), hash()), bytes(), 0..30),
        account in hash(),
        origin in hash(),
    ) {
        for (name, open) in common::backends() {
            let dir = tempfile::tempdir().unwrap();
            let mut store = open(dir.path()).unwrap();
            let batch = WriteBatch {
                storage: slots.iter().map(|((a, s), v)| (*a, *s, v.clone())).collect(),
                ..WriteBatch::default()
            };
            store.apply(&batch).unwrap();
            let got: Vec<(B256, Bytes)> =
                store.storage_from(&account, &origin).unwrap().map(Result::unwrap).collect();
            let expected: Vec<(B256, Bytes)> = slots
                .iter()
                .filter(|((a, s), _)| *a == account && *s >= origin)
                .map(|((_, s), v)| (*s, v.clone()))
                .collect();
            prop_assert_eq!(got, expected, "backend {}", name);
        }
    }
}
