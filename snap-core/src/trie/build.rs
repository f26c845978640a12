//! Building every stored node of a complete trie from its sorted leaves.
//!
//! This is the non-streaming, whole-trie builder: the in-memory state behind the server and the
//! simulator use it to hold a trie as path-keyed nodes, and tests use it as an oracle for the
//! streaming, chunked generator. Keys are 32-byte hashes (a secure trie), so no value ever sits
//! in a branch node.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{
    EMPTY_ROOT_HASH, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};
use nybbles::Nibbles;

/// The nodes of a complete trie, keyed by their path from the root.
///
/// Only nodes that a path-keyed database stores are present: the root, and every node whose
/// RLP encoding is at least 32 bytes long (shorter nodes are embedded in their parent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuiltTrie {
    /// The root hash of the trie (`EMPTY_ROOT_HASH` for no leaves).
    pub root: B256,
    /// RLP-encoded nodes keyed by their nibble path from the root.
    pub nodes: BTreeMap<Nibbles, Bytes>,
}

impl BuiltTrie {
    /// The Merkle proof for `key`: every stored node on the path from the root towards `key`,
    /// root first. For a key that is absent it proves the absence (the path ends where the trie
    /// diverges from the key). Empty for an empty trie.
    ///
    /// A stored node whose path is a prefix of the key is necessarily on the key's lookup path,
    /// and embedded nodes travel inside their stored ancestor, so this is exactly the node set
    /// a hash-keyed proof needs.
    pub fn prove(&self, key: &B256) -> Vec<Bytes> {
        let path = Nibbles::unpack(key);
        (0..=path.len()).filter_map(|len| self.nodes.get(&path.slice(..len)).cloned()).collect()
    }
}

/// The hash of a node given its reference as its parent holds it: the hash itself for a
/// hashed reference, keccak of the encoding for an embedded one (as a trie's root is hashed).
pub(crate) fn node_hash(node: &RlpNode) -> B256 {
    node.as_hash().unwrap_or_else(|| keccak256(node.as_slice()))
}

/// Builds the root and all stored nodes of the trie holding `leaves`.
///
/// `leaves` are `(key, value)` pairs where `value` is the leaf's payload exactly as stored in the
/// trie (an RLP-encoded account or slot value).
///
/// # Panics
///
/// If the keys are not strictly increasing. This builder is for local, trusted data; data from
/// peers goes through the range-proof verifier first.
pub fn build_trie<V: AsRef<[u8]>>(leaves: &[(B256, V)]) -> BuiltTrie {
    assert!(
        leaves.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "build_trie: leaf keys must be strictly increasing"
    );
    let mut built = BuiltTrie { root: EMPTY_ROOT_HASH, nodes: BTreeMap::new() };
    if leaves.is_empty() {
        return built;
    }
    let keys: Vec<Nibbles> = leaves.iter().map(|(key, _)| Nibbles::unpack(key)).collect();
    let values: Vec<&[u8]> = leaves.iter().map(|(_, value)| value.as_ref()).collect();
    let mut builder = Builder { keys: &keys, values: &values, nodes: &mut built.nodes };
    let root = builder.node(0, leaves.len(), Nibbles::new());
    built.root = node_hash(&root);
    built
}

struct Builder<'a> {
    keys: &'a [Nibbles],
    values: &'a [&'a [u8]],
    nodes: &'a mut BTreeMap<Nibbles, Bytes>,
}

