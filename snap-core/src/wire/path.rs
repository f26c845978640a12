//! Compact (hex-prefix) paths and `GetTrieNodes` path sets.
//!
//! # Hex-prefix encoding
//!
//! A nibble path is packed two nibbles a byte behind a flag nibble: `0` for an even-length
//! extension path, `1` odd extension, `2` even leaf, `3` odd leaf. An odd path puts its first
//! nibble in the low half of the first byte; an even path pads that half with zero.
//!
//! # Sync paths (geth's `trie.NewSyncPath`)
//!
//! A trie node being healed is named by its path from the state root through the account trie
//! into a storage trie: up to 64 nibbles in the account trie, then the 64-nibble account hash
//! followed by the storage path. On the wire that becomes a path set:
//!
//! - a node of the account trie (combined path shorter than 64 nibbles):
//!   `[compact(path)]`;
//! - a node of a storage trie (combined path of 64 nibbles or more): `[accountHash,
//!   compact(path[64..])]`, the first 64 nibbles packed as a plain 32-byte hash.
//!
//! Paths to nodes are never leaf-terminated, so every compact path here carries an extension
//! flag (`0` or `1`). Several storage paths under one account share one set.

use alloy_primitives::{B256, Bytes};
use nybbles::Nibbles;

use super::{error::DecodeError, messages::TrieNodePathSet};

/// The most nibbles a path can have: a full 32-byte key.
const MAX_NIBBLES: usize = 64;

/// Hex-prefix encodes `path`, flagged as a leaf path if `is_leaf`.
pub fn encode_compact(path: &Nibbles, is_leaf: bool) -> Bytes {
    Bytes::copy_from_slice(&alloy_trie::nodes::encode_path_leaf(path, is_leaf))
}

/// Decodes a hex-prefix path, returning the nibbles and whether the leaf flag was set.
///
/// Rejects an empty input, a flag nibble above 3, a non-zero padding nibble on an even path and
/// paths longer than 64 nibbles.
pub fn decode_compact(bytes: &[u8]) -> Result<(Nibbles, bool), DecodeError> {
    let Some((&first, rest)) = bytes.split_first() else {
        return Err(DecodeError::BadCompactPath("empty"));
    };
    let flag = first >> 4;
    if flag > 3 {
        return Err(DecodeError::BadCompactPath("flag nibble above 3"));
    }
    let odd = flag & 1 == 1;
    let is_leaf = flag & 2 == 2;
    if !odd && first & 0x0f != 0 {
        return Err(DecodeError::BadCompactPath("non-zero padding nibble on an even path"));
    }
    let len = rest.len() * 2 + usize::from(odd);
    if len > MAX_NIBBLES {
        return Err(DecodeError::BadCompactPath("longer than 64 nibbles"));
    }
    let mut path = Nibbles::new();
    if odd {
        path.push_unchecked(first & 0x0f);
    }
    for &byte in rest {
        path.push_unchecked(byte >> 4);
        path.push_unchecked(byte & 0x0f);
    }
    Ok((path, is_leaf))
}

/// A path set, parsed: what one element of `GetTrieNodes` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSetRequest {
    /// One node of the account trie, by path.
    Account(Nibbles),
    /// Nodes of one account's storage trie, by path.
    Storage {
        /// The account's hash (its key in the account trie).
        account: B256,
        /// Paths in the account's storage trie.
        paths: Vec<Nibbles>,
    },
}

impl TrieNodePathSet {
    /// A set asking for the account-trie node at `path`.
    pub fn account(path: &Nibbles) -> Self {
        Self(vec![encode_compact(path, false)])
    }

    /// A set asking for the nodes at `paths` in the storage trie of `account`.
    pub fn storage(account: B256, paths: &[Nibbles]) -> Self {
        let mut set = Vec::with_capacity(1 + paths.len());
        set.push(Bytes::copy_from_slice(account.as_slice()));
        set.extend(paths.iter().map(|p| encode_compact(p, false)));
        Self(set)
    }

