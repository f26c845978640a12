//! A small-storage answer: what reaches the batch, against `build_trie` of each contract, when
//! some contracts are no longer wanted or some list does not verify.

use std::collections::BTreeMap;

use proptest::prelude::*;

use nybbles::Nibbles;

use super::*;
use crate::trie::{NodeKey, build_trie};

type Slots = Vec<(B256, Vec<u8>)>;

fn slots_strategy() -> impl Strategy<Value = Slots> {
    // Short values make nodes small enough to live inside their parents (deleted paths).
    prop::collection::btree_map(any::<[u8; 32]>().prop_map(B256::from), vec(1..40), 0..12)
        .prop_map(|map| map.into_iter().collect())
}

fn vec(len: Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), len)
}

/// One contract of the answer: its slots, whether its account still wants it, whether its
/// list is answered with the wrong slots (one value changed).
#[derive(Clone, Debug)]
struct Contract {
    slots: Slots,
    wanted: bool,
    corrupt: bool,
}

fn contracts_strategy() -> impl Strategy<Value = Vec<Contract>> {
    prop::collection::vec(
        (slots_strategy(), prop::bool::weighted(0.8), prop::bool::weighted(0.1))
            .prop_map(|(slots, wanted, corrupt)| Contract { slots, wanted, corrupt }),
        1..6,
    )
}

fn list(slots: &[(B256, Vec<u8>)]) -> Vec<StorageSlot> {
    slots
        .iter()
        .map(|(hash, value)| StorageSlot { hash: *hash, value: value.clone().into() })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn whole_tries_reach_the_batch_only_when_every_list_verifies_and_only_if_wanted(
        contracts in contracts_strategy(),
    ) {
        let mut storage = Storage::new(StorageConfig { max_chunks: 4, min_slots_per_chunk: 1 });
        let state_root = B256::repeat_byte(0xee);
        let jobs: Vec<StorageJob> = (0u8..)
            .zip(&contracts)
            .map(|(index, contract)| StorageJob {
                account: B256::repeat_byte(index + 1),
                root: build_trie(&contract.slots).root,
                state_root,
            })
            .collect();
        let lists: Vec<Vec<StorageSlot>> = contracts
            .iter()
            .map(|contract| {
                let mut list = list(&contract.slots);
                if contract.corrupt {
                    match list.first_mut() {
                        Some(slot) => slot.value = vec![0xab; 3].into(),
                        None => list.push(StorageSlot { hash: B256::ZERO, value: vec![1].into() }),
                    }
                }
                list
            })
            .collect();
        let wanted: Vec<bool> = contracts.iter().map(|contract| contract.wanted).collect();
        // The batch already holds something: it must stay as it is.
        let mut batch = WriteBatch::default();
        let earlier = NodeKey { owner: B256::repeat_byte(0xaa), path: Nibbles::from_nibbles([1]) };
        batch.nodes.writes.push((earlier, Bytes::from_static(b"earlier")));
        batch.nodes.deletes.push(earlier);
        let before = batch.clone();

        let result = storage.on_small_response(jobs.clone(), &wanted, lists, &[], &mut batch);
        if contracts.iter().any(|contract| contract.corrupt) {
            prop_assert!(matches!(result, Err(Misbehaviour::BadRangeProof(_))));
            prop_assert_eq!(batch, before);
            return Ok(());
        }
        let done = result.expect("every list verifies");
        let mut written: BTreeMap<NodeKey, Bytes> = BTreeMap::new();
        for (key, node) in &batch.nodes.writes[1..] {
            prop_assert!(written.insert(*key, node.clone()).is_none(), "one write per path");
        }
        let mut expected = BTreeMap::new();
        let mut expected_slots = Vec::new();
        for (job, contract) in jobs.iter().zip(&contracts).filter(|(_, c)| c.wanted) {
            let full = build_trie(&contract.slots);
            expected.extend(full.nodes.into_iter().map(|(path, node)| {
                (NodeKey { owner: job.account, path }, node)
            }));
            expected_slots.extend(
                contract.slots.iter().map(|(hash, value)| (job.account, *hash, Bytes::from(value.clone()))),
            );
        }
        // `build_trie` stores the root even when it is small, as the generator does.
        prop_assert_eq!(&written, &expected);
        prop_assert_eq!(&batch.storage, &expected_slots);
        prop_assert_eq!(batch.nodes.deletes[0], earlier);
        for key in &batch.nodes.deletes[1..] {
            prop_assert!(!written.contains_key(key), "a path both written and deleted");
            prop_assert!(jobs.iter().zip(&contracts).any(|(job, c)| c.wanted && job.account == key.owner));
        }
        let wanted_accounts: Vec<B256> =
            jobs.iter().zip(&contracts).filter(|(_, c)| c.wanted).map(|(job, _)| job.account).collect();
        prop_assert_eq!(done.iter().map(|d| d.account).collect::<Vec<_>>(), wanted_accounts);
    }
}

/// A chunk answered with the whole trie (no proof) keeps only the chunk's own slots; those are
/// copied out of the answer, so that the few kept do not hold the whole message in memory.
#[test]
fn slots_kept_from_a_larger_answer_do_not_hold_the_answer() {
    use crate::wire::{Limits, SnapMessage, SnapVersion, StorageRanges};

    let slots: Slots = (0u8..60)
        .map(|i| (alloy_primitives::keccak256([i]), vec![0x80 + (i % 50), i]))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let full = build_trie(&slots);
    let job = StorageJob { account: B256::repeat_byte(1), root: full.root, state_root: B256::ZERO };
    let mut storage = Storage::new(StorageConfig { max_chunks: 4, min_slots_per_chunk: 1 });
    storage.want(job);
    // The first answer stops after 5 slots, with its edge proof: the rest goes to chunks.
    let mut proof = full.prove(&B256::ZERO);
    proof.extend(full.prove(&slots[4].0));
    proof.sort();
    proof.dedup();
    let mut batch = WriteBatch::default();
    let jobs = storage.take_small(1);
    storage
        .on_small_response(jobs, &[true], vec![list(&slots[..5])], &proof, &mut batch)
        .expect("a valid first range");
    let request = storage.take_chunk().expect("the rest is chunked");
    // The chunk is answered with the whole trie, decoded from one shared buffer.
    let answer = SnapMessage::StorageRanges(StorageRanges {
        request_id: 1,
        slots: vec![list(&slots)],
        proof: Vec::new(),
    });
    let buffer = Bytes::from(answer.to_vec());
    let Ok(SnapMessage::StorageRanges(decoded)) =
        SnapMessage::decode_shared(SnapVersion::V1, 0x03, &buffer, &Limits::default())
    else {
        panic!("decodes")
    };
    let before = batch.storage.len();
    storage
        .on_chunk_response(&request, decoded.slots, &decoded.proof, &mut batch)
        .expect("the whole trie verifies");
    let kept = &batch.storage[before..];
    assert!(!kept.is_empty() && kept.len() < slots.len(), "some slots kept, some left out");
    let inside = buffer.as_ptr_range();
    assert!(
        kept.iter().all(|(_, _, value)| !inside.contains(&value.as_ptr())),
        "a kept value still points into the answer"
    );
}
