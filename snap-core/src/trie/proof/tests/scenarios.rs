//! The range-proof scenarios of go-ethereum's `proof_test.go`, and the known pitfalls.

use alloy_primitives::{B256, Bytes};
use alloy_trie::EMPTY_ROOT_HASH;

use super::{Fixture, Rng, decrease, increase, left_pad32, prove_all, random_trie};
use crate::trie::{ProofError, build_trie, verify_range};

fn fixture(n: usize, seed: u64) -> Fixture {
    Fixture::new(random_trie(n, &mut Rng::new(seed)))
}

#[test]
fn random_ranges_with_existing_edges_verify() {
    let f = fixture(1024, 1);
    let mut rng = Rng::new(2);
    for _ in 0..100 {
        let start = rng.below(f.keys.len());
        let end = start + 1 + rng.below(f.keys.len() - start);
        let more = f.verify(f.keys[start], start..end).unwrap();
        assert_eq!(more, end < f.keys.len(), "range {start}..{end}");
    }
}

#[test]
fn random_ranges_with_absent_left_edge_verify() {
    let f = fixture(1024, 3);
    let mut rng = Rng::new(4);
    let mut checked = 0;
    for _ in 0..100 {
        let start = rng.below(f.keys.len());
        let end = start + 1 + rng.below(f.keys.len() - start);
        let origin = decrease(&f.keys[start]);
        if start > 0 && origin == f.keys[start - 1] || origin > f.keys[start] {
            continue;
        }
        checked += 1;
        assert_eq!(f.verify(origin, start..end).unwrap(), end < f.keys.len());
    }
    assert!(checked > 50);
}

#[test]
fn gap_right_after_an_absent_left_edge_is_rejected() {
    let f = fixture(1024, 5);
    let origin = decrease(&f.keys[100]);
    let proof = prove_all(&f.trie, &[origin, f.keys[199]]);
    let result = verify_range(f.trie.root, origin, &f.keys[105..200], &f.values[105..200], &proof);
    assert!(
        matches!(result, Err(ProofError::RootMismatch { .. } | ProofError::RangeMismatch)),
        "{result:?}"
    );
}

#[test]
fn one_element_ranges() {
    let f = fixture(1024, 6);
    let start = 600;
    let key = f.keys[start];
    let value = &f.values[start..start + 1];
    let keys = &f.keys[start..start + 1];
    let check = |origin: B256, edges: &[B256]| {
        let proof = prove_all(&f.trie, edges);
        verify_range(f.trie.root, origin, keys, value, &proof)
    };
    // Origin is the key, proof of the key alone.
    assert_eq!(check(key, &[key]), Ok(true));
    // Absent origin just before the key.
    assert_eq!(check(decrease(&key), &[decrease(&key), key]), Ok(true));
    // Proof also covers the key just after (extra nodes are harmless).
    assert_eq!(check(key, &[key, increase(&key)]), Ok(true));
    // Absent origin, proofs of absent keys on both sides.
    assert_eq!(check(decrease(&key), &[decrease(&key), increase(&key), key]), Ok(true));
    // A one-leaf trie: the root is the leaf itself.
    let single = Fixture::new(vec![(B256::repeat_byte(0x42), b"v".to_vec())]);
    let proof = prove_all(&single.trie, &[B256::ZERO, single.keys[0]]);
    assert_eq!(
        verify_range(single.trie.root, B256::ZERO, &single.keys, &single.values, &proof),
        Ok(false)
    );
    let proof = prove_all(&single.trie, &[single.keys[0]]);
    assert_eq!(
        verify_range(single.trie.root, single.keys[0], &single.keys, &single.values, &proof),
        Ok(false)
    );
    // The same leaf with a wrong value is rejected.
    let wrong = [b"w".to_vec()];
    assert!(verify_range(single.trie.root, B256::ZERO, &single.keys, &wrong, &proof).is_err());
}

#[test]
fn whole_trie_ranges() {
    let f = fixture(1024, 7);
    let all = 0..f.keys.len();
    // No proof at all.
    assert_eq!(
        verify_range::<Vec<u8>>(f.trie.root, B256::ZERO, &f.keys, &f.values, &[]),
        Ok(false)
    );
    // Existence proofs of the first and last key.
    assert_eq!(f.verify(f.keys[0], all.clone()), Ok(false));
    // Absent left edge at zero.
    assert_eq!(f.verify(B256::ZERO, all), Ok(false));
    // Without a proof, a missing leaf anywhere is caught.
    let result = verify_range(f.trie.root, B256::ZERO, &f.keys[1..], &f.values[1..], &[]);
    assert!(matches!(result, Err(ProofError::RootMismatch { .. })));
}

