use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;
use snap_core::{serve::InMemoryState, trie::build_trie};

use super::*;

/// Everything a generation wrote, collected.
#[derive(Default)]
struct Collected {
    accounts: Vec<(B256, TrieAccount)>,
    storage: Vec<(B256, B256, Bytes)>,
    codes: BTreeMap<B256, Bytes>,
    nodes: BTreeMap<(B256, Nibbles), Bytes>,
    ids: Vec<u64>,
    largest_batch: usize,
}

fn collect(spec: &StreamSpec) -> (Summary, Collected) {
    let mut out = Collected::default();
    let summary = generate(spec, |batch: WriteBatch| -> Result<(), std::convert::Infallible> {
        assert!(batch.nodes.deletes.is_empty() && batch.pruned.is_empty());
        assert_eq!(&batch.progress[..], GENERATED_PROGRESS);
        out.ids.push(batch.id.0);
        out.largest_batch = out.largest_batch.max(batch.estimated_bytes());
        out.accounts.extend(batch.accounts);
        out.storage.extend(batch.storage);
        out.codes.extend(batch.codes);
        for (key, node) in batch.nodes.writes {
            assert!(
                out.nodes.insert((key.owner, key.path), node).is_none(),
                "a node written twice"
            );
        }
        Ok(())
    })
    .unwrap_or_else(|never| match never {});
    (summary, out)
}

#[test]
fn the_stream_is_the_state_an_independent_builder_computes() {
    let spec = StreamSpec { batch_bytes: 64 << 10, ..StreamSpec::new(7, 3000, 40_000) };
    let (summary, out) = collect(&spec);
    // Written in key order: accounts by hash, slots by (account, slot).
    assert!(out.accounts.windows(2).all(|pair| pair[0].0 < pair[1].0));
    assert!(out.storage.windows(2).all(|pair| (pair[0].0, pair[0].1) < (pair[1].0, pair[1].1)));
    assert_eq!(out.ids, (1..=summary.batches).collect::<Vec<_>>());
    assert!(summary.batches > 10, "small batches: {}", summary.batches);
    assert!(out.largest_batch < 2 * spec.batch_bytes);
    assert_eq!(summary.accounts, out.accounts.len() as u64);
    assert_eq!(summary.slots, out.storage.len() as u64);
    assert_eq!(summary.codes, out.codes.len() as u64);
    assert_eq!(summary.nodes, out.nodes.len() as u64);

    // The root, every storage root and every stored node, from the flat data by another
    // builder (snap-core's in-memory state and `build_trie`).
    let mut by_account: BTreeMap<B256, Vec<(B256, Bytes)>> = BTreeMap::new();
    for (account, slot, value) in &out.storage {
        by_account.entry(*account).or_default().push((*slot, value.clone()));
    }
    let state = InMemoryState::from_sorted(
        out.accounts.clone(),
        by_account.clone(),
        out.codes.values().cloned(),
    )
    .unwrap();
    assert_eq!(state.root(), summary.root);
    let leaves: Vec<(B256, Vec<u8>)> =
        out.accounts.iter().map(|(hash, account)| (*hash, alloy_rlp::encode(account))).collect();
    let mut expected: BTreeMap<(B256, Nibbles), Bytes> = build_trie(&leaves)
        .nodes
        .into_iter()
        .map(|(path, node)| ((B256::ZERO, path), node))
        .collect();
    for (hash, account) in &out.accounts {
        let slots = by_account.get(hash).cloned().unwrap_or_default();
        let trie = build_trie(&slots);
        assert_eq!(account.storage_root, trie.root);
        expected.extend(trie.nodes.into_iter().map(|(path, node)| ((*hash, path), node)));
        if account.code_hash != KECCAK_EMPTY {
            assert_eq!(out.codes.get(&account.code_hash).map(keccak256), Some(account.code_hash));
        }
    }
    assert_eq!(out.nodes, expected);
}

#[test]
fn the_shape_has_giants_a_power_law_tail_and_every_kind_of_account() {
    let spec = StreamSpec::new(3, 20_000, 400_000);
    let shape = spec.shape();
    assert_eq!(shape.largest, 100_000); // a quarter of the slots below 40M slots
    assert_eq!(shape.giants, 1);
    let (summary, out) = collect(&spec);
    assert_eq!(summary.largest_storage, shape.largest);
    // The total lands near the slots asked for.
    let ratio = summary.slots as f64 / spec.slots as f64;
    assert!((0.8..1.25).contains(&ratio), "{} slots", summary.slots);
    let mut sizes: BTreeMap<B256, u64> = BTreeMap::new();
    for (account, _, _) in &out.storage {
        *sizes.entry(*account).or_default() += 1;
    }
    let ones = sizes.values().filter(|size| **size == 1).count() as f64;
    let big = sizes.values().filter(|size| **size >= 1000).count();
    assert!(ones / sizes.len() as f64 > 0.2, "{ones} of {} hold one slot", sizes.len());
    assert!(big >= 2, "a tail beyond the giant: {big}");
    assert!(summary.empty_accounts > 0 && summary.contracts > summary.storage_accounts);
    let empty = out.accounts.iter().filter(|(_, account)| {
        account.nonce == 0
            && account.balance.is_zero()
            && account.code_hash == KECCAK_EMPTY
            && account.storage_root == EMPTY_ROOT_HASH
    });
    assert!(empty.count() as u64 >= summary.empty_accounts);
    // Shared codes: fewer distinct codes than contracts.
    assert!(summary.codes < summary.contracts / 4);
}

#[test]
fn large_states_get_ten_million_slot_giants() {
    let shape = StreamSpec::new(1, 300_000_000, 1_300_000_000).shape();
    assert_eq!(shape.largest, 1_300_000_000 / 30);
    assert!(shape.giants >= 1);
    assert!((0.5..1.5).contains(&shape.exponent), "exponent {}", shape.exponent);
    let shape = StreamSpec::new(1, 5_000_000, 50_000_000).shape();
    assert_eq!(shape.largest, 10_000_000);
    // The fitted exponent gives the mean asked for.
    let rest = 50_000_000 - shape.giants * shape.largest;
    let storage_accounts =
        shape.storage_share * (1.0 - EMPTY_SHARE) * (5_000_000 - shape.giants) as f64;
    let mean = expected_size(shape.exponent, shape.largest);
    assert!((mean * storage_accounts / rest as f64 - 1.0).abs() < 0.01);
}

#[test]
fn the_same_spec_gives_the_same_state_and_another_seed_another() {
    let spec = StreamSpec::new(11, 500, 5000);
    let (a, _) = collect(&spec);
    assert_eq!(collect(&spec).0, a);
    assert_ne!(collect(&StreamSpec { seed: 12, ..spec }).0.root, a.root);
    let (empty, out) = collect(&StreamSpec::new(1, 0, 0));
    assert_eq!((empty.root, out.ids.len()), (EMPTY_ROOT_HASH, 0));
    let (no_slots, _) = collect(&StreamSpec::new(1, 100, 0));
    assert_eq!((no_slots.slots, no_slots.accounts), (0, 100));
}
