//! What one fetched trie node says about the store: the hashed children to look for, the leaves
//! it holds (inline ones included), and everything under its path that must go because the node
//! does not have it.

use alloy_primitives::B256;
use nybbles::Nibbles;

use crate::trie::{
    ProofError, PrunedRange,
    proof::node::{ChildRef, KEY_NIBBLES, Node, decode_node},
    successor_prefix,
};

/// A node's content, seen from the store's side.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Expansion {
    /// Children referenced by hash: their paths and hashes.
    pub(crate) children: Vec<(Nibbles, B256)>,
    /// Leaves held in the node or in children embedded in it: full keys and payloads.
    pub(crate) leaves: Vec<(B256, Vec<u8>)>,
    /// Ranges under the node's path that the node does not reach.
    pub(crate) pruned: Vec<PrunedRange>,
    /// Paths of embedded children: no node may be stored there.
    pub(crate) embedded: Vec<Nibbles>,
}

/// Expands the node `encoded` found at `path` of `owner`'s trie.
pub(crate) fn expand(owner: B256, path: Nibbles, encoded: &[u8]) -> Result<Expansion, ProofError> {
    let mut expansion = Expansion::default();
    expand_into(owner, path, encoded, &mut expansion)?;
    Ok(expansion)
}

fn expand_into(
    owner: B256,
    path: Nibbles,
    encoded: &[u8],
    out: &mut Expansion,
) -> Result<(), ProofError> {
    match decode_node(encoded)? {
        Node::Branch(children) => {
            // A branch's children sit one nibble deeper: at 64 nibbles a key is complete, so a
            // branch there (which peer data can claim) is no node of a 32-byte-key trie. Checked
            // before the path grows: nibble paths hold at most 64.
            if path.len() >= KEY_NIBBLES {
                return Err(ProofError::InvalidPathLength { len: path.len() + 1 });
            }
            for (nibble, child) in (0u8..).zip(children) {
                let mut child_path = path;
                child_path.push(nibble);
                match child {
                    None => out.pruned.push(PrunedRange::subtree(owner, child_path)),
                    Some(child) => follow(owner, child_path, child, out)?,
                }
            }
        }
        Node::Extension { key, child } => {
            let child_path = join(&path, &key)?;
            prune_around(owner, &path, &child_path, out);
            follow(owner, child_path, child, out)?;
        }
        Node::Leaf { key, value } => {
            let full = join(&path, &key)?;
            if full.len() != KEY_NIBBLES {
                return Err(ProofError::InvalidPathLength { len: full.len() });
            }
            prune_around(owner, &path, &full, out);
            let mut bytes = [0u8; 32];
            full.pack_to(&mut bytes);
            out.leaves.push((B256::from(bytes), value.to_vec()));
        }
    }
    Ok(())
}

fn follow(
    owner: B256,
    path: Nibbles,
    child: ChildRef<'_>,
    out: &mut Expansion,
) -> Result<(), ProofError> {
    match child {
        ChildRef::Hash(hash) => out.children.push((path, hash)),
        ChildRef::Inline(encoded) => {
            out.embedded.push(path);
            expand_into(owner, path, encoded, out)?;
        }
    }
    Ok(())
}

/// Prunes everything strictly below `path` except the subtree at `keep` (which extends it).
fn prune_around(owner: B256, path: &Nibbles, keep: &Nibbles, out: &mut Expansion) {
    let below = PrunedRange::below(owner, *path);
    let before = PrunedRange { owner, from: below.from, to: Some(*keep) };
    if !before.is_empty() {
        out.pruned.push(before);
    }
    if let Some(after) = successor_prefix(keep) {
        let after = PrunedRange { owner, from: after, to: below.to };
        if !after.is_empty() {
            out.pruned.push(after);
        }
    }
}