#[test]
fn single_side_ranges_from_zero() {
    for seed in 0..4 {
        let f = Fixture::new({
            let mut rng = Rng::new(100 + seed);
            let mut map = std::collections::BTreeMap::new();
            while map.len() < 1024 {
                map.insert(rng.key(), rng.bytes(20));
            }
            map.into_iter().collect()
        });
        for pos in [0, 1, 50, 100, 500, 1000, f.keys.len() - 1] {
            let more = f.verify(B256::ZERO, 0..pos + 1).unwrap();
            assert_eq!(more, pos + 1 < f.keys.len());
        }
    }
}

/// The six corruptions of geth's bad-range test (a `nil` key has no typed equivalent: keys are
/// `B256`, so "set a key to nil" becomes "set a key to zero").
#[test]
fn corrupted_ranges_are_rejected() {
    let f = fixture(1024, 8);
    let mut rng = Rng::new(9);
    for round in 0..300 {
        let start = rng.below(f.keys.len() - 2);
        let end = start + 2 + rng.below((f.keys.len() - start - 1).min(200));
        let end = end.min(f.keys.len());
        let origin = f.keys[start];
        let proof = prove_all(&f.trie, &[origin, f.keys[end - 1]]);
        let mut keys = f.keys[start..end].to_vec();
        let mut values = f.values[start..end].to_vec();
        let len = keys.len();
        match round % 6 {
            0 => {
                let at = rng.below(len);
                keys[at] = rng.key();
            }
            1 => {
                let at = rng.below(len);
                values[at] = rng.bytes(20);
            }
            2 => {
                // A gap: drop anything but the last leaf (which would be an honest, shorter
                // range if the proof happened to cover the new last key).
                let at = rng.below(len - 1);
                keys.remove(at);
                values.remove(at);
            }
            3 => {
                let (a, b) = (rng.below(len), rng.below(len));
                if a == b {
                    continue;
                }
                keys.swap(a, b);
                values.swap(a, b);
            }
            4 => {
                let at = rng.below(len);
                keys[at] = B256::ZERO;
            }
            _ => {
                let at = rng.below(len);
                values[at] = Vec::new();
            }
        }
        let result = verify_range(f.trie.root, origin, &keys, &values, &proof);
        assert!(result.is_err(), "round {round}: corruption accepted");
    }
}

#[test]
fn gapped_range_over_embedded_nodes_is_rejected() {
    let entries: Vec<_> = (0..10u8).map(|i| (left_pad32(u64::from(i)), vec![i])).collect();
    let f = Fixture::new(entries);
    let proof = prove_all(&f.trie, &[f.keys[2], f.keys[7]]);
    assert_eq!(f.verify(f.keys[2], 2..8), Ok(true));
    let keys: Vec<_> = (2..8).filter(|&i| i != 5).map(|i| f.keys[i]).collect();
    let values: Vec<_> = (2..8).filter(|&i| i != 5).map(|i| f.values[i].clone()).collect();
    assert!(verify_range(f.trie.root, f.keys[2], &keys, &values, &proof).is_err());
}

#[test]
fn edges_on_the_same_side_are_rejected() {
    let f = fixture(2048, 10);
    let one = |i: usize| (&f.keys[i..i + 1], &f.values[i..i + 1]);
    // Proofs of keys 0 and 2000, but the only leaf is key 1000 (the leaves between are missing).
    let proof = prove_all(&f.trie, &[f.keys[0], f.keys[2000]]);
    let (keys, values) = one(1000);
    assert!(verify_range(f.trie.root, f.keys[0], keys, values, &proof).is_err());
    // Both edges after the only leaf: a key before the origin.
    let first = increase(&f.keys[1000]);
    let proof = prove_all(&f.trie, &[first, increase(&first)]);
    assert_eq!(
        verify_range(f.trie.root, first, keys, values, &proof),
        Err(ProofError::KeyBeforeOrigin)
    );
}

#[test]
fn has_more_reports_leaves_after_the_last_key() {
    let f = fixture(2048, 11);
    let n = f.keys.len();
    // (start, end, expected); start None is an absent origin at zero with leaves from 0.
    let cases = [
        (None, 1, true),
        (Some(0), 1, true),
        (Some(0), 10, true),
        (Some(50), 100, true),
        (Some(50), n, false),
        (Some(n - 1), n, false),
        (Some(0), n, false),
        (None, n, false),
    ];
    for (start, end, expected) in cases {
        let (origin, from) = match start {
            Some(start) => (f.keys[start], start),
            None => (B256::ZERO, 0),
        };
        assert_eq!(f.verify(origin, from..end), Ok(expected), "{start:?}..{end}");
    }
}

