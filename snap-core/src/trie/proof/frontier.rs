//! Rebuilding the root from the range's leaves and the subtrees the proof shows beside it.
//!
//! The two edge paths (origin and last key) are walked depth-first, in key order, through the
//! proof. Every subtree hanging off them is classified by its path:
//!
//! - strictly left of the origin, or strictly right of the last key: kept as is, a hashed
//!   subtree as `HashBuilder::add_branch(path, hash)`, an embedded one decoded down to leaves;
//! - on one of the edge paths: expanded;
//! - in between: dropped, as the range's leaves replace it.
//!
//! The range's leaves are fed in between the left and the right side, so the `HashBuilder`
//! sees one sorted, prefix-free sequence; its root must equal the expected root. That
//! comparison authenticates everything: which leaves the range holds, and (from the right side)
//! whether more exist after it.

use alloy_primitives::{B256, keccak256};
use alloy_trie::{
    HashBuilder,
    nodes::{ExtensionNodeRef, RlpNode},
};
use nybbles::Nibbles;

use super::{
    ProofError,
    index::ProofIndex,
    node::{ChildRef, KEY_NIBBLES, Node},
};

/// Where a subtree sits relative to the verified range `[origin, last]`.
enum Side {
    /// Every key below it is less than the origin.
    Left,
    /// Its path is a prefix of the origin or of the last key.
    OnEdge,
    /// Every key below it lies within the range.
    Inside,
    /// Every key below it is greater than the last key.
    Right,
}

/// The frontier walk over one verification.
pub(super) struct Frontier<'p, 'r, V> {
    proof: &'r ProofIndex<'p>,
    origin: Nibbles,
    last: Nibbles,
    keys: &'r [B256],
    values: &'r [V],
    builder: HashBuilder,
    /// The last path handed to the builder; guards its ordering asserts.
    previous: Option<Nibbles>,
    range_added: bool,
    has_more: bool,
}

impl<'p, 'r, V: AsRef<[u8]>> Frontier<'p, 'r, V> {
    /// Prepares a walk for the non-empty, validated range `keys`/`values` starting at `origin`.
    pub(super) fn new(
        proof: &'r ProofIndex<'p>,
        origin: &B256,
        keys: &'r [B256],
        values: &'r [V],
    ) -> Result<Self, ProofError> {
        let last = keys.last().ok_or(ProofError::MalformedNode("empty range"))?;
        Ok(Self {
            proof,
            origin: Nibbles::unpack_array(origin.as_ref()),
            last: Nibbles::unpack_array(last.as_ref()),
            keys,
            values,
            builder: HashBuilder::default(),
            previous: None,
            range_added: false,
            has_more: false,
        })
    }

    /// Walks from `root`. Returns the hash the rebuilt part of the trie has, the hash it must
    /// have, and whether keys exist after the range.
    ///
    /// The part of the edge paths both edges share is not rebuilt: its nodes come from the
    /// proof index, which authenticated them by their hashes, so their siblings are known to be
    /// outside the range. Only the subtree of the deepest shared branch is rebuilt, and must
    /// hash to the reference its authenticated parent holds. This saves re-hashing the large
    /// branches near the root.
    pub(super) fn run(mut self, root: B256) -> Result<(B256, B256, bool), ProofError> {
        let (fork, fork_path, fork_hash) = self.shared_descent(root)?;
        self.visit(fork, fork_path)?;
        self.add_range()?;
        let got = self.builder.root();
        let expected = if fork_path.is_empty() {
            fork_hash
        } else {
            // With every key below `fork_path`, the builder's root is an extension over the
            // whole shared path pointing at the branch's hash.
            let mut buf = Vec::with_capacity(72);
            let child = RlpNode::word_rlp(&fork_hash);
            let node = ExtensionNodeRef::new(&fork_path, &child).rlp(&mut buf);
            node.as_hash().unwrap_or_else(|| keccak256(&buf))
        };
        Ok((got, expected, self.has_more))
    }

    /// Follows the path both edges share while it runs through hashed nodes, noting siblings
    /// to its right. Returns the deepest hashed branch on it (or the root): its reference, path
    /// and hash.
    fn shared_descent(&mut self, root: B256) -> Result<(ChildRef<'p>, Nibbles, B256), ProofError> {
        let mut fork = (ChildRef::Hash(root), Nibbles::new(), root);
        let mut current = ChildRef::Hash(root);
        let mut path = Nibbles::new();
        while let ChildRef::Hash(hash) = current {
            match self.proof.resolve(current)? {
                Node::Branch(children) => {
                    fork = (current, path, hash);
                    let depth = path.len();
                    if depth >= KEY_NIBBLES {
                        break;
                    }
                    let nibble = self.origin.get_unchecked(depth);
                    if nibble != self.last.get_unchecked(depth) {
                        break;
                    }
                    let index = usize::from(nibble);
                    if children.iter().skip(index + 1).any(Option::is_some) {
                        self.has_more = true;
                    }
                    let Some(child) = children.get(index).copied().flatten() else { break };
                    current = child;
                    path.push_unchecked(nibble);
                }
                Node::Extension { key, child } => {
                    if path.len() + key.len() >= KEY_NIBBLES {
                        break;
                    }
                    let child_path = path.join(&key);
                    if !self.origin.starts_with(&child_path) || !self.last.starts_with(&child_path)
                    {
                        break;
                    }
                    current = child;
                    path = child_path;
                }
                Node::Leaf { .. } => break,
            }
        }
        Ok(fork)
    }

