//! The serving side over an in-memory state of 20,000 accounts and 200,000 storage slots: a
//! 512 KiB account range (geth's request size), a 512 KiB storage range of one large contract,
//! 1,024 trie-node lookups, and building the state itself.

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nybbles::Nibbles;
use snap_core::{
    serve::{InMemoryState, ServeLimits, account_range, storage_ranges, trie_nodes},
    wire::{GetAccountRange, GetStorageRanges, GetTrieNodes, TrieNodePathSet},
};

const ACCOUNTS: u64 = 20_000;
const CONTRACTS: u64 = 20;
const SLOTS_PER_CONTRACT: u64 = 10_000;

type Storage = Vec<(B256, Vec<(B256, Bytes)>)>;

fn inputs() -> (Vec<(B256, TrieAccount)>, Storage) {
    let mut accounts: Vec<(B256, TrieAccount)> = (0..ACCOUNTS)
        .map(|i| {
            let account = TrieAccount {
                nonce: i % 50,
                balance: U256::from(i) * U256::from(1_000_000_007u64),
                storage_root: EMPTY_ROOT_HASH,
                code_hash: if i < CONTRACTS { keccak256(i.to_be_bytes()) } else { KECCAK_EMPTY },
            };
            (keccak256(i.to_be_bytes()), account)
        })
        .collect();
    accounts.sort_by_key(|(hash, _)| *hash);
    let storage = (0..CONTRACTS)
        .map(|i| {
            let mut slots: Vec<(B256, Bytes)> = (0..SLOTS_PER_CONTRACT)
                .map(|s| {
                    let value = alloy_rlp::encode(U256::from(s * 31 + 1));
                    (keccak256((i << 32 | s).to_be_bytes()), Bytes::from(value))
                })
                .collect();
            slots.sort_by_key(|(hash, _)| *hash);
            (keccak256(i.to_be_bytes()), slots)
        })
        .collect();
    (accounts, storage)
}

fn serve(c: &mut Criterion) {
    let (accounts, storage) = inputs();
    let contract = storage[0].0;
    let state = InMemoryState::from_sorted(accounts.clone(), storage.clone(), []).expect("sorted");
    let limits = ServeLimits::default();
    let mut group = c.benchmark_group("serve");

    let request = GetAccountRange {
        request_id: 1,
        root: state.root(),
        origin: B256::repeat_byte(0x40),
        limit: B256::repeat_byte(0xff),
        response_bytes: 512 * 1024,
    };
    let served = account_range(&request, &state, &limits).accounts.len();
    group.throughput(Throughput::Elements(served as u64));
    group.bench_function("account_range_512k", |b| {
        b.iter(|| account_range(&request, &state, &limits))
    });

    let request = GetStorageRanges {
        request_id: 2,
        root: state.root(),
        account_hashes: vec![contract],
        origin: Bytes::copy_from_slice(B256::repeat_byte(0x20).as_slice()),
        limit: Bytes::new(),
        response_bytes: 512 * 1024,
    };
    let served =
        storage_ranges(&request, &state, &limits).slots.iter().map(Vec::len).sum::<usize>();
    group.throughput(Throughput::Elements(served as u64));
    group.bench_function("storage_range_512k", |b| {
        b.iter(|| storage_ranges(&request, &state, &limits))
    });

    // Every path down to the leaves of 256 accounts and 256 slots (1,024 nodes' worth).
    let mut paths = Vec::new();
    for (hash, _) in accounts.iter().step_by(accounts.len() / 256).take(256) {
        let full = Nibbles::unpack(hash);
        paths.extend((0..2).map(|len| TrieNodePathSet::account(&full.slice(..len))));
    }
    for (slot, _) in storage[0].1.iter().step_by(SLOTS_PER_CONTRACT as usize / 256).take(256) {
        let full = Nibbles::unpack(slot);
        paths.push(TrieNodePathSet::storage(contract, &[full.slice(..1), full.slice(..3)]));
    }
    let request =
        GetTrieNodes { request_id: 3, root: state.root(), paths, response_bytes: 2 << 20 };
    let served = trie_nodes(&request, &state, &limits).expect("well-formed").nodes.len();
    group.throughput(Throughput::Elements(served as u64));
    group.bench_function("trie_nodes_1024", |b| b.iter(|| trie_nodes(&request, &state, &limits)));
    group.finish();

    let mut group = c.benchmark_group("serve_state");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CONTRACTS * SLOTS_PER_CONTRACT));
    group.bench_function("from_sorted_200k_slots", |b| {
        b.iter(|| InMemoryState::from_sorted(accounts.clone(), storage.clone(), []))
    });
    group.finish();
}

criterion_group!(benches, serve);
criterion_main!(benches);
