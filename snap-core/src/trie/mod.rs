//! Merkle-Patricia trie work that snap sync needs beyond what `alloy-trie` offers: building the
//! path-keyed nodes of a trie, range-proof verification and trie generation from verified ranges.

mod build;

pub use build::{BuiltTrie, build_trie};
