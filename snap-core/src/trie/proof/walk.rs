//! Checking a range against the two edge paths of a proof, hashing every node only once.
//!
//! The walk descends from the root along the origin's path and the last key's path, in key
//! order, resolving nodes from the proof index (which authenticates each one as the preimage of
//! its parent's reference). Every child hanging off those paths is classified by its path:
//!
//! - strictly left of the origin: skipped (its keys are all before the range);
//! - strictly right of the last key: it proves that more keys exist after the range;
//! - on one of the edge paths: walked into;
//! - in between (inside the range): the next range leaves with that prefix must rebuild it
//!   exactly: their subtree, built by the streaming builder over the keys below the child's
//!   path, must have the child reference the authenticated parent holds.
//!
//! A leaf met on an edge path and lying within the range must be the next range leaf. Every
//! range leaf must be used up by the end. So the range is exactly the trie's leaves from the
//! origin to the last key, and only the range's own subtrees are hashed (the edge nodes are
//! hashed once, by the index, and never rebuilt).
//!
//! The rebuilt nodes and the edge nodes go to a [`RangeSink`], in post-order: the walk hands
//! an edge node over after everything below it.

use alloy_primitives::{B256, keccak256};
use nybbles::Nibbles;

use super::{
    ProofError,
    index::ProofIndex,
    node::{ChildRef, KEY_NIBBLES, Node, decode_node},
};
use crate::trie::{stack::StackBuilder, verified::RangeSink};

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

/// One range check.
pub(super) struct RangeWalk<'p, 'r, V, S> {
    proof: &'r ProofIndex<'p>,
    origin: Nibbles,
    last: Nibbles,
    keys: &'r [B256],
    values: &'r [V],
    /// Index of the first range leaf not yet matched against the trie.
    next: usize,
    has_more: bool,
    builder: StackBuilder,
    sink: &'r mut S,
}

impl<'p, 'r, V: AsRef<[u8]>, S: RangeSink> RangeWalk<'p, 'r, V, S> {
    /// Prepares a check of the validated range `keys`/`values` from `origin` to `last` (the
    /// last key), handing the nodes it meets to `sink`.
    pub(super) fn new(
        proof: &'r ProofIndex<'p>,
        origin: &B256,
        last: &B256,
        keys: &'r [B256],
        values: &'r [V],
        sink: &'r mut S,
    ) -> Self {
        Self {
            proof,
            origin: Nibbles::unpack_array(origin.as_ref()),
            last: Nibbles::unpack_array(last.as_ref()),
            keys,
            values,
            next: 0,
            has_more: false,
            builder: StackBuilder::default(),
            sink,
        }
    }