fn join(path: &Nibbles, key: &Nibbles) -> Result<Nibbles, ProofError> {
    let len = path.len() + key.len();
    if len > KEY_NIBBLES {
        return Err(ProofError::InvalidPathLength { len });
    }
    let mut joined = *path;
    joined.extend(key);
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alloy_primitives::{Bytes, keccak256};
    use proptest::prelude::*;

    use super::*;
    use crate::trie::build_trie;

    fn leaves() -> impl Strategy<Value = Vec<(B256, Vec<u8>)>> {
        proptest::collection::btree_map(any::<[u8; 32]>(), 1usize..40, 1..60).prop_map(|map| {
            map.into_iter().map(|(key, len)| (B256::from(key), vec![0x42; len])).collect::<Vec<_>>()
        })
    }

    /// Leaves, pruned ranges and visited paths of a walk.
    type Walked = (Vec<(B256, Vec<u8>)>, Vec<PrunedRange>, Vec<Nibbles>);

    /// Walks a built trie from its root through `expand`, as healing does.
    fn walk(nodes: &BTreeMap<Nibbles, Bytes>, root: B256) -> Walked {
        let (mut leaves, mut pruned, mut visited) = (Vec::new(), Vec::new(), Vec::new());
        let mut stack = vec![(Nibbles::new(), root)];
        while let Some((path, hash)) = stack.pop() {
            let node = nodes.get(&path).expect("every hashed child is stored");
            assert_eq!(keccak256(node), hash);
            visited.push(path);
            let expansion = expand(B256::ZERO, path, node).unwrap();
            leaves.extend(expansion.leaves);
            pruned.extend(expansion.pruned);
            for embedded in expansion.embedded {
                assert!(!nodes.contains_key(&embedded), "embedded nodes are not stored");
            }
            stack.extend(expansion.children);
        }
        (leaves, pruned, visited)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// From the root, expansion reaches exactly the stored nodes and the leaves, and the
        /// pruned ranges hold no stored node and no leaf, yet cover every other key probed.
        #[test]
        fn expansion_walks_the_whole_trie(leaves in leaves(), probes in proptest::collection::vec(any::<[u8; 32]>(), 32)) {
            let built = build_trie(&leaves);
            let (mut found, pruned, mut visited) = walk(&built.nodes, built.root);
            found.sort();
            prop_assert_eq!(&found, &leaves);
            visited.sort();
            prop_assert_eq!(visited, built.nodes.keys().copied().collect::<Vec<_>>());
            for range in &pruned {
                for path in built.nodes.keys() {
                    prop_assert!(!range.contains(path), "{range:?} prunes stored node {path:?}");
                }
                for (key, _) in &leaves {
                    prop_assert!(!range.contains_key(key), "{range:?} prunes leaf {key}");
                }
            }
            for probe in probes {
                let probe = B256::from(probe);
                let is_leaf = leaves.binary_search_by(|(key, _)| key.cmp(&probe)).is_ok();
                let pruned_it = pruned.iter().any(|range| range.contains_key(&probe));
                prop_assert_eq!(pruned_it, !is_leaf, "probe {}", probe);
            }
        }
    }

    #[test]
    fn a_single_leaf_root_prunes_everything_but_its_key() {
        let key = B256::repeat_byte(0x5a);
        let built = build_trie(&[(key, vec![1u8; 40])]);
        let (found, pruned, _) = walk(&built.nodes, built.root);
        assert_eq!(found, vec![(key, vec![1u8; 40])]);
        assert!(pruned.iter().any(|range| range.contains_key(&B256::ZERO)));
        assert!(pruned.iter().any(|range| range.contains_key(&B256::repeat_byte(0xff))));
        assert!(!pruned.iter().any(|range| range.contains_key(&key)));
        // A stale interior node on the way to the key goes too.
        let stale = Nibbles::unpack(key).slice(..3);
        assert!(pruned.iter().any(|range| range.contains(&stale)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(expand(B256::ZERO, Nibbles::new(), &[0xc0]).is_err());
        assert!(expand(B256::ZERO, Nibbles::from_nibbles([1; 63]), &[0xc2, 0x20, 0x01]).is_err());
    }

    #[test]
    fn a_branch_at_full_key_depth_is_rejected_before_its_path_grows() {
        // A branch with two inline leaves, as a peer could send for a path of 64 nibbles: its
        // children would sit at 65, past what a nibble path holds.
        let leaf = alloy_rlp::encode(alloy_trie::nodes::LeafNode::new(Nibbles::new(), vec![0x01]));
        let mut stack = vec![leaf.clone(), leaf];
        stack.extend(std::iter::repeat_n(vec![alloy_rlp::EMPTY_STRING_CODE], 15));
        let mut body = Vec::new();
        for item in &stack[..17] {
            body.extend_from_slice(item);
        }
        let mut branch = Vec::new();
        alloy_rlp::Header { list: true, payload_length: body.len() }.encode(&mut branch);
        branch.extend_from_slice(&body);
        let full = Nibbles::unpack(B256::repeat_byte(0x11));
        assert_eq!(
            expand(B256::ZERO, full, &branch),
            Err(ProofError::InvalidPathLength { len: 65 })
        );
        // One nibble up it is a valid branch of two leaves that end at 64 nibbles.
        let expansion = expand(B256::ZERO, full.slice(..63), &branch).expect("valid");
        assert_eq!(expansion.leaves.len(), 2);
        // Nothing lies strictly below a complete key: the range is empty, not an overflow.
        assert!(PrunedRange::below(B256::ZERO, full).is_empty());
    }
}