#[test]
fn empty_ranges_must_show_nothing_after_the_origin() {
    let f = fixture(1024, 12);
    let check = |origin: B256| {
        let proof = prove_all(&f.trie, &[origin]);
        verify_range::<Vec<u8>>(f.trie.root, origin, &[], &[], &proof)
    };
    assert_eq!(check(increase(&f.keys[f.keys.len() - 1])), Ok(false));
    assert_eq!(check(increase(&f.keys[500])), Err(ProofError::MoreEntriesAvailable));
    // The origin's path ends at a leaf at or after the origin: that leaf is data in range.
    assert_eq!(check(f.keys[500]), Err(ProofError::MoreEntriesAvailable));
    assert_eq!(check(f.keys[f.keys.len() - 1]), Err(ProofError::MoreEntriesAvailable));
    assert_eq!(check(B256::ZERO), Err(ProofError::MoreEntriesAvailable));
    // A proof of something else does not prove the absence.
    let proof = prove_all(&f.trie, &[f.keys[3]]);
    let origin = increase(&f.keys[f.keys.len() - 1]);
    assert!(verify_range::<Vec<u8>>(f.trie.root, origin, &[], &[], &proof).is_err());
}

#[test]
fn empty_ranges_over_tiny_tries() {
    let single = Fixture::new(vec![(B256::repeat_byte(0x42), b"v".to_vec())]);
    for (origin, ok) in [
        (B256::repeat_byte(0x41), false),
        (single.keys[0], false),
        (increase(&single.keys[0]), true),
    ] {
        let proof = prove_all(&single.trie, &[origin]);
        let result = verify_range::<Vec<u8>>(single.trie.root, origin, &[], &[], &proof);
        assert_eq!(result.is_ok(), ok, "{origin}: {result:?}");
    }
    // The empty trie holds nothing: fine with or without a proof.
    assert_eq!(verify_range::<Vec<u8>>(EMPTY_ROOT_HASH, B256::ZERO, &[], &[], &[]), Ok(false));
    let junk = [Bytes::from_static(&[0x80])];
    assert_eq!(verify_range::<Vec<u8>>(EMPTY_ROOT_HASH, B256::ZERO, &[], &[], &junk), Ok(false));
    // But an empty range without proof against a non-empty root is not the whole trie.
    assert!(verify_range::<Vec<u8>>(single.trie.root, B256::ZERO, &[], &[], &[]).is_err());
}

#[test]
fn bloated_proofs_are_accepted() {
    // Keys are little-endian counters, values 32 bytes: geth's "non-random" trie.
    let entries: Vec<(B256, Vec<u8>)> = {
        let mut entries: Vec<_> = (1..=100u64)
            .map(|i| {
                let mut key = [0u8; 32];
                key[..8].copy_from_slice(&i.to_le_bytes());
                let mut value = [0u8; 32];
                value[..8].copy_from_slice(&i.wrapping_sub(u64::MAX).to_le_bytes());
                (B256::from(key), value.to_vec())
            })
            .collect();
        entries.sort();
        entries
    };
    let f = Fixture::new(entries);
    let mut proof = prove_all(&f.trie, &f.keys);
    assert_eq!(
        verify_range(f.trie.root, f.keys[50], &f.keys[50..51], &f.values[50..51], &proof),
        Ok(true)
    );
    // Order and duplicates do not matter either.
    proof.reverse();
    let doubled: Vec<Bytes> = proof.iter().chain(proof.iter()).cloned().collect();
    assert_eq!(
        verify_range(f.trie.root, f.keys[50], &f.keys[50..51], &f.values[50..51], &doubled),
        Ok(true)
    );
    // Nor do nodes of an unrelated trie.
    let other =
        build_trie(&[(B256::repeat_byte(1), vec![1u8; 40]), (B256::repeat_byte(2), vec![2u8; 40])]);
    proof.extend(other.nodes.values().cloned());
    assert_eq!(
        verify_range(f.trie.root, f.keys[50], &f.keys[50..60], &f.values[50..60], &proof),
        Ok(true)
    );
}

#[test]
fn empty_values_are_rejected() {
    let f = fixture(512, 13);
    let mid = f.keys.len() / 2;
    let mut keys = f.keys.clone();
    let mut values = f.values.clone();
    keys.insert(mid, increase(&f.keys[mid - 1]));
    values.insert(mid, Vec::new());
    let proof = prove_all(&f.trie, &[keys[1], keys[keys.len() - 2]]);
    let range = 1..keys.len() - 1;
    assert_eq!(
        verify_range(f.trie.root, keys[1], &keys[range.clone()], &values[range], &proof),
        Err(ProofError::EmptyValue { index: mid - 1 })
    );
    assert_eq!(
        verify_range::<Vec<u8>>(f.trie.root, B256::ZERO, &keys, &values, &[]),
        Err(ProofError::EmptyValue { index: mid })
    );
}

