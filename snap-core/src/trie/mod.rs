//! Merkle-Patricia trie work that snap sync needs beyond what `alloy-trie` offers: building the
//! path-keyed nodes of a trie, range-proof verification and trie generation from verified ranges.

mod build;
pub mod generate;
pub mod proof;
mod prune;
mod stack;
mod verified;

pub(crate) use build::node_hash;
pub use build::{BuiltTrie, build_trie};
pub use generate::{GenerateError, NodeChanges, NodeKey, TrieGenerator};
pub use proof::{ProofError, verify_range, verify_range_nodes};
pub use prune::{PrunedRange, successor_prefix};
pub use verified::VerifiedNodes;
