//! Why a range proof was rejected.

use alloy_primitives::B256;

/// Why a range of leaves was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The number of keys and values differ.
    #[error("inconsistent range: {keys} keys but {values} values")]
    LengthMismatch {
        /// Number of keys.
        keys: usize,
        /// Number of values.
        values: usize,
    },
    /// `keys[index]` is not greater than the key before it.
    #[error("keys not strictly increasing at index {index}")]
    NotIncreasing {
        /// Index of the offending key.
        index: usize,
    },
    /// `values[index]` is empty (a deletion, which a range never carries).
    #[error("empty value at index {index}")]
    EmptyValue {
        /// Index of the offending value.
        index: usize,
    },
    /// The first key is less than the requested origin.
    #[error("range holds keys preceding the origin")]
    KeyBeforeOrigin,
    /// The range is empty, but the proof shows leaves at or after the origin.
    #[error("empty range, but the trie holds entries at or after the origin")]
    MoreEntriesAvailable,
    /// The root rebuilt from the range is not the expected root. (With a proof, subtrees within
    /// the range are rebuilt one by one: `got` and `expected` are then the hashes of one such
    /// subtree.)
    #[error("root mismatch: got {got}, expected {expected}")]
    RootMismatch {
        /// Root rebuilt from the range (and the proof).
        got: B256,
        /// The root it should have.
        expected: B256,
    },
    /// A node needed on an edge path is not in the proof.
    #[error("proof node {hash} missing")]
    MissingNode {
        /// Hash of the missing node.
        hash: B256,
    },
    /// A proof node is not valid RLP.
    #[error("proof node is not valid RLP: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// A proof node is valid RLP but not a well-formed trie node.
    #[error("malformed proof node: {0}")]
    MalformedNode(&'static str),
    /// A branch node carries a value (impossible with 32-byte keys).
    #[error("branch node with a value")]
    BranchValue,
    /// An extension node with an empty key.
    #[error("extension node with an empty key")]
    EmptyExtensionKey,
    /// A node path that does not fit 32-byte keys (a leaf not ending at exactly 64 nibbles, or
    /// an inner node reaching 64 nibbles or more).
    #[error("node path of {len} nibbles does not fit 32-byte keys")]
    InvalidPathLength {
        /// Length in nibbles of the offending path.
        len: usize,
    },
    /// The leaves are not the trie's leaves between the origin and the last key: one is
    /// missing, or one is not in the trie, or a leaf the proof shows within the range differs.
    #[error("range does not match the trie between the origin and the last key")]
    RangeMismatch,
}
