//! `range_proof`: range-proof verification under fuzzer-chosen tries, ranges, corruptions and raw proofs.
//!
//! Invariants: `verify_range` never panics; honest ranges verify with the right `has_more`;
//! whenever it accepts anything (corrupted or not), what it accepted is the truth about the
//! trie: the leaves are exactly the trie's leaves from the origin to the last key, and
//! `has_more` tells exactly whether the trie has a key after them. `verify_range_nodes` gives
//! the same verdict, and every node it keeps for the trie generator is the trie's node at
//! that path, with that hash.
use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes};
use arbitrary::Arbitrary;
use snap_core::trie::{build_trie, verify_range, verify_range_nodes};

/// A leaf key.
#[derive(Arbitrary, Debug)]
pub enum Key {
    /// A random key.
    Random([u8; 32]),
    /// A key sharing a 30-byte zero prefix: deep tries with embedded nodes.
    Clustered(u16),
}

impl Key {
    fn to_b256(&self) -> B256 {
        match self {
            Self::Random(bytes) => B256::from(*bytes),
            Self::Clustered(low) => B256::left_padding_from(&low.to_be_bytes()),
        }
    }
}

/// One change to the honest range or its proof (indices wrap around the lengths).
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub enum Corruption {
    None,
    FlipKeyBit { at: u8, bit: u8 },
    ReplaceValue { at: u8, value: Vec<u8> },
    DropLeaf { at: u8 },
    SwapLeaves { at: u8 },
    AddLeaf { key: Key, value: Vec<u8> },
    DropProofNode { at: u8 },
    FlipProofBit { at: u8, byte: u16, bit: u8 },
    AddRawNode(Vec<u8>),
    ShiftOrigin(Key),
    RawProof(Vec<Vec<u8>>),
}

/// One input: a trie, a range of it, and up to four corruptions.
#[derive(Arbitrary, Debug)]
pub struct Input {
    /// The trie's leaves (at most 64 kept; empty or long values are skipped).
    pub leaves: Vec<(Key, Vec<u8>)>,
    /// The first leaf of the range (modulo the leaf count).
    pub start: u8,
    /// The length of the range (modulo what is left).
    pub len: u8,
    /// Start the range just below its first key instead of at it.
    pub absent_origin: bool,
    /// What to change before the second verification.
    pub corruptions: Vec<Corruption>,
}

fn index(at: u8, len: usize) -> usize {
    usize::from(at) % len
}

