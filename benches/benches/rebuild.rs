//! Rebuilding every trie from the flat state (snap/2's last step): `TrieRebuild` fed by
//! `Lookup::Flat` answers from the reference `MemoryStore`, over one million leaves (200k
//! accounts, 40k of them with 20 slots). Reported per leaf; the time per million leaves is the
//! median times 1e6 leaves. Compared with alloy-trie's `HashBuilder` computing only the roots of
//! the same tries (the floor: no node is encoded for storage).

use std::{collections::BTreeMap, hint::black_box};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY, TrieAccount};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nybbles::Nibbles;
use snap_core::sync::{
    FlatCursor, Lookup, LookupAnswer, WriteBatch, host::MemoryStore, host::TrieRebuild,
};

const ACCOUNTS: u64 = 200_000;
const SLOTS_PER_CONTRACT: u64 = 20;
const CONTRACT_EVERY: u64 = 5;
const LEAVES: u64 = ACCOUNTS + ACCOUNTS / CONTRACT_EVERY * SLOTS_PER_CONTRACT;
const ENTRIES_PER_LOOKUP: usize = 16 * 1024;

/// A flat state as a store holds it after BAL application: storage roots stale (zero).
fn store() -> MemoryStore {
    let mut batch = WriteBatch::default();
    for i in 0..ACCOUNTS {
        let hash = keccak256(i.to_be_bytes());
        let account = TrieAccount {
            nonce: i,
            balance: U256::from(i) * U256::from(1_000_000_007u64),
            storage_root: B256::ZERO,
            code_hash: KECCAK_EMPTY,
        };
        batch.accounts.push((hash, account));
        if i % CONTRACT_EVERY == 0 {
            for j in 0..SLOTS_PER_CONTRACT {
                let slot = keccak256((i * 1000 + j).to_be_bytes());
                batch.storage.push((hash, slot, Bytes::from(alloy_rlp::encode(U256::from(j + 1)))));
            }
        }
    }
    let mut store = MemoryStore::new();
    store.apply(batch);
    store
}

fn rebuild(store: &MemoryStore) -> (B256, usize) {
    let mut rebuild = TrieRebuild::new();
    let mut nodes = 0;
    loop {
        let from = rebuild.next_cursor().unwrap_or(FlatCursor { account: B256::ZERO, slot: None });
        let LookupAnswer::Flat(entries) =
            store.answer(&Lookup::Flat { from, limit: ENTRIES_PER_LOOKUP })
        else {
            unreachable!("a flat lookup gets a flat answer")
        };
        let mut batch = WriteBatch::default();
        let done = rebuild.feed(entries, ENTRIES_PER_LOOKUP, &mut batch);
        nodes += batch.nodes.writes.len();
        if let Some(rebuilt) = done {
            return (rebuilt.root, nodes);
        }
    }
}

fn roots_only(store: &MemoryStore) -> B256 {
    let mut slots_by_owner: BTreeMap<B256, Vec<(B256, &Bytes)>> = BTreeMap::new();
    for ((owner, slot), value) in store.storage() {
        slots_by_owner.entry(*owner).or_default().push((*slot, value));
    }
    let mut accounts = HashBuilder::default();
    for (hash, account) in store.accounts() {
        let storage_root = slots_by_owner.get(hash).map_or(EMPTY_ROOT_HASH, |slots| {
            let mut builder = HashBuilder::default();
            for (slot, value) in slots {
                builder.add_leaf(Nibbles::unpack(slot), value);
            }
            builder.root()
        });
        let account = TrieAccount { storage_root, ..*account };
        accounts.add_leaf(Nibbles::unpack(hash), &alloy_rlp::encode(account));
    }
    accounts.root()
}

fn bench(c: &mut Criterion) {
    let store = store();
    assert_eq!(rebuild(&store).0, roots_only(&store), "the rebuild computes the real root");
    let mut group = c.benchmark_group("rebuild_1m_leaves");
    group.throughput(Throughput::Elements(LEAVES));
    group.sample_size(10);
    group.bench_function("trie_rebuild_with_nodes", |b| b.iter(|| black_box(rebuild(&store))));
    group.bench_function("hash_builder_roots_only", |b| b.iter(|| black_box(roots_only(&store))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
