//! The trie nodes a range verification computes, kept for the trie generator.
//!
//! Verifying a range rebuilds every subtree that lies within it, which means encoding and
//! hashing each of its nodes; the proof supplies, already hashed, the nodes along the range's
//! edges. Those are exactly the nodes a trie generator writes for the range, so the verifier
//! keeps them ([`VerifiedNodes`]: encodings in one buffer, with paths and hashes, in post-order)
//! and the generator takes them from there instead of encoding and hashing them again.

use alloy_primitives::{B256, Bytes};
use alloy_rlp::{EMPTY_STRING_CODE, Encodable};
use alloy_trie::{
    TrieMask,
    nodes::{ExtensionNodeRef, RlpNode, encode_path_leaf},
};
use nybbles::Nibbles;

use super::stack::NodeSink;

/// Nodes whose encoding is shorter than this live inside their parent and are not stored.
pub(crate) const MIN_STORED_NODE_LEN: usize = 32;

/// Trie nodes computed while verifying a range of leaves against a root: every stored node
/// (32 bytes or more) of the subtrees lying within the range, and the proof's nodes along its
/// edges. All are nodes of the trie with that root, at their paths.
///
/// Obtained from [`verify_range_nodes`](super::proof::verify_range_nodes) and handed to
/// [`TrieGenerator::use_verified`](super::TrieGenerator::use_verified), which then writes these
/// nodes rather than computing them again. The encodings share one buffer.
#[derive(Clone, Debug, Default)]
pub struct VerifiedNodes {
    pub(crate) arena: Bytes,
    /// In post-order: each node after the nodes below it, subtrees in key order.
    pub(crate) nodes: Vec<KnownNode>,
}

impl VerifiedNodes {
    /// The number of nodes kept.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was kept.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The kept nodes: path, hash and encoding, in post-order.
    pub fn iter(&self) -> impl Iterator<Item = (Nibbles, B256, Bytes)> + '_ {
        self.nodes.iter().map(|node| (node.path, node.hash, self.arena.slice(node.start..node.end)))
    }
}

