//! The proof as a set: nodes indexed by their keccak hash.

use alloy_primitives::{B256, Bytes, keccak256};

use super::{
    ProofError,
    node::{ChildRef, Node, decode_node},
};

/// Proof nodes keyed by hash. Order and duplicates in the input do not matter.
#[derive(Debug)]
pub(super) struct ProofIndex<'a> {
    by_hash: Vec<(B256, &'a [u8])>,
}

impl<'a> ProofIndex<'a> {
    /// Hashes every node of `proof` and indexes it.
    pub(super) fn new(proof: &'a [Bytes]) -> Self {
        let mut by_hash: Vec<(B256, &'a [u8])> =
            proof.iter().map(|node| (keccak256(node), node.as_ref())).collect();
        by_hash.sort_unstable_by_key(|(hash, _)| *hash);
        Self { by_hash }
    }

    /// The encoding of the node with `hash`.
    pub(super) fn get(&self, hash: &B256) -> Result<&'a [u8], ProofError> {
        self.by_hash
            .binary_search_by(|(key, _)| key.cmp(hash))
            .map(|at| self.by_hash[at].1)
            .map_err(|_| ProofError::MissingNode { hash: *hash })
    }

    /// Decodes the node `child` refers to: from the proof if hashed, in place if embedded.
    pub(super) fn resolve<'c>(&self, child: ChildRef<'c>) -> Result<Node<'c>, ProofError>
    where
        'a: 'c,
    {
        match child {
            ChildRef::Hash(hash) => decode_node(self.get(&hash)?),
            ChildRef::Inline(encoded) => decode_node(encoded),
        }
    }
}
