//! Property tests: honest ranges verify with the right `has_more`, every corruption of geth's
//! range-proof fuzzer is rejected, and proofs from alloy-trie's own `ProofRetainer` (an
//! independent prover) verify too.

use alloy_primitives::{B256, Bytes};
use alloy_trie::{HashBuilder, proof::ProofRetainer};
use nybbles::Nibbles;
use proptest::prelude::*;

use super::{Fixture, decrease, prove_all};
use crate::trie::{ProofError, verify_range};

/// Random tries: some with short values (embedded nodes, especially with the shared-prefix
/// keys), some with long ones, and keys that are sometimes clustered to force deep paths.
fn entries() -> impl Strategy<Value = Vec<(B256, Vec<u8>)>> {
    let key = prop_oneof![
        any::<[u8; 32]>().prop_map(B256::from),
        // Clustered keys: a shared 30-byte prefix, so the trie is deep and nodes embed.
        any::<u16>().prop_map(|low| B256::left_padding_from(&low.to_be_bytes())),
    ];
    let value = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..4),
        proptest::collection::vec(any::<u8>(), 1..64),
    ];
    proptest::collection::btree_map(key, value, 1..80).prop_map(|map| map.into_iter().collect())
}

/// A trie and a range `[start, end)` in it, with the origin either the first key or a key
/// strictly between the previous key and the first.
fn case() -> impl Strategy<Value = (Fixture, usize, usize, B256)> {
    (entries(), any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>()).prop_map(
        |(entries, a, b, absent_origin)| {
            let f = Fixture::new(entries);
            let n = f.keys.len();
            let start = a.index(n);
            let end = start + 1 + b.index(n - start);
            let below = decrease(&f.keys[start]);
            let origin = if absent_origin
                && f.keys[start] != B256::ZERO
                && (start == 0 || below > f.keys[start - 1])
            {
                below
            } else {
                f.keys[start]
            };
            (f, start, end, origin)
        },
    )
}

#[derive(Clone, Copy, Debug)]
enum Corruption {
    ModifyKey,
    ModifyValue,
    DropMiddle,
    DropFirst,
    Swap,
    AddExtra,
    DropProofNode,
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        Just(Corruption::ModifyKey),
        Just(Corruption::ModifyValue),
        Just(Corruption::DropMiddle),
        Just(Corruption::DropFirst),
        Just(Corruption::Swap),
        Just(Corruption::AddExtra),
        Just(Corruption::DropProofNode),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn honest_ranges_verify((f, start, end, origin) in case()) {
        let more = f.verify(origin, start..end);
        prop_assert_eq!(more, Ok(end < f.keys.len()));
    }

    #[test]
    fn honest_empty_ranges((f, start, _end, origin) in case(), past_end in any::<bool>()) {
        // Either an origin past every key, or one with keys at or after it.
        let origin = if past_end { super::increase(&f.keys[f.keys.len() - 1]) } else { origin };
        let wraps = past_end && origin < f.keys[f.keys.len() - 1];
        let proof = prove_all(&f.trie, &[origin]);
        let result = verify_range::<Vec<u8>>(f.trie.root, origin, &[], &[], &proof);
        if past_end && !wraps {
            prop_assert_eq!(result, Ok(false));
        } else {
            let _ = start;
            prop_assert_eq!(result, Err(ProofError::MoreEntriesAvailable));
        }
    }

    #[test]
    fn proofs_from_alloy_proof_retainer_verify((f, start, end, origin) in case()) {
        let last = f.keys[end - 1];
        let targets = vec![Nibbles::unpack(origin), Nibbles::unpack(last)];
        let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(targets));
        for (key, value) in f.keys.iter().zip(&f.values) {
            builder.add_leaf(Nibbles::unpack(key), value);
        }
        prop_assert_eq!(builder.root(), f.trie.root);
        let proof: Vec<Bytes> = builder.take_proof_nodes().into_nodes_sorted().into_iter().map(|(_, node)| node).collect();
        let result = verify_range(f.trie.root, origin, &f.keys[start..end], &f.values[start..end], &proof);
        prop_assert_eq!(result, Ok(end < f.keys.len()));
    }

    #[test]
    fn corrupted_ranges_are_rejected(
        (f, start, end, origin) in case(),
        kind in corruption(),
        pick in any::<prop::sample::Index>(),
        noise in any::<[u8; 32]>(),
    ) {
        let last = f.keys[end - 1];
        let mut proof = prove_all(&f.trie, &[origin, last]);
        let mut keys = f.keys[start..end].to_vec();
        let mut values = f.values[start..end].to_vec();
        let len = keys.len();
        match kind {
            Corruption::ModifyKey => {
                let at = pick.index(len);
                let new = B256::from(noise);
                prop_assume!(!f.keys.contains(&new));
                keys[at] = new;
            }
            Corruption::ModifyValue => {
                let at = pick.index(len);
                prop_assume!(values[at] != noise[..5]);
                values[at] = noise[..5].to_vec();
            }
            Corruption::DropMiddle => {
                prop_assume!(len >= 3);
                let at = 1 + pick.index(len - 2);
                keys.remove(at);
                values.remove(at);
            }
            Corruption::DropFirst => {
                prop_assume!(len >= 2);
                keys.remove(0);
                values.remove(0);
            }
            Corruption::Swap => {
                prop_assume!(len >= 2);
                let at = pick.index(len - 1);
                keys.swap(at, at + 1);
                values.swap(at, at + 1);
            }
            Corruption::AddExtra => {
                let new = B256::from(noise);
                prop_assume!(new >= origin && !f.keys.contains(&new));
                let at = keys.partition_point(|key| *key < new);
                keys.insert(at, new);
                values.insert(at, vec![1]);
            }
            Corruption::DropProofNode => {
                let at = pick.index(proof.len());
                proof.remove(at);
            }
        }
        let result = verify_range(f.trie.root, origin, &keys, &values, &proof);
        // Dropping the only node of a one-node proof leaves no proof, which legitimately
        // verifies a range that is the whole trie.
        let whole_trie = start == 0 && end == f.keys.len() && keys.len() == len;
        if proof.is_empty() && whole_trie {
            prop_assert_eq!(result, Ok(false));
        } else {
            prop_assert!(result.is_err(), "{:?} accepted: {:?}", kind, result);
        }
    }

    /// Dropping the last leaf gives a shorter range: it may verify only if it is then honest.
    #[test]
    fn dropping_the_last_leaf_is_never_wrongly_accepted((f, start, end, origin) in case()) {
        prop_assume!(end - start >= 2);
        let proof = prove_all(&f.trie, &[origin, f.keys[end - 1]]);
        let result = verify_range(f.trie.root, origin, &f.keys[start..end - 1], &f.values[start..end - 1], &proof);
        prop_assert!(matches!(result, Ok(true) | Err(ProofError::MissingNode { .. })), "{:?}", result);
    }
}
