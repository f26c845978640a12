//! Ranges of a trie's paths to delete: what a healed node says is no longer part of the trie.
//!
//! Paths are ordered lexicographically by nibble (a prefix before its extensions), so every
//! path starting with a prefix `p` lies in `p..succ(p)`, where `succ(p)` is the smallest path
//! after all of them. A flat key (32 bytes, 64 nibbles) is a path of full length in the same
//! order, which lets one range name both the stored nodes and the flat entries under a subtree.

use alloy_primitives::B256;
use nybbles::Nibbles;

/// Every stored trie node and flat entry of one trie whose path lies in `from..to` (`to`
/// exclusive; `None` is the end of the key space), to delete.
///
/// For the account trie (`owner` zero) the flat entries are accounts, and the range also
/// deletes all storage (slots and storage-trie nodes) of every owner hash in the range, whether
/// or not a flat account exists for it. For a storage trie the flat entries are the owner's
/// slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrunedRange {
    /// The account hash owning a storage trie, or `B256::ZERO` for the account trie.
    pub owner: B256,
    /// The first path of the range (inclusive).
    pub from: Nibbles,
    /// The end of the range (exclusive), or `None` for the end of the key space.
    pub to: Option<Nibbles>,
}

impl PrunedRange {
    /// Every path starting with `prefix` (the prefix itself included).
    pub fn subtree(owner: B256, prefix: Nibbles) -> Self {
        Self { owner, from: prefix, to: successor_prefix(&prefix) }
    }

    /// Every path strictly below `prefix` (the prefix itself excluded). Below a complete
    /// 64-nibble key there is nothing: the range is empty.
    pub fn below(owner: B256, prefix: Nibbles) -> Self {
        if prefix.len() >= 64 {
            return Self { owner, from: prefix, to: Some(prefix) };
        }
        let mut from = prefix;
        from.push(0);
        Self { owner, from, to: successor_prefix(&prefix) }
    }

    /// Whether `path` lies in the range.
    pub fn contains(&self, path: &Nibbles) -> bool {
        *path >= self.from && self.to.is_none_or(|to| *path < to)
    }

    /// Whether the flat key `key` lies in the range.
    pub fn contains_key(&self, key: &B256) -> bool {
        self.contains(&Nibbles::unpack(key))
    }

    /// The range as flat keys: `first..end` (`end` exclusive, `None` past the last key).
    /// A flat key lies in the range exactly when it lies in these bounds.
    pub fn key_bounds(&self) -> (B256, Option<B256>) {
        (pad_key(&self.from), self.to.as_ref().map(pad_key))
    }

    /// Whether the range holds no path at all.
    pub fn is_empty(&self) -> bool {
        self.to.is_some_and(|to| to <= self.from)
    }
}

/// The smallest path after every path starting with `prefix`: the prefix without its trailing
/// `f` nibbles, last nibble incremented. `None` when no path follows (the prefix is empty or all
/// `f`).
pub fn successor_prefix(prefix: &Nibbles) -> Option<Nibbles> {
    let mut next = *prefix;
    while let Some(last) = next.last() {
        next.truncate(next.len() - 1);
        if last < 0xf {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

/// The 32-byte key whose nibbles start with `path` (at most 64 nibbles used) padded with zeros.
fn pad_key(path: &Nibbles) -> B256 {
    let mut key = [0u8; 32];
    for (index, nibble) in path.iter().take(64).enumerate() {
        key[index / 2] |= if index % 2 == 0 { nibble << 4 } else { nibble };
    }
    B256::from(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nibbles(max: usize) -> impl Strategy<Value = Nibbles> {
        proptest::collection::vec(0u8..16, 0..max).prop_map(Nibbles::from_nibbles)
    }

    proptest! {
        #[test]
        fn subtree_holds_exactly_the_paths_with_the_prefix(prefix in nibbles(6), path in nibbles(8)) {
            let range = PrunedRange::subtree(B256::ZERO, prefix);
            prop_assert_eq!(range.contains(&path), path.starts_with(&prefix));
            let below = PrunedRange::below(B256::ZERO, prefix);
            prop_assert_eq!(below.contains(&path), path.starts_with(&prefix) && path != prefix);
        }

        #[test]
        fn key_bounds_agree_with_path_order(prefix in nibbles(5), key in any::<[u8; 32]>()) {
            let key = B256::from(key);
            let range = PrunedRange::subtree(B256::ZERO, prefix);
            let (first, end) = range.key_bounds();
            let in_bounds = key >= first && end.is_none_or(|end| key < end);
            prop_assert_eq!(in_bounds, range.contains_key(&key));
            prop_assert_eq!(in_bounds, Nibbles::unpack(key).starts_with(&prefix));
        }
    }

    #[test]
    fn successor_of_all_f_is_the_end() {
        assert_eq!(successor_prefix(&Nibbles::new()), None);
        assert_eq!(successor_prefix(&Nibbles::from_nibbles([0xf, 0xf])), None);
        assert_eq!(
            successor_prefix(&Nibbles::from_nibbles([0x3, 0xf])),
            Some(Nibbles::from_nibbles([0x4]))
        );
        let range = PrunedRange::subtree(B256::ZERO, Nibbles::new());
        assert!(range.contains_key(&B256::repeat_byte(0xff)) && range.contains_key(&B256::ZERO));
        assert!(!range.is_empty());
    }
}