    /// Parses the set: one element is a compact account-trie path; more elements are a 32-byte
    /// account hash followed by compact storage-trie paths.
    ///
    /// Errors: [`DecodeError::EmptyPathSet`] for no elements (geth disconnects the requester),
    /// [`DecodeError::BadHashLength`] for an account element that is not 32 bytes,
    /// [`DecodeError::BadCompactPath`] for a malformed or leaf-flagged path.
    pub fn parse(&self) -> Result<PathSetRequest, DecodeError> {
        match self.0.as_slice() {
            [] => Err(DecodeError::EmptyPathSet),
            [path] => Ok(PathSetRequest::Account(node_path(path)?)),
            [account, paths @ ..] => {
                let account = B256::try_from(account.as_ref()).map_err(|_| {
                    DecodeError::BadHashLength { what: "path set account", len: account.len() }
                })?;
                let paths = paths.iter().map(|p| node_path(p)).collect::<Result<_, _>>()?;
                Ok(PathSetRequest::Storage { account, paths })
            }
        }
    }
}

/// Decodes a compact path that names a node (no leaf flag).
fn node_path(bytes: &[u8]) -> Result<Nibbles, DecodeError> {
    match decode_compact(bytes)? {
        (path, false) => Ok(path),
        (_, true) => Err(DecodeError::BadCompactPath("leaf flag on a node path")),
    }
}

/// The path set naming one trie node, by geth's sync-path rule (see the module docs): `owner`
/// is `None` for a node of the account trie, or the account hash for a node of that account's
/// storage trie; `path` is the node's path within its own trie.
pub fn sync_path(owner: Option<B256>, path: &Nibbles) -> TrieNodePathSet {
    match owner {
        None => TrieNodePathSet::account(path),
        Some(account) => TrieNodePathSet::storage(account, core::slice::from_ref(path)),
    }
}