#[test]
fn keys_sharing_a_prefix_in_a_two_leaf_trie() {
    let mut a = [0u8; 32];
    a[..2].copy_from_slice(&[0xaa, 0x10]);
    let mut b = [0u8; 32];
    b[..2].copy_from_slice(&[0xaa, 0x20]);
    let f = Fixture::new(vec![(B256::from(a), vec![0x02]), (B256::from(b), vec![0x03])]);
    assert_eq!(f.verify(B256::ZERO, 0..2), Ok(false));
    assert_eq!(f.verify(B256::ZERO, 0..1), Ok(true));
    assert_eq!(f.verify(f.keys[1], 1..2), Ok(false));
}

#[test]
fn malformed_ranges_get_typed_errors() {
    let root = B256::repeat_byte(9);
    let keys = [B256::repeat_byte(1), B256::repeat_byte(2)];
    assert_eq!(
        verify_range(root, B256::ZERO, &keys, &[vec![1]], &[]),
        Err(ProofError::LengthMismatch { keys: 2, values: 1 })
    );
    assert_eq!(
        verify_range(root, B256::ZERO, &[keys[0], keys[0]], &[vec![1], vec![1]], &[]),
        Err(ProofError::NotIncreasing { index: 1 })
    );
    assert_eq!(
        verify_range(root, B256::ZERO, &[keys[1], keys[0]], &[vec![1], vec![1]], &[]),
        Err(ProofError::NotIncreasing { index: 1 })
    );
    assert_eq!(
        verify_range(root, B256::ZERO, &keys, &[vec![1], vec![]], &[]),
        Err(ProofError::EmptyValue { index: 1 })
    );
}

#[test]
fn keys_before_the_origin_are_rejected() {
    let f = fixture(256, 14);
    // Honest leaves and proofs, but the origin is after the first leaf.
    let proof = prove_all(&f.trie, &[f.keys[10], f.keys[20]]);
    let result = verify_range(f.trie.root, f.keys[10], &f.keys[9..21], &f.values[9..21], &proof);
    assert_eq!(result, Err(ProofError::KeyBeforeOrigin));
}

#[test]
fn dropping_leaves_right_after_the_origin_is_caught() {
    // The left edge is the origin, not the first key: omitting the first leaves must fail.
    let f = fixture(1024, 15);
    for (origin, first) in [(f.keys[300], 301), (decrease(&f.keys[300]), 301), (f.keys[300], 305)] {
        let proof = prove_all(&f.trie, &[origin, f.keys[400]]);
        let result =
            verify_range(f.trie.root, origin, &f.keys[first..401], &f.values[first..401], &proof);
        assert!(
            matches!(result, Err(ProofError::RootMismatch { .. } | ProofError::RangeMismatch)),
            "{result:?}"
        );
    }
}

#[test]
fn missing_and_foreign_proof_nodes_are_errors() {
    let f = fixture(1024, 16);
    let proof = prove_all(&f.trie, &[f.keys[300], f.keys[400]]);
    for skip in 0..proof.len() {
        let partial: Vec<Bytes> =
            proof.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, n)| n.clone()).collect();
        let result = verify_range(
            f.trie.root,
            f.keys[300],
            &f.keys[300..401],
            &f.values[300..401],
            &partial,
        );
        assert!(matches!(result, Err(ProofError::MissingNode { .. })), "{result:?}");
    }
    // The right proof of a different trie.
    let other = fixture(1024, 17);
    let proof = prove_all(&other.trie, &[f.keys[300], f.keys[400]]);
    assert!(
        verify_range(f.trie.root, f.keys[300], &f.keys[300..401], &f.values[300..401], &proof)
            .is_err()
    );
}

#[test]
fn hostile_proof_nodes_never_panic() {
    let f = fixture(256, 18);
    let honest = prove_all(&f.trie, &[f.keys[10], f.keys[20]]);
    let mut rng = Rng::new(19);
    for _ in 0..2000 {
        let mut proof = honest.clone();
        let at = rng.below(proof.len());
        let mut node = proof[at].to_vec();
        match rng.below(3) {
            0 => {
                let i = rng.below(node.len());
                node[i] ^= 1 << rng.below(8);
            }
            1 => node.truncate(rng.below(node.len())),
            _ => {
                let extra = 1 + rng.below(4);
                node.extend(rng.bytes(extra));
            }
        }
        proof[at] = node.into();
        // A corrupted node is a different node: the original is now missing, or if the root
        // node itself was replaced, the root cannot be found.
        let result =
            verify_range(f.trie.root, f.keys[10], &f.keys[10..21], &f.values[10..21], &proof);
        assert!(result.is_err());
        // With the original node also present, the corrupted one is harmless bloat.
        proof.push(honest[at].clone());
        let result =
            verify_range(f.trie.root, f.keys[10], &f.keys[10..21], &f.values[10..21], &proof);
        assert_eq!(result, Ok(true));
    }
}
