//! `TrieGenerator::verify_whole`: verifying a proof-less range and generating its trie in one
//! pass agrees with the verifier and with a generator fed the same leaves, and leaves nothing
//! behind when the leaves are not the trie.

use proptest::prelude::*;

use super::{Leaves, leaves_strategy};
use crate::trie::{
    ProofError, build_trie,
    generate::{B256, NodeChanges, TrieGenerator},
    verify_range,
};

fn leaf_refs(leaves: &Leaves) -> impl Iterator<Item = (B256, &[u8])> {
    leaves.iter().map(|(key, value)| (*key, value.as_slice()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn one_pass_whole_trie_agrees_with_the_verifier_and_the_generator(
        leaves in leaves_strategy(120),
        earlier in leaves_strategy(40),
        wrong_root in prop::option::of(any::<[u8; 32]>().prop_map(B256::from)),
        owner in any::<[u8; 32]>().prop_map(B256::from),
    ) {
        let full = build_trie(&leaves);
        let root = wrong_root.filter(|wrong| *wrong != full.root).unwrap_or(full.root);
        let (keys, values): (Vec<B256>, Vec<&[u8]>) = leaf_refs(&leaves).unzip();
        let verdict = verify_range(root, B256::ZERO, &keys, &values, &[]);

        // A generator used before (for another trie, left mid-chunk), and a batch holding
        // earlier changes.
        let mut reused = TrieGenerator::new(B256::repeat_byte(9), B256::ZERO);
        for (key, value) in &earlier {
            reused.push(*key, value).unwrap();
        }
        let mut changes = NodeChanges::default();
        let mut previous = TrieGenerator::new(B256::repeat_byte(7), B256::ZERO);
        for (key, value) in &earlier {
            previous.push(*key, value).unwrap();
        }
        changes.append(&mut previous.finish(true).0);
        let before = changes.clone();

        let result = reused.verify_whole(owner, root, leaf_refs(&leaves), &mut changes);
        match verdict {
            Ok(more) => {
                prop_assert!(!more);
                prop_assert_eq!(result, Ok(()));
                let mut fresh = TrieGenerator::new(owner, B256::ZERO);
                for (key, value) in &leaves {
                    fresh.push(*key, value).unwrap();
                }
                let (mut expected, expected_root) = fresh.finish(true);
                prop_assert_eq!(expected_root, Some(full.root));
                let mut want = before;
                want.append(&mut expected);
                prop_assert_eq!(changes, want);
            }
            Err(error) => {
                prop_assert_eq!(result, Err(error));
                prop_assert_eq!(changes, before);
            }
        }
    }
}

#[test]
fn leaves_out_of_order_or_empty_are_refused_with_their_index() {
    let key = |byte: u8| B256::repeat_byte(byte);
    let mut generator = TrieGenerator::new(B256::ZERO, B256::ZERO);
    let mut changes = NodeChanges::default();
    let unordered = [(key(2), &[1u8][..]), (key(3), &[1]), (key(3), &[1])];
    assert_eq!(
        generator.verify_whole(B256::ZERO, B256::ZERO, unordered, &mut changes),
        Err(ProofError::NotIncreasing { index: 2 })
    );
    let empty = [(key(2), &[1u8][..]), (key(3), &[])];
    assert_eq!(
        generator.verify_whole(B256::ZERO, B256::ZERO, empty, &mut changes),
        Err(ProofError::EmptyValue { index: 1 })
    );
    assert!(changes.is_empty());
    // It takes no leaves until it is restarted.
    assert_eq!(generator.push(key(9), &[1]), Err(crate::trie::GenerateError::Exhausted));
    // The generator is usable afterwards: the empty trie verifies.
    generator
        .verify_whole(B256::ZERO, alloy_trie::EMPTY_ROOT_HASH, [], &mut changes)
        .expect("the empty trie");
    assert_eq!(changes.deletes.len(), 1, "the root path is cleared");
}