/// geth's rule on a combined path given as one nibble per byte (up to 128 nibbles): shorter
/// than 64 nibbles is an account-trie path; otherwise the first 64 nibbles are the account hash
/// and the rest (at most 64) the storage-trie path. Returns `None` for a nibble above 0x0f or a
/// path longer than 128 nibbles.
pub fn sync_path_from_nibbles(combined: &[u8]) -> Option<TrieNodePathSet> {
    if combined.len() > 2 * MAX_NIBBLES || combined.iter().any(|&n| n > 0x0f) {
        return None;
    }
    match combined.split_at_checked(MAX_NIBBLES) {
        None => Some(sync_path(None, &Nibbles::from_nibbles_unchecked(combined))),
        Some((account, storage)) => {
            let account = B256::from_slice(&Nibbles::from_nibbles_unchecked(account).pack());
            Some(sync_path(Some(account), &Nibbles::from_nibbles_unchecked(storage)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nibbles(max: usize) -> impl Strategy<Value = Nibbles> {
        proptest::collection::vec(0u8..16, 0..=max).prop_map(Nibbles::from_nibbles)
    }

    #[test]
    fn compact_known_answers() {
        // Even extension path [1,2,3,4]: flag 0, padding 0 -> 00 12 34.
        let p = Nibbles::from_nibbles([1, 2, 3, 4]);
        assert_eq!(encode_compact(&p, false).as_ref(), [0x00, 0x12, 0x34]);
        // Odd extension path [1,2,3]: flag 1 with the first nibble -> 11 23.
        let p = Nibbles::from_nibbles([1, 2, 3]);
        assert_eq!(encode_compact(&p, false).as_ref(), [0x11, 0x23]);
        // Even leaf [0xf, 1]: flag 2 -> 20 f1. Odd leaf [0xa]: flag 3 -> 3a.
        assert_eq!(encode_compact(&Nibbles::from_nibbles([0xf, 1]), true).as_ref(), [0x20, 0xf1]);
        assert_eq!(encode_compact(&Nibbles::from_nibbles([0xa]), true).as_ref(), [0x3a]);
        // Empty extension path -> 00.
        assert_eq!(encode_compact(&Nibbles::new(), false).as_ref(), [0x00]);
    }

    #[test]
    fn compact_rejects_malformed() {
        let bad = |b: &[u8]| matches!(decode_compact(b), Err(DecodeError::BadCompactPath(_)));
        assert!(bad(&[]));
        assert!(bad(&[0x40]));
        assert!(bad(&[0xf0, 0x12]));
        assert!(bad(&[0x01, 0x23])); // even flag with non-zero padding
        assert!(bad(&[0x25]));
        let mut long = vec![0x00];
        long.extend([0x11; 33]); // 66 nibbles
        assert!(bad(&long));
        let mut odd_long = vec![0x11];
        odd_long.extend([0x11; 32]); // 65 nibbles
        assert!(bad(&odd_long));
        let mut max = vec![0x00];
        max.extend([0x11; 32]); // exactly 64 nibbles
        assert_eq!(decode_compact(&max).map(|(p, _)| p.len()), Ok(64));
    }

    #[test]
    fn path_set_parse_errors() {
        assert_eq!(TrieNodePathSet(vec![]).parse(), Err(DecodeError::EmptyPathSet));
        let short_account = TrieNodePathSet(vec![Bytes::from(vec![1u8; 31]), Bytes::from(vec![0])]);
        assert!(matches!(short_account.parse(), Err(DecodeError::BadHashLength { len: 31, .. })));
        let leaf = TrieNodePathSet(vec![Bytes::from(vec![0x20])]);
        assert!(matches!(leaf.parse(), Err(DecodeError::BadCompactPath(_))));
    }

    #[test]
    fn sync_path_rule() {
        // 3 nibbles: account-trie path.
        let set = sync_path_from_nibbles(&[1, 2, 3]).unwrap();
        assert_eq!(set.0, vec![Bytes::from(vec![0x11, 0x23])]);
        // 64 nibbles of 0xa then [0xb]: account hash 0xaa..aa and the storage path [0xb].
        let mut combined = vec![0xa; 64];
        combined.push(0xb);
        let set = sync_path_from_nibbles(&combined).unwrap();
        assert_eq!(set.0, vec![Bytes::from(vec![0xaa; 32]), Bytes::from(vec![0x1b])]);
        // Exactly 64 nibbles: the root of that account's storage trie, empty path -> 00.
        let set = sync_path_from_nibbles(&[0xa; 64]).unwrap();
        assert_eq!(set.0, vec![Bytes::from(vec![0xaa; 32]), Bytes::from(vec![0x00])]);
        assert_eq!(sync_path_from_nibbles(&[0x10]), None);
        assert_eq!(sync_path_from_nibbles(&[0; 129]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn compact_roundtrip(path in nibbles(64), leaf: bool) {
            let enc = encode_compact(&path, leaf);
            prop_assert_eq!(enc.len(), 1 + path.len() / 2);
            prop_assert_eq!(decode_compact(&enc), Ok((path, leaf)));
        }

        #[test]
        fn compact_decode_encode_is_identity(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok((path, leaf)) = decode_compact(&bytes) {
                prop_assert_eq!(encode_compact(&path, leaf).to_vec(), bytes);
            }
        }

        #[test]
        fn path_set_roundtrip(
            account in any::<[u8; 32]>(),
            acc_path in nibbles(63),
            paths in proptest::collection::vec(nibbles(64), 1..6),
        ) {
            prop_assert_eq!(
                TrieNodePathSet::account(&acc_path).parse(),
                Ok(PathSetRequest::Account(acc_path))
            );
            let account = B256::from(account);
            prop_assert_eq!(
                TrieNodePathSet::storage(account, &paths).parse(),
                Ok(PathSetRequest::Storage { account, paths })
            );
        }
    }
}
