//! Lean, borrowing decoder for the trie nodes found in range proofs.
//!
//! Proof nodes come from peers, so every malformation is a typed error. Nodes are decoded in
//! place (no allocation): children and values borrow from the proof bytes. Keys are 32-byte
//! hashes (a secure trie), so a branch node never carries a value.

use alloy_primitives::B256;
use alloy_rlp::Header;
use nybbles::Nibbles;

use super::ProofError;

/// Number of nibbles in a full key (32 bytes).
pub(crate) const KEY_NIBBLES: usize = 64;

/// A reference from a node to one of its children.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ChildRef<'a> {
    /// The child's encoding is at least 32 bytes long and is referenced by its keccak hash.
    Hash(B256),
    /// The child's encoding (a list shorter than 32 bytes) is embedded in its parent.
    Inline(&'a [u8]),
}

/// A decoded trie node borrowing from its encoding.
// Lives briefly on the stack while one node is walked; boxing the branch would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Node<'a> {
    /// A branch: one optional child per nibble.
    Branch([Option<ChildRef<'a>>; 16]),
    /// An extension: a non-empty shared key segment and the branch below it.
    Extension { key: Nibbles, child: ChildRef<'a> },
    /// A leaf: the rest of the key and the stored value.
    Leaf { key: Nibbles, value: &'a [u8] },
}

/// One RLP item: whether it is a list, its payload, and its whole encoding.
struct Item<'a> {
    list: bool,
    payload: &'a [u8],
    whole: &'a [u8],
}

fn next_item<'a>(buf: &mut &'a [u8]) -> Result<Item<'a>, ProofError> {
    let start = *buf;
    let header = Header::decode(buf)?;
    // `Header::decode` guarantees `payload_length <= buf.len()`; stay defensive anyway.
    let (payload, rest) =
        buf.split_at_checked(header.payload_length).ok_or(alloy_rlp::Error::InputTooShort)?;
    *buf = rest;
    let whole = &start[..start.len() - rest.len()];
    Ok(Item { list: header.list, payload, whole })
}