    /// Checks the range against the trie with root `root`; returns whether keys exist after it.
    pub(super) fn run(mut self, root: B256) -> Result<bool, ProofError> {
        self.visit(ChildRef::Hash(root), Nibbles::new(), false)?;
        if self.next != self.keys.len() {
            return Err(ProofError::RangeMismatch);
        }
        Ok(self.has_more)
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

    /// Handles the child `child` at `path`. `of_extension` tells that its parent is an
    /// extension, so that it must be a branch.
    fn child(
        &mut self,
        child: ChildRef<'p>,
        path: Nibbles,
        of_extension: bool,
    ) -> Result<(), ProofError> {
        match self.side(&path) {
            Side::Left => Ok(()),
            Side::Right => {
                self.has_more = true;
                Ok(())
            }
            Side::OnEdge => self.visit(child, path, of_extension),
            Side::Inside => self.rebuild(child, &path, of_extension),
        }
    }

    /// Walks into the node `child` at `path`, a prefix of an edge path.
    fn visit(
        &mut self,
        child: ChildRef<'p>,
        path: Nibbles,
        of_extension: bool,
    ) -> Result<(), ProofError> {
        let (node, hashed) = match child {
            ChildRef::Hash(hash) => {
                let encoded = self.proof.get(&hash)?;
                (decode_node(encoded)?, Some((hash, encoded)))
            }
            ChildRef::Inline(encoded) => (decode_node(encoded)?, None),
        };
        if of_extension && !matches!(node, Node::Branch(_)) {
            return Err(ProofError::MalformedNode("extension child is not a branch"));
        }
        self.visit_node(node, &path)?;
        if let Some((hash, encoded)) = hashed {
            self.sink.proof_node(&path, hash, encoded);
        }
        Ok(())
    }

    /// Walks the children of the authenticated node `node` at `path`.
    fn visit_node(&mut self, node: Node<'p>, path: &Nibbles) -> Result<(), ProofError> {
        let path = *path;
        match node {
            Node::Branch(children) => {
                if path.len() >= KEY_NIBBLES {
                    return Err(ProofError::InvalidPathLength { len: path.len() + 1 });
                }
                // The sides of the children follow from the edge nibbles at this depth (the
                // same classification as `side`, without comparing whole paths).
                let depth = path.len();
                let on_origin = self.origin.starts_with(&path);
                let on_last = self.last.starts_with(&path);
                let origin_nibble = self.origin.get_unchecked(depth);
                let last_nibble = self.last.get_unchecked(depth);
                for (nibble, child) in (0u8..).zip(children) {
                    let Some(child) = child else { continue };
                    let mut child_path = path;
                    child_path.push_unchecked(nibble);
                    if (on_origin && nibble == origin_nibble) || (on_last && nibble == last_nibble)
                    {
                        self.visit(child, child_path, false)?;
                    } else if on_origin && nibble < origin_nibble {
                        // Left of the origin.
                    } else if on_last && nibble > last_nibble {
                        self.has_more = true;
                    } else {
                        self.rebuild(child, &child_path, false)?;
                    }
                }
                Ok(())
            }
            Node::Extension { key, child } => {
                let len = path.len() + key.len();
                if len >= KEY_NIBBLES {
                    return Err(ProofError::InvalidPathLength { len: len + 1 });
                }
                self.child(child, path.join(&key), true)
            }
            Node::Leaf { key, value } => {
                let len = path.len() + key.len();
                if len != KEY_NIBBLES {
                    return Err(ProofError::InvalidPathLength { len });
                }
                let full = path.join(&key);
                if full < self.origin {
                    Ok(())
                } else if full > self.last {
                    self.has_more = true;
                    Ok(())
                } else {
                    // A leaf within the range: it must be the next range leaf.
                    let at = self.next;
                    match (self.keys.get(at), self.values.get(at)) {
                        (Some(k), Some(v))
                            if Nibbles::unpack_array(k.as_ref()) == full && v.as_ref() == value =>
                        {
                            self.next += 1;
                            Ok(())
                        }
                        _ => Err(ProofError::RangeMismatch),
                    }
                }
            }
        }
    }

    /// The subtree `child` at `path` lies within the range: the next range leaves under `path`
    /// must be exactly its leaves. Below an extension it must be a branch: leaves diverging
    /// right at `path`.
    fn rebuild(
        &mut self,
        child: ChildRef<'p>,
        path: &Nibbles,
        of_extension: bool,
    ) -> Result<(), ProofError> {
        let depth = path.len();
        let start = self.next;
        self.builder.start(depth);
        let mut end = start;
        let mut nibbles_at_depth = (0, 0);
        while let Some(key) = self.keys.get(end) {
            let key = Nibbles::unpack_array(key.as_ref());
            if !key.starts_with(path) {
                break;
            }
            if of_extension {
                // Below an extension, `depth` is less than the key length.
                let nibble = key.get_unchecked(depth);
                if end == start {
                    nibbles_at_depth.0 = nibble;
                }
                nibbles_at_depth.1 = nibble;
            }
            self.builder.push(key, self.values[end].as_ref(), self.sink);
            end += 1;
        }
        self.next = end;
        let Some(got) = self.builder.finish(self.sink) else {
            // The trie has leaves here that the range lacks.
            return Err(ProofError::RangeMismatch);
        };
        if of_extension && (end - start < 2 || nibbles_at_depth.0 == nibbles_at_depth.1) {
            return Err(ProofError::RangeMismatch);
        }
        let matches = match child {
            ChildRef::Hash(expected) => got.as_hash() == Some(expected),
            ChildRef::Inline(expected) => got.as_hash().is_none() && expected == &got[..],
        };
        if matches {
            return Ok(());
        }
        let got = crate::trie::node_hash(&got);
        let expected = match child {
            ChildRef::Hash(hash) => hash,
            ChildRef::Inline(encoded) => keccak256(encoded),
        };
        if got == expected { Ok(()) } else { Err(ProofError::RootMismatch { got, expected }) }
    }
}