impl Builder<'_> {
    /// Builds the node at `path` covering leaves `start..end`, all of which share `path` as a
    /// prefix, and returns its reference as seen by its parent.
    fn node(&mut self, start: usize, end: usize, path: Nibbles) -> RlpNode {
        let depth = path.len();
        let mut buf = Vec::new();
        if end - start == 1 {
            let rest = self.keys[start].slice(depth..);
            let rlp = LeafNodeRef::new(&rest, self.values[start]).rlp(&mut buf);
            return self.store(path, buf, rlp);
        }
        let first = &self.keys[start];
        let last = &self.keys[end - 1];
        let shared = first.slice(depth..).common_prefix_length(&last.slice(depth..));
        if shared > 0 {
            let prefix = first.slice(depth..depth + shared);
            let mut child_path = path;
            child_path.extend(&prefix);
            let child = self.branch(start, end, child_path);
            let rlp = ExtensionNodeRef::new(&prefix, child.as_slice()).rlp(&mut buf);
            return self.store(path, buf, rlp);
        }
        self.branch(start, end, path)
    }

    /// Builds the branch node at `path`; its leaves diverge at nibble `path.len()`.
    fn branch(&mut self, start: usize, end: usize, path: Nibbles) -> RlpNode {
        let depth = path.len();
        let mut stack = Vec::with_capacity(16);
        let mut mask = TrieMask::default();
        let mut group_start = start;
        while group_start < end {
            let nibble = self.keys[group_start].get_unchecked(depth);
            let group_end = group_start
                + self.keys[group_start..end]
                    .partition_point(|key| key.get_unchecked(depth) == nibble);
            let mut child_path = path;
            child_path.push_unchecked(nibble);
            stack.push(self.node(group_start, group_end, child_path));
            mask.set_bit(nibble);
            group_start = group_end;
        }
        let mut buf = Vec::new();
        let rlp = BranchNodeRef::new(&stack, mask).rlp(&mut buf);
        self.store(path, buf, rlp)
    }

    fn store(&mut self, path: Nibbles, encoded: Vec<u8>, rlp: RlpNode) -> RlpNode {
        if path.is_empty() || encoded.len() >= 32 {
            self.nodes.insert(path, Bytes::from(encoded));
        }
        rlp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::HashBuilder;
    use proptest::prelude::*;

    fn hash_builder_root(leaves: &[(B256, Vec<u8>)]) -> B256 {
        let mut hb = HashBuilder::default();
        for (key, value) in leaves {
            hb.add_leaf(Nibbles::unpack(key), value);
        }
        hb.root()
    }

    fn leaves_strategy() -> impl Strategy<Value = Vec<(B256, Vec<u8>)>> {
        // Short values make embedded (< 32 byte) nodes common; long ones make every node hashed.
        proptest::collection::btree_map(
            any::<[u8; 32]>().prop_map(B256::from),
            proptest::collection::vec(any::<u8>(), 1..40),
            0..200,
        )
        .prop_map(|map| map.into_iter().collect())
    }

    proptest! {
        #[test]
        fn root_matches_hash_builder(leaves in leaves_strategy()) {
            let built = build_trie(&leaves);
            prop_assert_eq!(built.root, hash_builder_root(&leaves));
        }

        #[test]
        fn every_stored_node_is_referenced_by_its_parent(leaves in leaves_strategy()) {
            let built = build_trie(&leaves);
            for (path, node) in &built.nodes {
                if path.is_empty() {
                    prop_assert_eq!(keccak256(node), built.root);
                    continue;
                }
                prop_assert!(node.len() >= 32, "embedded node stored at {path:?}");
                // Walk up to the closest stored ancestor and check it references this node's hash.
                let hash = keccak256(node);
                let ancestor = (0..path.len())
                    .rev()
                    .find_map(|len| built.nodes.get(&path.slice(..len)))
                    .expect("root is stored");
                prop_assert!(
                    ancestor.windows(32).any(|w| w == hash.as_slice()),
                    "ancestor of {path:?} does not reference it"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn proofs_verify_with_alloy_single_key_verifier(
            leaves in leaves_strategy(), probe in any::<[u8; 32]>().prop_map(B256::from),
        ) {
            let built = build_trie(&leaves);
            // Every present key proves its value; a random key proves its absence.
            for (key, value) in leaves.iter().take(8) {
                let proof = built.prove(key);
                alloy_trie::proof::verify_proof(built.root, Nibbles::unpack(key), Some(value.clone()), &proof)
                    .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            }
            if leaves.iter().all(|(key, _)| *key != probe) && !leaves.is_empty() {
                let proof = built.prove(&probe);
                alloy_trie::proof::verify_proof(built.root, Nibbles::unpack(probe), None, &proof)
                    .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            }
        }
    }

    #[test]
    fn single_leaf_root_is_the_leaf() {
        let leaves = [(B256::repeat_byte(0x11), vec![0x01])];
        let built = build_trie(&leaves);
        assert_eq!(built.nodes.len(), 1);
        assert_eq!(built.root, hash_builder_root(&[(leaves[0].0, leaves[0].1.clone())]));
    }

    #[test]
    fn empty_trie_has_empty_root_and_no_nodes() {
        let built = build_trie::<Vec<u8>>(&[]);
        assert_eq!(built.root, EMPTY_ROOT_HASH);
        assert!(built.nodes.is_empty());
    }
}
