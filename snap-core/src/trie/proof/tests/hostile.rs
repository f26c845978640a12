//! Hand-crafted hostile proofs: structures no honest trie has, which must give errors (never
//! panics, never acceptance).

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{
    TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};
use nybbles::Nibbles;

use crate::trie::{ProofError, verify_range};

fn leaf(key: &Nibbles, value: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    LeafNodeRef::new(key, value).rlp(&mut buf);
    buf
}

fn extension(key: &Nibbles, child: &RlpNode) -> Vec<u8> {
    let mut buf = Vec::new();
    ExtensionNodeRef::new(key, child).rlp(&mut buf);
    buf
}

fn branch(children: &[(u8, RlpNode)]) -> Vec<u8> {
    let mut mask = TrieMask::default();
    let mut stack = Vec::new();
    for (nibble, child) in children {
        mask.set_bit(*nibble);
        stack.push(child.clone());
    }
    let mut buf = Vec::new();
    BranchNodeRef::new(&stack, mask).rlp(&mut buf);
    buf
}

fn hash_ref(node: &[u8]) -> RlpNode {
    RlpNode::word_rlp(&keccak256(node))
}

/// Runs every kind of query against `root` with `proof`: all must fail.
fn assert_all_rejected(root: B256, proof: &[Vec<u8>]) {
    let proof: Vec<Bytes> = proof.iter().cloned().map(Bytes::from).collect();
    let key = B256::ZERO;
    let far = B256::repeat_byte(0xff);
    let value = [vec![1u8]];
    let results = [
        verify_range(root, key, &[key], &value, &proof),
        verify_range(root, key, &[far], &value, &proof),
        verify_range(root, far, &[far], &value, &proof),
        verify_range::<Vec<u8>>(root, key, &[], &[], &proof),
    ];
    for result in results {
        assert!(result.is_err(), "accepted: {result:?}");
    }
}

#[test]
fn extension_reaching_past_64_nibbles() {
    let key = Nibbles::from_nibbles_unchecked([0u8; 64]);
    let root = extension(&key, &RlpNode::word_rlp(&B256::repeat_byte(1)));
    assert_all_rejected(keccak256(&root), &[root]);
}

#[test]
fn leaves_of_the_wrong_length() {
    for len in [0usize, 1, 63] {
        let root = leaf(&Nibbles::from_nibbles_unchecked(vec![0u8; len]), &[1]);
        assert_all_rejected(keccak256(&root), std::slice::from_ref(&root));
        // Also below a branch, embedded and hashed.
        let long = leaf(&Nibbles::from_nibbles_unchecked(vec![0u8; len]), &[7u8; 40]);
        let top = branch(&[(0, RlpNode::from_rlp(&root)), (1, hash_ref(&long))]);
        assert_all_rejected(keccak256(&top), &[top.clone(), long]);
    }
}

#[test]
fn empty_extension_key() {
    let child = branch(&[
        (0, RlpNode::word_rlp(&B256::repeat_byte(1))),
        (1, RlpNode::word_rlp(&B256::repeat_byte(2))),
    ]);
    let root = extension(&Nibbles::new(), &hash_ref(&child));
    assert_all_rejected(keccak256(&root), &[root, child]);
}

#[test]
fn branches_nested_deeper_than_64() {
    // A chain of branches along the zero key, each with a sibling leaf, 70 deep.
    let sibling = leaf(&Nibbles::from_nibbles_unchecked([1u8; 3]), &[2u8; 40]);
    let mut proof = vec![sibling.clone()];
    let mut below = hash_ref(&sibling);
    for _ in 0..70 {
        let node = branch(&[(0, below.clone()), (1, hash_ref(&sibling))]);
        below = hash_ref(&node);
        proof.push(node);
    }
    let root = keccak256(proof.last().unwrap());
    assert_all_rejected(root, &proof);
}

#[test]
fn extension_over_a_leaf_is_not_accepted() {
    // Non-canonical: an extension whose child is a leaf.
    let inner = leaf(&Nibbles::from_nibbles_unchecked(vec![0u8; 63]), &[5u8; 40]);
    let root = extension(&Nibbles::from_nibbles_unchecked([0u8]), &hash_ref(&inner));
    let proof = [Bytes::from(root.clone()), Bytes::from(inner)];
    let key = B256::ZERO;
    let result = verify_range(keccak256(&root), key, &[key], &[vec![5u8; 40]], &proof);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn self_referencing_and_cyclic_proofs_terminate() {
    // A branch that points at itself cannot exist (its hash would be a fixed point), but two
    // nodes may point at hashes of each other's *claimed* contents; any node that is not the
    // preimage of its reference is simply missing.
    let a = branch(&[
        (0, RlpNode::word_rlp(&B256::repeat_byte(0xaa))),
        (1, RlpNode::word_rlp(&B256::repeat_byte(0xbb))),
    ]);
    assert_all_rejected(keccak256(&a), &[a]);
}

#[test]
fn embedded_nodes_that_claim_to_be_32_bytes_or_more() {
    // An embedded list of 32+ bytes inside a branch is malformed.
    let big = leaf(&Nibbles::from_nibbles_unchecked(vec![0u8; 63]), &[9u8; 30]);
    assert!(big.len() >= 32);
    let mut root = vec![0xf8, 0]; // list header, patched below
    root.extend(&big);
    root.extend([0x80; 16]);
    let payload = root.len() - 2;
    root[1] = payload as u8;
    let result = verify_range(
        keccak256(&root),
        B256::ZERO,
        &[B256::ZERO],
        &[vec![9u8; 30]],
        &[Bytes::from(root)],
    );
    assert!(matches!(result, Err(ProofError::MalformedNode(_))), "{result:?}");
}
