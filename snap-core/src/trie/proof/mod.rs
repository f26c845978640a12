//! Merkle range-proof verification for snap account and storage ranges.
//!
//! A snap response carries a contiguous run of leaves (sorted keys and their values) and a
//! proof: the union, in any order, of the trie nodes on the path to the requested origin and
//! on the path to the last returned key. [`verify_range`] accepts the leaves only if they are
//! exactly the leaves the trie holds between the origin and the last key, and tells whether the
//! trie holds more leaves after them. Its semantics follow go-ethereum's `VerifyRangeProof`.
//!
//! How: the proof nodes are indexed by hash, which authenticates every node reached from the
//! root. The walk follows the two edge paths; subtrees left of the origin are skipped, subtrees
//! right of the last key mean "more", and each subtree in between is rebuilt from the range's
//! leaves with `alloy_trie::HashBuilder` and compared with its reference (see `walk`). Every
//! proof node and every range leaf is hashed once; nothing above the range's subtrees is
//! rebuilt. With no proof, the whole trie is rebuilt in one pass.
//!
//! [`verify_range_nodes`] verifies the same way and keeps the nodes it rebuilt and the proof's
//! edge nodes ([`VerifiedNodes`]), so that the trie generator writes them without computing
//! them again: each node the client writes is then hashed once.

mod edge;
mod error;
mod index;
pub(crate) mod node;
#[cfg(test)]
mod tests;
mod walk;

use alloy_primitives::{B256, Bytes};
use alloy_trie::EMPTY_ROOT_HASH;
use nybbles::Nibbles;

pub use self::error::ProofError;
use self::{index::ProofIndex, walk::RangeWalk};
use super::{
    stack::StackBuilder,
    verified::{Hasher, RangeSink, Recorder, VerifiedNodes},
};

/// Verifies that `keys`/`values` are exactly the leaves of the trie with root `root` from
/// `origin` up to and including the last key, and returns whether the trie holds more leaves
/// after the last key (in the whole trie, whatever limit the request had).
///
/// - `keys` must be strictly increasing, none before `origin`; no value may be empty.
/// - `proof` is a set of trie nodes in any order (duplicates and extra nodes are harmless)
///   covering the path to `origin` and the path to the last key. An empty `proof` means "no
///   proof": the leaves must then be the whole trie, and the result is `false`.
/// - With a proof and no keys, the proof must show that nothing exists at or after `origin`.
///
/// Values are leaf payloads as stored: the full RLP of an account (slim accounts expanded
/// first), or the RLP of a storage slot. Storage ranges use the account's storage root.
pub fn verify_range<V: AsRef<[u8]>>(
    root: B256,
    origin: B256,
    keys: &[B256],
    values: &[V],
    proof: &[Bytes],
) -> Result<bool, ProofError> {
    verify_with(root, origin, keys, values, proof, &mut Hasher::default())
}

/// Verifies like [`verify_range`] and, on success, also returns the trie nodes the verification
/// computed or authenticated: the stored nodes of the subtrees within the range and the proof's
/// nodes along its edges. Hand them to
/// [`TrieGenerator::use_verified`](crate::trie::TrieGenerator::use_verified) before pushing
/// the range's leaves, and the generator writes them instead of computing them again.
pub fn verify_range_nodes<V: AsRef<[u8]>>(
    root: B256,
    origin: B256,
    keys: &[B256],
    values: &[V],
    proof: &[Bytes],
) -> Result<(bool, VerifiedNodes), ProofError> {
    let value_bytes = values.iter().map(|value| value.as_ref().len()).sum();
    let proof_bytes = proof.iter().map(|node| node.len()).sum();
    let mut recorder = Recorder::with_capacity(keys.len(), value_bytes, proof.len(), proof_bytes);
    let more = verify_with(root, origin, keys, values, proof, &mut recorder)?;
    Ok((more, recorder.finish()))
}

fn verify_with<V: AsRef<[u8]>>(
    root: B256,
    origin: B256,
    keys: &[B256],
    values: &[V],
    proof: &[Bytes],
    sink: &mut impl RangeSink,
) -> Result<bool, ProofError> {
    check_leaves(keys, values)?;
    if proof.is_empty() {
        return verify_whole_trie(root, keys, values, sink);
    }
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        if root == EMPTY_ROOT_HASH {
            // Nothing exists anywhere, so nothing exists at or after the origin.
            return Ok(false);
        }
        let proof = ProofIndex::new(proof);
        edge::prove_nothing_from(root, &Nibbles::unpack_array(origin.as_ref()), &proof)?;
        return Ok(false);
    };
    if origin > *first {
        return Err(ProofError::KeyBeforeOrigin);
    }
    let proof = ProofIndex::new(proof);
    RangeWalk::new(&proof, &origin, last, keys, values, sink).run(root)
}

/// The checks on the leaves themselves, before anything reaches a `HashBuilder`.
fn check_leaves<V: AsRef<[u8]>>(keys: &[B256], values: &[V]) -> Result<(), ProofError> {
    if keys.len() != values.len() {
        return Err(ProofError::LengthMismatch { keys: keys.len(), values: values.len() });
    }
    if let Some(index) = keys.windows(2).position(|pair| pair[0] >= pair[1]) {
        return Err(ProofError::NotIncreasing { index: index + 1 });
    }
    if let Some(index) = values.iter().position(|value| value.as_ref().is_empty()) {
        return Err(ProofError::EmptyValue { index });
    }
    Ok(())
}

/// No proof: the (validated) leaves must be the whole trie.
fn verify_whole_trie<V: AsRef<[u8]>>(
    root: B256,
    keys: &[B256],
    values: &[V],
    sink: &mut impl RangeSink,
) -> Result<bool, ProofError> {
    let mut builder = StackBuilder::default();
    for (key, value) in keys.iter().zip(values) {
        builder.push(Nibbles::unpack_array(key.as_ref()), value.as_ref(), sink);
    }
    let got = builder.finish(sink).map_or(EMPTY_ROOT_HASH, |node| super::node_hash(&node));
    if got != root {
        return Err(ProofError::RootMismatch { got, expected: root });
    }
    Ok(false)
}