    fn side(&self, path: &Nibbles) -> Side {
        if self.origin.starts_with(path) || self.last.starts_with(path) {
            Side::OnEdge
        } else if *path < self.origin {
            Side::Left
        } else if *path > self.last {
            Side::Right
        } else {
            Side::Inside
        }
    }

    /// Handles the subtree `child` at `path`.
    fn visit(&mut self, child: ChildRef<'p>, path: Nibbles) -> Result<(), ProofError> {
        match self.side(&path) {
            Side::Inside => Ok(()),
            Side::Left => self.add_subtree(child, path),
            Side::Right => {
                self.add_range()?;
                self.has_more = true;
                self.add_subtree(child, path)
            }
            Side::OnEdge => match self.proof.resolve(child)? {
                Node::Branch(children) => {
                    if path.len() >= KEY_NIBBLES {
                        return Err(ProofError::InvalidPathLength { len: path.len() + 1 });
                    }
                    for (nibble, child) in (0u8..).zip(children) {
                        if let Some(child) = child {
                            let mut child_path = path;
                            child_path.push_unchecked(nibble);
                            self.visit(child, child_path)?;
                        }
                    }
                    Ok(())
                }
                Node::Extension { key, child } => {
                    let child_path = extension_child_path(&path, &key)?;
                    self.visit(child, child_path)
                }
                Node::Leaf { key, value } => {
                    let full = leaf_path(&path, &key)?;
                    if full < self.origin {
                        self.add_leaf(full, value)
                    } else if full > self.last {
                        self.add_range()?;
                        self.has_more = true;
                        self.add_leaf(full, value)
                    } else {
                        Ok(())
                    }
                }
            },
        }
    }

    /// Adds a subtree lying entirely outside the range, as it is.
    fn add_subtree(&mut self, child: ChildRef<'p>, path: Nibbles) -> Result<(), ProofError> {
        match child {
            ChildRef::Hash(hash) => {
                self.check_order(&path)?;
                self.builder.add_branch(path, hash, false);
                Ok(())
            }
            // Embedded nodes have no hash to stand for them: add their leaves.
            ChildRef::Inline(_) => match self.proof.resolve(child)? {
                Node::Branch(children) => {
                    if path.len() >= KEY_NIBBLES {
                        return Err(ProofError::InvalidPathLength { len: path.len() + 1 });
                    }
                    for (nibble, child) in (0u8..).zip(children) {
                        if let Some(child) = child {
                            let mut child_path = path;
                            child_path.push_unchecked(nibble);
                            self.add_subtree(child, child_path)?;
                        }
                    }
                    Ok(())
                }
                Node::Extension { key, child } => {
                    let child_path = extension_child_path(&path, &key)?;
                    self.add_subtree(child, child_path)
                }
                Node::Leaf { key, value } => {
                    let full = leaf_path(&path, &key)?;
                    self.add_leaf(full, value)
                }
            },
        }
    }

    fn add_leaf(&mut self, path: Nibbles, value: &[u8]) -> Result<(), ProofError> {
        self.check_order(&path)?;
        self.builder.add_leaf_unchecked(path, value);
        Ok(())
    }

    /// Adds the range's own leaves, once, between the left and the right side.
    fn add_range(&mut self) -> Result<(), ProofError> {
        if self.range_added {
            return Ok(());
        }
        self.range_added = true;
        // The keys are strictly increasing (checked by the caller), so only the first one
        // needs checking against what the left side added.
        let Some(first) = self.keys.first() else { return Ok(()) };
        self.check_order(&Nibbles::unpack_array(first.as_ref()))?;
        for (key, value) in self.keys.iter().zip(self.values) {
            self.builder.add_leaf_unchecked(Nibbles::unpack_array(key.as_ref()), value.as_ref());
        }
        self.previous = Some(self.last);
        Ok(())
    }

    /// The builder needs strictly increasing, prefix-free paths (it asserts both). The walk
    /// produces them for any well-formed trie; a hostile proof gets an error here instead.
    fn check_order(&mut self, path: &Nibbles) -> Result<(), ProofError> {
        if let Some(previous) = &self.previous
            && (*path <= *previous || path.starts_with(previous))
        {
            return Err(ProofError::InconsistentProof);
        }
        self.previous = Some(*path);
        Ok(())
    }
}

/// The path of an extension's child, if it leaves room for the branch it must lead to.
fn extension_child_path(path: &Nibbles, key: &Nibbles) -> Result<Nibbles, ProofError> {
    let len = path.len() + key.len();
    if len >= KEY_NIBBLES {
        return Err(ProofError::InvalidPathLength { len: len + 1 });
    }
    Ok(path.join(key))
}

/// The full key of a leaf, which must be exactly 64 nibbles long.
fn leaf_path(path: &Nibbles, key: &Nibbles) -> Result<Nibbles, ProofError> {
    let len = path.len() + key.len();
    if len != KEY_NIBBLES {
        return Err(ProofError::InvalidPathLength { len });
    }
    Ok(path.join(key))
}