/// Verifies the honest range, applies the corruptions, and checks that whatever is accepted
/// is the truth.
pub fn check(input: Input) {
    let mut map = BTreeMap::new();
    for (key, value) in input.leaves.iter().take(64) {
        if !value.is_empty() && value.len() <= 48 {
            map.insert(key.to_b256(), value.clone());
        }
    }
    let entries: Vec<(B256, Vec<u8>)> = map.into_iter().collect();
    let trie = build_trie(&entries);
    let n = entries.len();

    // The range and its honest proof.
    let (start, end) = if n == 0 {
        (0, 0)
    } else {
        let start = index(input.start, n);
        (start, start + 1 + index(input.len, n - start))
    };
    let mut origin = match entries.get(start) {
        Some((key, _)) if input.absent_origin && !key.is_zero() => {
            let below = B256::from(
                alloy_primitives::U256::from_be_bytes(key.0) - alloy_primitives::U256::from(1),
            );
            if start == 0 || below > entries[start - 1].0 { below } else { *key }
        }
        Some((key, _)) => *key,
        None => B256::ZERO,
    };
    let mut keys: Vec<B256> = entries[start..end].iter().map(|(key, _)| *key).collect();
    let mut values: Vec<Vec<u8>> =
        entries[start..end].iter().map(|(_, value)| value.clone()).collect();
    let mut proof: Vec<Bytes> = trie.prove(&origin);
    if let Some(last) = keys.last() {
        proof.extend(trie.prove(last));
    }
    proof.sort();
    proof.dedup();

    let honest = verify_range(trie.root, origin, &keys, &values, &proof);
    if n > 0 {
        assert_eq!(honest, Ok(end < n), "honest range rejected");
    }

    for corruption in input.corruptions.iter().take(4) {
        match corruption {
            Corruption::None => {}
            Corruption::FlipKeyBit { at, bit } if !keys.is_empty() => {
                let at = index(*at, keys.len());
                keys[at].0[usize::from(*bit / 8) % 32] ^= 1 << (bit % 8);
            }
            Corruption::ReplaceValue { at, value } if !values.is_empty() => {
                let at = index(*at, values.len());
                values[at] = value.clone();
            }
            Corruption::DropLeaf { at } if !keys.is_empty() => {
                let at = index(*at, keys.len());
                keys.remove(at);
                values.remove(at);
            }
            Corruption::SwapLeaves { at } if keys.len() >= 2 => {
                let at = index(*at, keys.len() - 1);
                keys.swap(at, at + 1);
                values.swap(at, at + 1);
            }
            Corruption::AddLeaf { key, value } => {
                let key = key.to_b256();
                let at = keys.partition_point(|k| *k < key);
                keys.insert(at, key);
                values.insert(at, value.clone());
            }
            Corruption::DropProofNode { at } if !proof.is_empty() => {
                let at = index(*at, proof.len());
                proof.remove(at);
            }
            Corruption::FlipProofBit { at, byte, bit } if !proof.is_empty() => {
                let at = index(*at, proof.len());
                let mut node = proof[at].to_vec();
                if !node.is_empty() {
                    let byte = usize::from(*byte) % node.len();
                    node[byte] ^= 1 << (bit % 8);
                }
                proof[at] = node.into();
            }
            Corruption::AddRawNode(node) => proof.push(node.clone().into()),
            Corruption::ShiftOrigin(key) => origin = key.to_b256(),
            Corruption::RawProof(nodes) => {
                proof = nodes.iter().take(16).map(|node| Bytes::from(node.clone())).collect();
            }
            _ => {}
        }
    }

    let verdict = verify_range(trie.root, origin, &keys, &values, &proof);
    let with_nodes = verify_range_nodes(trie.root, origin, &keys, &values, &proof);
    assert_eq!(verdict, with_nodes.as_ref().map(|(more, _)| *more).map_err(Clone::clone));
    if let Ok((_, nodes)) = &with_nodes {
        for (path, hash, node) in nodes.iter() {
            assert_eq!(alloy_primitives::keccak256(&node), hash, "kept node with a wrong hash");
            assert_eq!(trie.nodes.get(&path), Some(&node), "kept a node the trie lacks");
        }
    }
    let Ok(has_more) = verdict else { return };
    // Whatever was accepted must be the truth.
    if proof.is_empty() {
        assert_eq!(keys.len(), n, "accepted a partial trie without proof");
        assert!(!has_more);
    }
    let Some(last) = keys.last().copied() else {
        assert!(
            entries.iter().all(|(key, _)| *key < origin),
            "accepted an empty range hiding data"
        );
        assert!(!has_more);
        return;
    };
    // Without a proof the origin plays no part: the leaves are the whole trie.
    let truth: Vec<&(B256, Vec<u8>)> = entries
        .iter()
        .filter(|(key, _)| proof.is_empty() || (origin <= *key && *key <= last))
        .collect();
    assert_eq!(truth.len(), keys.len(), "accepted a range with missing or extra leaves");
    for ((key, value), (true_key, true_value)) in keys.iter().zip(&values).zip(truth) {
        assert_eq!(key, true_key, "accepted a wrong key");
        assert_eq!(value, true_value, "accepted a wrong value");
    }
    assert_eq!(has_more, entries.iter().any(|(key, _)| *key > last), "wrong has_more");
}
