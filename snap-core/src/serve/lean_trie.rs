//! A trie held as its inner nodes only, with its leaves read from the sorted leaf list the
//! state keeps anyway.
//!
//! In a secure trie nearly every stored node is a leaf, and a leaf is a pure function of its
//! key, its value and its path. Keeping only branches and extensions (built once with
//! [`build_trie`]) and re-encoding a leaf when it is asked for cuts the memory of a state
//! several-fold; both the inner-node map and the leaf rule give exactly the nodes [`build_trie`]
//! stores.

use std::{borrow::Cow, collections::BTreeMap, ops::Range};

use alloy_primitives::{B256, Bytes};
use alloy_trie::{TrieAccount, nodes::LeafNodeRef};
use nybbles::Nibbles;

use crate::trie::build_trie;

/// The root and the stored inner (branch and extension) nodes of a trie, keyed by path.
#[derive(Clone, Debug, Default)]
pub(super) struct LeanTrie {
    pub(super) root: B256,
    inner: BTreeMap<Nibbles, Bytes>,
}

/// A value stored in a trie leaf.
pub(super) trait LeafPayload {
    /// The leaf's payload as the trie stores it.
    fn payload(&self) -> Cow<'_, [u8]>;
}

impl LeafPayload for TrieAccount {
    fn payload(&self) -> Cow<'_, [u8]> {
        Cow::Owned(alloy_rlp::encode(self))
    }
}

impl LeafPayload for Bytes {
    fn payload(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl LeanTrie {
    /// Builds the trie of `leaves` and keeps its root and inner nodes.
    pub(super) fn build<T: LeafPayload>(leaves: &[(B256, T)]) -> Self {
        let payloads: Vec<(B256, Cow<'_, [u8]>)> =
            leaves.iter().map(|(key, value)| (*key, value.payload())).collect();
        let built = build_trie(&payloads);
        let mut inner = built.nodes;
        inner.retain(|path, _| prefix_range(leaves, path).len() > 1);
        Self { root: built.root, inner }
    }

    /// The stored node at `path`, inner or leaf, if there is one.
    pub(super) fn node<T: LeafPayload>(
        &self,
        leaves: &[(B256, T)],
        path: &Nibbles,
    ) -> Option<Bytes> {
        if let Some(node) = self.inner.get(path) {
            return Some(node.clone());
        }
        let range = prefix_range(leaves, path);
        if range.len() != 1 {
            return None;
        }
        // A single key under `path` makes a leaf there only if a branch splits at the parent
        // (or `path` is the root): otherwise the leaf starts higher up.
        if let Some(parent_len) = path.len().checked_sub(1) {
            let parent = prefix_range(leaves, &path.slice(..parent_len));
            let nibble =
                |index: usize| leaves.get(index).map(|(key, _)| nibble_at(key, parent_len));
            if nibble(parent.start) == nibble(parent.end.saturating_sub(1)) {
                return None;
            }
        }
        let (key, value) = leaves.get(range.start)?;
        let key = Nibbles::unpack(key);
        let payload = value.payload();
        let mut encoded = Vec::new();
        LeafNodeRef::new(&key.slice(path.len()..), &payload).rlp(&mut encoded);
        // Short leaves are embedded in their parent, never stored on their own.
        (path.is_empty() || encoded.len() >= 32).then(|| Bytes::from(encoded))
    }

    /// The Merkle proof of `key`: the stored nodes from the root towards `key`, root first.
    pub(super) fn prove<T: LeafPayload>(&self, leaves: &[(B256, T)], key: &B256) -> Vec<Bytes> {
        let path = Nibbles::unpack(key);
        let mut proof = Vec::new();
        for len in 0..=path.len() {
            let prefix = path.slice(..len);
            let under = prefix_range(leaves, &prefix).len();
            if under == 0 {
                break;
            }
            proof.extend(self.node(leaves, &prefix));
            if under == 1 {
                // The first prefix holding a single key is where its leaf sits; nothing is
                // stored below a leaf.
                break;
            }
        }
        proof
    }
}

/// The indices of the leaves whose key starts with `path`.
fn prefix_range<T>(leaves: &[(B256, T)], path: &Nibbles) -> Range<usize> {
    let mut low = [0u8; 32];
    let mut high = [0xffu8; 32];
    for (index, nibble) in path.iter().enumerate().take(64) {
        let byte = index / 2;
        if index.is_multiple_of(2) {
            low[byte] = nibble << 4;
            high[byte] = (nibble << 4) | 0x0f;
        } else {
            low[byte] |= nibble;
            high[byte] = (high[byte] & 0xf0) | nibble;
        }
    }
    let (low, high) = (B256::from(low), B256::from(high));
    let start = leaves.partition_point(|(key, _)| *key < low);
    let end = leaves.partition_point(|(key, _)| *key <= high);
    start..end.max(start)
}

/// Nibble `index` (0..64) of `key`.
fn nibble_at(key: &B256, index: usize) -> u8 {
    let byte = key.get(index / 2).copied().unwrap_or_default();
    if index.is_multiple_of(2) { byte >> 4 } else { byte & 0x0f }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves_strategy() -> impl Strategy<Value = Vec<(B256, Bytes)>> {
        // Short values make embedded leaves common; keys sharing long prefixes (few distinct
        // first bytes) make deep branches and extensions.
        let key = prop_oneof![
            any::<[u8; 32]>().prop_map(B256::from),
            (0u8..3, any::<[u8; 2]>()).prop_map(|(head, tail)| {
                let mut key = [head; 32];
                key[30..].copy_from_slice(&tail);
                B256::from(key)
            }),
        ];
        proptest::collection::btree_map(key, proptest::collection::vec(any::<u8>(), 1..40), 0..120)
            .prop_map(|map| map.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn serves_exactly_the_nodes_build_trie_stores(
            leaves in leaves_strategy(),
            probes in proptest::collection::vec(any::<[u8; 32]>().prop_map(B256::from), 4),
        ) {
            let oracle = build_trie(&leaves);
            let lean = LeanTrie::build(&leaves);
            prop_assert_eq!(lean.root, oracle.root);
            // Every stored node, and every path one nibble longer or shorter than a stored one
            // or on the way to a key or probe, must agree with the oracle (present or absent).
            let mut paths: Vec<Nibbles> = Vec::new();
            for path in oracle.nodes.keys() {
                paths.push(*path);
                paths.extend(path.len().checked_sub(1).map(|len| path.slice(..len)));
                for nibble in [0u8, 7, 15] {
                    if path.len() < 64 {
                        let mut longer = *path;
                        longer.push(nibble);
                        paths.push(longer);
                    }
                }
            }
            let keys = leaves.iter().map(|(key, _)| *key).chain(probes.iter().copied());
            for key in keys.clone() {
                let full = Nibbles::unpack(key);
                paths.extend((0..=64).map(|len| full.slice(..len)));
            }
            for path in &paths {
                prop_assert_eq!(lean.node(&leaves, path), oracle.nodes.get(path).cloned(), "at {:?}", path);
            }
            for key in keys {
                prop_assert_eq!(lean.prove(&leaves, &key), oracle.prove(&key));
            }
        }
    }
}