/// One kept node: its path, its hash, and where its encoding lies in the buffer.
#[derive(Clone, Debug)]
pub(crate) struct KnownNode {
    pub(crate) path: Nibbles,
    pub(crate) hash: B256,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Whether the node at `a` comes before the node at `b` in post-order (children before their
/// parent, subtrees in key order).
pub(crate) fn post_order_lt(a: &Nibbles, b: &Nibbles) -> bool {
    if b.starts_with(a) {
        // `a` is `b` or above it.
        return false;
    }
    a.starts_with(b) || a < b
}

/// Appends the leaf of `key` at path length `depth` to `out` (what alloy-trie's `LeafNodeRef`
/// encodes, written straight into the buffer).
pub(crate) fn encode_leaf(out: &mut Vec<u8>, key: &Nibbles, depth: usize, value: &[u8]) {
    let path = encode_path_leaf(&key.slice(depth..), true);
    // A one-byte path (flag only) is below 0x80 and is its own encoding.
    let path_item = if path.len() == 1 { 1 } else { 1 + path.len() };
    let payload = path_item + string_len(value);
    out.reserve(list_header_len(payload) + payload);
    put_list_header(out, payload);
    if path.len() != 1 {
        out.push(EMPTY_STRING_CODE + path.len() as u8);
    }
    out.extend_from_slice(&path);
    put_string(out, value);
}

/// Appends the extension at `depth` of `key` whose child sits at `child_depth` to `out`.
pub(crate) fn encode_extension(
    out: &mut Vec<u8>,
    key: &Nibbles,
    depth: usize,
    child_depth: usize,
    child: &RlpNode,
) {
    ExtensionNodeRef::new(&key.slice(depth..child_depth), child).encode(out);
}

/// Appends the branch with `children` (in nibble order, as `mask` says) to `out` (what
/// alloy-trie's `BranchNodeRef` encodes, written straight into the buffer).
pub(crate) fn encode_branch(out: &mut Vec<u8>, mask: TrieMask, children: &[RlpNode]) {
    debug_assert_eq!(children.len(), mask.count_ones() as usize);
    // Each absent child and the empty value are one byte each.
    let payload = children.iter().map(|child| child.len()).sum::<usize>() + 17 - children.len();
    out.reserve(list_header_len(payload) + payload);
    put_list_header(out, payload);
    let mut children = children.iter();
    for nibble in 0..16 {
        match mask.is_bit_set(nibble).then(|| children.next()).flatten() {
            Some(child) => out.extend_from_slice(child),
            None => out.push(EMPTY_STRING_CODE),
        }
    }
    out.push(EMPTY_STRING_CODE);
}

/// The length of the RLP string encoding of `bytes`.
fn string_len(bytes: &[u8]) -> usize {
    match bytes {
        [byte] if *byte < EMPTY_STRING_CODE => 1,
        _ => list_header_len(bytes.len()) + bytes.len(),
    }
}

/// The length of an RLP header (string or list) for a payload of `len` bytes.
fn list_header_len(len: usize) -> usize {
    if len < 56 { 1 } else { 1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize }
}

/// Appends the RLP list header for a payload of `len` bytes.
fn put_list_header(out: &mut Vec<u8>, len: usize) {
    put_header(out, 0xc0, len);
}

/// Appends `bytes` as an RLP string.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    if let [byte] = bytes
        && *byte < EMPTY_STRING_CODE
    {
        out.push(*byte);
        return;
    }
    put_header(out, EMPTY_STRING_CODE, bytes.len());
    out.extend_from_slice(bytes);
}

/// Appends an RLP header with the short-form base `base` (0x80 strings, 0xc0 lists).
fn put_header(out: &mut Vec<u8>, base: u8, len: usize) {
    if len < 56 {
        out.push(base + len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = (len.leading_zeros() / 8) as usize;
    out.push(base + 55 + (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// What the range walk does with the nodes it meets: the subtrees it rebuilds (as a
/// [`NodeSink`]) and the proof nodes on the edges.
pub(crate) trait RangeSink: NodeSink {
    /// A proof node at `path` with hash `hash`, reached from the root on an edge path.
    fn proof_node(&mut self, path: &Nibbles, hash: B256, encoded: &[u8]);
}

/// Hashes the rebuilt nodes and keeps nothing: plain verification.
#[derive(Debug, Default)]
pub(crate) struct Hasher {
    buf: Vec<u8>,
}

impl NodeSink for Hasher {
    fn leaf(&mut self, key: &Nibbles, depth: usize, value: &[u8]) -> RlpNode {
        self.buf.clear();
        encode_leaf(&mut self.buf, key, depth, value);
        RlpNode::from_rlp(&self.buf)
    }

    fn extension(
        &mut self,
        key: &Nibbles,
        depth: usize,
        child_depth: usize,
        child: &RlpNode,
    ) -> RlpNode {
        self.buf.clear();
        encode_extension(&mut self.buf, key, depth, child_depth, child);
        RlpNode::from_rlp(&self.buf)
    }

    fn branch(
        &mut self,
        _key: &Nibbles,
        _depth: usize,
        mask: TrieMask,
        children: &[RlpNode],
    ) -> RlpNode {
        self.buf.clear();
        encode_branch(&mut self.buf, mask, children);
        RlpNode::from_rlp(&self.buf)
    }
}

impl RangeSink for Hasher {
    fn proof_node(&mut self, _path: &Nibbles, _hash: B256, _encoded: &[u8]) {}
}

/// Hashes the rebuilt nodes and keeps the stored ones (and the proof's), for the generator.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    arena: Vec<u8>,
    nodes: Vec<KnownNode>,
}

impl Recorder {
    /// A recorder for `leaves` leaves holding `value_bytes` bytes of values, verified with a
    /// proof of `proof_nodes` nodes and `proof_bytes` bytes.
    pub(crate) fn with_capacity(
        leaves: usize,
        value_bytes: usize,
        proof_nodes: usize,
        proof_bytes: usize,
    ) -> Self {
        // Per leaf: its node (the value and up to 37 bytes of headers and path), and a share of
        // the branches (a random trie has about 0.36 per leaf, 140 bytes on average, and a
        // root). Proof nodes are copied in whole. A node's entry is 88 bytes, so the room is
        // what the leaves and the proof need, with no fixed slack.
        let arena = value_bytes + leaves * 90 + 140 + proof_bytes;
        let nodes = leaves + leaves * 2 / 5 + proof_nodes + 2;
        Self { arena: Vec::with_capacity(arena), nodes: Vec::with_capacity(nodes) }
    }

    /// The node just encoded at `start..` of the buffer: keeps it if stored.
    fn keep(&mut self, key: &Nibbles, depth: usize, start: usize) -> RlpNode {
        let node = RlpNode::from_rlp(&self.arena[start..]);
        match node.as_hash() {
            Some(hash) => self.nodes.push(KnownNode {
                path: key.slice(..depth),
                hash,
                start,
                end: self.arena.len(),
            }),
            None => self.arena.truncate(start),
        }
        node
    }

    /// The nodes kept.
    pub(crate) fn finish(self) -> VerifiedNodes {
        VerifiedNodes { arena: Bytes::from(self.arena), nodes: self.nodes }
    }
}

impl NodeSink for Recorder {
    fn leaf(&mut self, key: &Nibbles, depth: usize, value: &[u8]) -> RlpNode {
        let start = self.arena.len();
        encode_leaf(&mut self.arena, key, depth, value);
        self.keep(key, depth, start)
    }

    fn extension(
        &mut self,
        key: &Nibbles,
        depth: usize,
        child_depth: usize,
        child: &RlpNode,
    ) -> RlpNode {
        let start = self.arena.len();
        encode_extension(&mut self.arena, key, depth, child_depth, child);
        self.keep(key, depth, start)
    }

    fn branch(
        &mut self,
        key: &Nibbles,
        depth: usize,
        mask: TrieMask,
        children: &[RlpNode],
    ) -> RlpNode {
        let start = self.arena.len();
        encode_branch(&mut self.arena, mask, children);
        self.keep(key, depth, start)
    }
}

impl RangeSink for Recorder {
    fn proof_node(&mut self, path: &Nibbles, hash: B256, encoded: &[u8]) {
        // Only stored nodes matter (a small root is re-encoded by whoever needs it).
        if encoded.len() < MIN_STORED_NODE_LEN {
            return;
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(encoded);
        self.nodes.push(KnownNode { path: *path, hash, start, end: self.arena.len() });
    }
}

#[cfg(test)]
mod tests {
    use alloy_trie::nodes::{BranchNodeRef, LeafNodeRef};
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn leaves_encode_as_alloy_trie_does(
            key in any::<[u8; 32]>(),
            depth in 0..=64usize,
            value in prop::collection::vec(any::<u8>(), 1..300),
        ) {
            let key = Nibbles::unpack(key);
            let mut ours = vec![7];
            encode_leaf(&mut ours, &key, depth, &value);
            let mut alloys = vec![7];
            LeafNodeRef::new(&key.slice(depth..), &value).encode(&mut alloys);
            prop_assert_eq!(ours, alloys);
        }

        #[test]
        fn branches_encode_as_alloy_trie_does(
            children in prop::collection::vec(
                prop::option::of(prop_oneof![
                    any::<[u8; 32]>().prop_map(|hash| RlpNode::word_rlp(&B256::from(hash))),
                    prop::collection::vec(any::<u8>(), 1..32).prop_map(|bytes| {
                        RlpNode::from_raw(&bytes).expect("short")
                    }),
                ]),
                16,
            ),
        ) {
            let mut mask = TrieMask::default();
            let mut stack = Vec::new();
            for (nibble, child) in (0u8..).zip(&children) {
                if let Some(child) = child {
                    mask.set_bit(nibble);
                    stack.push(child.clone());
                }
            }
            let mut ours = Vec::new();
            encode_branch(&mut ours, mask, &stack);
            let mut alloys = Vec::new();
            BranchNodeRef::new(&stack, mask).encode(&mut alloys);
            prop_assert_eq!(ours, alloys);
        }
    }
}
