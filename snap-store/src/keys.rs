//! The key layout: five tables, each ordered by bytes, chosen so that every range the
//! `Syncer` deletes is one contiguous key range.
//!
//! | table | key | value |
//! |---|---|---|
//! | [`Table::Accounts`] | account hash (32 bytes) | RLP of the `TrieAccount` |
//! | [`Table::Storage`] | account hash ‖ slot hash (64 bytes) | the slot's trie-leaf payload (RLP of the trimmed value) |
//! | [`Table::Codes`] | code hash (32 bytes) | the bytecode |
//! | [`Table::Nodes`] | owner (32 bytes) ‖ path, one byte per nibble (0 to 64 bytes) | the node's RLP |
//! | [`Table::Meta`] | [`PROGRESS_KEY`] | the encoded progress record |
//!
//! ## Why one byte per nibble
//!
//! Paths are ordered lexicographically by nibble, a prefix before its extensions. Writing each
//! nibble as one byte (`0x00..=0x0f`) keeps exactly that order under byte comparison: the first
//! differing nibble decides, and a proper prefix is a shorter byte string that sorts first. So
//! the nodes of a subtree, of a path range and of a whole trie are each one key range; the
//! owner's byte `0x10` after the 32 owner bytes sorts after every path of that owner and before
//! the next owner, and bounds "to the end of this trie". (Packing two nibbles per byte would
//! need a length marker to tell `[1]` from `[1, 0]`; the paths the store holds are short, 5 to
//! 10 nibbles in the account trie at mainnet size and fewer in storage tries, so the simple
//! form costs a few bytes per node.)
//!
//! Flat keys are 32-byte hashes compared as bytes, which is their nibble order too, and storage
//! keys are prefixed by their account, so the storage of a range of accounts is also one range.

use alloy_primitives::B256;
use nybbles::Nibbles;

/// The tables of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Flat accounts by hash.
    Accounts,
    /// Flat storage slots by account hash and slot hash.
    Storage,
    /// Bytecodes by hash.
    Codes,
    /// Trie nodes by owner and path.
    Nodes,
    /// The progress record.
    Meta,
    /// Raw block access lists (snap/2) by block hash, for serving.
    Bals,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Self; 6] =
        [Self::Accounts, Self::Storage, Self::Codes, Self::Nodes, Self::Meta, Self::Bals];

    /// The table's name in the database.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Accounts => "accounts",
            Self::Storage => "storage",
            Self::Codes => "codes",
            Self::Nodes => "nodes",
            Self::Meta => "meta",
            Self::Bals => "bals",
        }
    }
}

/// The key of the progress record in [`Table::Meta`].
pub const PROGRESS_KEY: &[u8] = b"progress";

/// The byte after the owner that sorts after every path of that owner (nibbles are `0..=15`).
const TRIE_END: u8 = 0x10;

/// The key of the node at `path` in `owner`'s trie: the owner, then one byte per nibble.
pub fn node_key(owner: &B256, path: &Nibbles) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + path.len());
    key.extend_from_slice(owner.as_slice());
    key.extend(path.iter());
    key
}

/// The key bounding every node of `owner`'s trie from above (exclusive).
pub fn node_trie_end(owner: &B256) -> Vec<u8> {
    let mut key = Vec::with_capacity(33);
    key.extend_from_slice(owner.as_slice());
    key.push(TRIE_END);
    key
}

/// Splits a node key into its owner and path, or `None` when it is not one.
pub fn split_node_key(key: &[u8]) -> Option<(B256, Nibbles)> {
    let (owner, path) = key.split_first_chunk::<32>()?;
    if path.len() > 64 || path.iter().any(|nibble| *nibble > 0x0f) {
        return None;
    }
    Some((B256::from(*owner), Nibbles::from_nibbles_unchecked(path)))
}

/// The key of a storage slot.
pub fn slot_key(account: &B256, slot: &B256) -> [u8; 64] {
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(account.as_slice());
    key[32..].copy_from_slice(slot.as_slice());
    key
}

/// Splits a storage key into account and slot, or `None` when it is not one.
pub fn split_slot_key(key: &[u8]) -> Option<(B256, B256)> {
    let key: &[u8; 64] = key.try_into().ok()?;
    let (account, slot) = key.split_at(32);
    Some((B256::from_slice(account), B256::from_slice(slot)))
}

/// A 32-byte hash key read back, or `None` when the key has another length.
pub fn hash_key(key: &[u8]) -> Option<B256> {
    <[u8; 32]>::try_from(key).ok().map(B256::from)
}

/// The smallest key after every key starting with `prefix` (the prefix read as a big-endian
/// number plus one, dropping trailing `0xff` bytes), or `None` when no key follows.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nibbles() -> impl Strategy<Value = Nibbles> {
        proptest::collection::vec(0u8..16, 0..=64).prop_map(Nibbles::from_nibbles)
    }

    fn owner() -> impl Strategy<Value = B256> {
        // Few distinct owners, so equal owners with different paths are common.
        prop_oneof![
            Just(B256::ZERO),
            Just(B256::repeat_byte(0x11)),
            any::<[u8; 32]>().prop_map(B256::from)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn node_key_order_is_owner_then_nibble_order(
            (owner_a, path_a) in (owner(), nibbles()), (owner_b, path_b) in (owner(), nibbles()),
        ) {
            let by_bytes = node_key(&owner_a, &path_a).cmp(&node_key(&owner_b, &path_b));
            prop_assert_eq!(by_bytes, (owner_a, path_a).cmp(&(owner_b, path_b)));
            prop_assert_eq!(split_node_key(&node_key(&owner_a, &path_a)), Some((owner_a, path_a)));
        }

        #[test]
        fn trie_end_bounds_exactly_the_owners_nodes(
            (owner_a, path) in (owner(), nibbles()), owner_b in owner(),
        ) {
            let key = node_key(&owner_a, &path);
            let inside = key >= node_key(&owner_b, &Nibbles::new()) && key < node_trie_end(&owner_b);
            prop_assert_eq!(inside, owner_a == owner_b);
        }

        #[test]
        fn prefix_end_follows_every_extension(prefix in proptest::collection::vec(any::<u8>(), 0..4), tail in proptest::collection::vec(any::<u8>(), 0..4), other in proptest::collection::vec(any::<u8>(), 0..6)) {
            let mut extended = prefix.clone();
            extended.extend(&tail);
            match prefix_end(&prefix) {
                Some(end) => {
                    prop_assert!(extended < end);
                    // Anything at or past the end does not start with the prefix.
                    if other >= end { prop_assert!(!other.starts_with(&prefix)); }
                    if other >= prefix && other < end { prop_assert!(other.starts_with(&prefix)); }
                }
                None => prop_assert!(prefix.iter().all(|byte| *byte == 0xff)),
            }
        }
    }

    #[test]
    fn tables_are_listed_in_discriminant_order() {
        // Backends index per-table handles by `table as usize`.
        for (index, table) in Table::ALL.iter().enumerate() {
            assert_eq!(*table as usize, index);
        }
    }

    #[test]
    fn split_rejects_what_the_layout_never_writes() {
        assert_eq!(split_node_key(&[0u8; 31]), None);
        let mut key = node_key(&B256::ZERO, &Nibbles::from_nibbles([1, 2]));
        key.push(0x10);
        assert_eq!(split_node_key(&key), None);
        assert_eq!(split_slot_key(&[0u8; 63]), None);
        assert_eq!(hash_key(&[0u8; 33]), None);
    }
}