fn child_ref(item: Item<'_>) -> Result<Option<ChildRef<'_>>, ProofError> {
    if item.list {
        if item.whole.len() >= 32 {
            return Err(ProofError::MalformedNode("embedded node of 32 bytes or more"));
        }
        return Ok(Some(ChildRef::Inline(item.whole)));
    }
    match item.payload.len() {
        0 => Ok(None),
        32 => Ok(Some(ChildRef::Hash(B256::from_slice(item.payload)))),
        _ => Err(ProofError::MalformedNode("child reference is neither empty nor a hash")),
    }
}

/// Decodes a hex-prefix (compact) encoded path into its nibbles and leaf flag.
fn decode_compact_path(encoded: &[u8]) -> Result<(Nibbles, bool), ProofError> {
    let (&first, rest) =
        encoded.split_first().ok_or(ProofError::MalformedNode("empty node path"))?;
    let flag = first >> 4;
    if flag > 3 {
        return Err(ProofError::MalformedNode("invalid path flag"));
    }
    let odd = flag & 1 == 1;
    let is_leaf = flag & 2 == 2;
    let len = rest.len() * 2 + usize::from(odd);
    if len > KEY_NIBBLES {
        return Err(ProofError::InvalidPathLength { len });
    }
    let key = if odd {
        let mut key = Nibbles::from_nibbles_unchecked([first & 0x0f]);
        key.extend_from_slice_unchecked(rest);
        key
    } else {
        if first & 0x0f != 0 {
            return Err(ProofError::MalformedNode("non-zero path padding"));
        }
        Nibbles::unpack(rest)
    };
    Ok((key, is_leaf))
}

/// Decodes one trie node.
pub(crate) fn decode_node(encoded: &[u8]) -> Result<Node<'_>, ProofError> {
    let mut buf = encoded;
    let outer = next_item(&mut buf)?;
    if !outer.list {
        return Err(ProofError::MalformedNode("node is not a list"));
    }
    if !buf.is_empty() {
        return Err(ProofError::MalformedNode("trailing bytes after node"));
    }
    let mut items = outer.payload;
    let first = next_item(&mut items)?;
    let second = next_item(&mut items)?;
    if items.is_empty() {
        if first.list {
            return Err(ProofError::MalformedNode("node path is a list"));
        }
        let (key, is_leaf) = decode_compact_path(first.payload)?;
        if is_leaf {
            if second.list {
                return Err(ProofError::MalformedNode("leaf value is a list"));
            }
            return Ok(Node::Leaf { key, value: second.payload });
        }
        if key.is_empty() {
            return Err(ProofError::EmptyExtensionKey);
        }
        let child =
            child_ref(second)?.ok_or(ProofError::MalformedNode("extension without a child"))?;
        return Ok(Node::Extension { key, child });
    }
    let mut children = [None; 16];
    children[0] = child_ref(first)?;
    children[1] = child_ref(second)?;
    for child in children.iter_mut().skip(2) {
        *child = child_ref(next_item(&mut items)?)?;
    }
    let value = next_item(&mut items)?;
    if value.list || !value.payload.is_empty() {
        return Err(ProofError::BranchValue);
    }
    if !items.is_empty() {
        return Err(ProofError::MalformedNode("branch with more than 17 items"));
    }
    if children.iter().filter(|child| child.is_some()).count() < 2 {
        return Err(ProofError::MalformedNode("branch with fewer than two children"));
    }
    Ok(Node::Branch(children))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::TrieMask;
    use alloy_trie::nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode};

    #[test]
    fn decodes_leaf_and_extension_paths_of_both_parities() {
        for len in [0usize, 1, 5, 6, 63, 64] {
            let key = Nibbles::from_nibbles_unchecked(
                (0..len).map(|i| (i * 7 % 16) as u8).collect::<Vec<_>>(),
            );
            let mut buf = Vec::new();
            LeafNodeRef::new(&key, &[1, 2, 3]).rlp(&mut buf);
            match decode_node(&buf).unwrap() {
                Node::Leaf { key: got, value } => {
                    assert_eq!(got, key);
                    assert_eq!(value, &[1, 2, 3]);
                }
                other => panic!("not a leaf: {other:?}"),
            }
            if len == 0 || len == 64 {
                continue;
            }
            let child = RlpNode::word_rlp(&B256::repeat_byte(7));
            buf.clear();
            ExtensionNodeRef::new(&key, &child).rlp(&mut buf);
            match decode_node(&buf).unwrap() {
                Node::Extension { key: got, child: ChildRef::Hash(hash) } => {
                    assert_eq!(got, key);
                    assert_eq!(hash, B256::repeat_byte(7));
                }
                other => panic!("not an extension: {other:?}"),
            }
        }
    }

    #[test]
    fn decodes_branch_with_hashed_and_inline_children() {
        let mut leaf = Vec::new();
        let inline =
            LeafNodeRef::new(&Nibbles::from_nibbles_unchecked([1, 2]), &[9]).rlp(&mut leaf);
        let stack = vec![RlpNode::word_rlp(&B256::repeat_byte(3)), inline];
        let mut mask = TrieMask::default();
        mask.set_bit(2);
        mask.set_bit(11);
        let mut buf = Vec::new();
        BranchNodeRef::new(&stack, mask).rlp(&mut buf);
        let Node::Branch(children) = decode_node(&buf).unwrap() else { panic!("not a branch") };
        for (index, child) in children.iter().enumerate() {
            match (index, child) {
                (2, Some(ChildRef::Hash(hash))) => assert_eq!(*hash, B256::repeat_byte(3)),
                (11, Some(ChildRef::Inline(bytes))) => assert_eq!(*bytes, leaf.as_slice()),
                (2 | 11, other) => panic!("child {index}: {other:?}"),
                (_, other) => assert!(other.is_none()),
            }
        }
    }

    #[test]
    fn rejects_malformed_nodes_without_panicking() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x80],
            &[0xc0],
            &[0xc1, 0x80],
            &[0xc2, 0x80, 0x80],             // empty path
            &[0xc4, 0x20, 0xc1, 0x01, 0x02], // trailing item count 3
            &[0xc2, 0x20, 0x01, 0x00],       // declared shorter than content
        ];
        for case in cases {
            assert!(decode_node(case).is_err(), "accepted {case:x?}");
        }
        // Two-item nodes, so each reaches the check it is about.
        assert!(matches!(decode_node(&[0xc2, 0x00, 0x80]), Err(ProofError::EmptyExtensionKey)));
        assert_eq!(
            decode_node(&[0xc2, 0x40, 0x80]).err(),
            Some(ProofError::MalformedNode("invalid path flag"))
        );
        assert_eq!(
            decode_node(&[0xc2, 0x05, 0x80]).err(),
            Some(ProofError::MalformedNode("non-zero path padding"))
        );
        // An extension (odd key 1) whose child is a one-byte string: neither a hash nor a list.
        assert_eq!(
            decode_node(&[0xc3, 0x11, 0x81, 0x80]).err(),
            Some(ProofError::MalformedNode("child reference is neither empty nor a hash"))
        );
        // A branch carrying a value.
        let mut branch = vec![0xd1];
        branch.extend([0x80; 16]);
        branch.push(0x01);
        assert!(matches!(decode_node(&branch), Err(ProofError::BranchValue)));
    }
}
