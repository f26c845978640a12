//! The left edge alone: proving that a trie holds nothing at or after the origin.
//!
//! Used for an empty range with a proof. No leaves are rebuilt, so every node on the path is
//! authenticated by its hash (the root by the state root, the others by their parent), and
//! embedded nodes by the parent that contains them.

use alloy_primitives::B256;
use nybbles::Nibbles;

use super::{
    ProofError,
    index::ProofIndex,
    node::{ChildRef, KEY_NIBBLES, Node},
};

/// Walks the origin's path from `root` and fails with [`ProofError::MoreEntriesAvailable`] if
/// the trie holds any key at or after `origin`.
pub(super) fn prove_nothing_from(
    root: B256,
    origin: &Nibbles,
    proof: &ProofIndex<'_>,
) -> Result<(), ProofError> {
    let mut current = ChildRef::Hash(root);
    let mut path = Nibbles::new();
    loop {
        match proof.resolve(current)? {
            Node::Branch(children) => {
                let depth = path.len();
                if depth >= KEY_NIBBLES {
                    return Err(ProofError::InvalidPathLength { len: depth + 1 });
                }
                let nibble = origin.get_unchecked(depth);
                let index = usize::from(nibble);
                if children.iter().skip(index + 1).any(Option::is_some) {
                    return Err(ProofError::MoreEntriesAvailable);
                }
                match children.get(index).copied().flatten() {
                    None => return Ok(()),
                    Some(child) => {
                        current = child;
                        path.push_unchecked(nibble);
                    }
                }
            }
            Node::Extension { key, child } => {
                let end = path.len() + key.len();
                if end >= KEY_NIBBLES {
                    return Err(ProofError::InvalidPathLength { len: end + 1 });
                }
                path.extend(&key);
                match path.cmp(&origin.slice(..end)) {
                    std::cmp::Ordering::Less => return Ok(()),
                    std::cmp::Ordering::Greater => return Err(ProofError::MoreEntriesAvailable),
                    std::cmp::Ordering::Equal => current = child,
                }
            }
            Node::Leaf { key, .. } => {
                let end = path.len() + key.len();
                if end != KEY_NIBBLES {
                    return Err(ProofError::InvalidPathLength { len: end });
                }
                path.extend(&key);
                return if path < *origin { Ok(()) } else { Err(ProofError::MoreEntriesAvailable) };
            }
        }
    }
}
