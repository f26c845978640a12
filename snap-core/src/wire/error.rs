//! Typed decoding errors of the snap wire codec.

use super::messages::{MessageId, SnapVersion};

/// Why a snap message (or one of its parts) could not be decoded.
///
/// Every variant is the peer's fault: a caller that receives one from a peer's message should
/// treat it as a protocol violation (drop or penalise the peer), except [`Self::EmptyPathSet`]
/// and the other request-side shape errors, which geth answers by disconnecting the requester.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends before an RLP item it announces does.
    #[error("input truncated: an RLP item runs past the end of its enclosing data")]
    Truncated,
    /// An RLP string was found where a list was expected.
    #[error("expected an RLP list for {what}, found a string")]
    ExpectedList {
        /// The field or structure being decoded.
        what: &'static str,
    },
    /// An RLP list was found where a string was expected.
    #[error("expected an RLP string for {what}, found a list")]
    ExpectedString {
        /// The field or structure being decoded.
        what: &'static str,
    },
    /// A list ended before all of its fields were read.
    #[error("{what}: list ends before all its fields")]
    MissingField {
        /// The structure being decoded.
        what: &'static str,
    },
    /// A list has more fields than the structure defines.
    #[error("{what}: list has more fields than expected")]
    ExtraField {
        /// The structure being decoded.
        what: &'static str,
    },
    /// Bytes follow the message's outer RLP list.
    #[error("{count} trailing bytes after the message")]
    TrailingBytes {
        /// How many bytes follow the message.
        count: usize,
    },
    /// An RLP header uses a longer form than needed (long form for a short payload, a length
    /// with leading zero bytes, or a single byte below 0x80 wrapped in a string header).
    #[error("non-canonical RLP header")]
    NonCanonicalHeader,
    /// An integer is encoded with leading zero bytes.
    #[error("non-canonical integer in {what}: leading zero bytes")]
    NonCanonicalInteger {
        /// The field being decoded.
        what: &'static str,
    },
    /// An integer does not fit its field's type.
    #[error("integer too large for {what}")]
    IntegerOverflow {
        /// The field being decoded.
        what: &'static str,
    },
    /// The message is larger than [`Limits::max_message_bytes`](super::Limits).
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// The message's size.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A list has more items than [`Limits::max_list_items`](super::Limits) allows.
    #[error("{what}: more than {max} items")]
    TooManyItems {
        /// The list being decoded.
        what: &'static str,
        /// The configured limit.
        max: usize,
    },
    /// A proof has more nodes than [`Limits::max_proof_nodes`](super::Limits) allows.
    #[error("proof has more than {max} nodes")]
    TooManyProofNodes {
        /// The configured limit.
        max: usize,
    },
    /// The message id is not a snap message of any version.
    #[error("unknown snap message id {0:#04x}")]
    UnknownMessageId(u8),
    /// The message id exists in snap, but not in the negotiated version.
    #[error("message {id:?} does not exist in {version:?}")]
    NotInVersion {
        /// The message id received.
        id: MessageId,
        /// The negotiated version.
        version: SnapVersion,
    },
    /// An `AccountRange`'s account hashes are not strictly increasing.
    #[error("account hash at index {index} is not greater than the one before it")]
    UnsortedAccounts {
        /// Index of the first account whose hash is not greater than its predecessor's.
        index: usize,
    },
    /// A `StorageRanges` slot list's hashes are not strictly increasing.
    #[error("slot hash at index {index} of slot list {list} is not greater than the one before it")]
    UnsortedSlots {
        /// Index of the slot list.
        list: usize,
        /// Index of the first slot whose hash is not greater than its predecessor's.
        index: usize,
    },
    /// An account body is neither a slim nor a full account.
    #[error("bad account body: {0}")]
    BadAccount(&'static str),
    /// A compact (hex-prefix) path is malformed.
    #[error("bad compact path: {0}")]
    BadCompactPath(&'static str),
    /// A hash field does not have 32 bytes (or, for a storage origin/limit, more than 32).
    #[error("{what}: {len} bytes where a 32-byte hash is expected")]
    BadHashLength {
        /// The field being decoded.
        what: &'static str,
        /// The length found.
        len: usize,
    },
    /// A `GetTrieNodes` path set has no elements.
    #[error("empty trie-node path set")]
    EmptyPathSet,
    /// A `BlockAccessLists` entry is neither an RLP list (a BAL) nor the empty string.
    #[error("block access list entry {index} is neither an RLP list nor the empty string")]
    BadBlockAccessList {
        /// Index of the entry in the response.
        index: usize,
    },
}

impl DecodeError {
    /// Maps a low-level `alloy_rlp` header error.
    pub(crate) const fn from_rlp(err: &alloy_rlp::Error) -> Self {
        match err {
            alloy_rlp::Error::InputTooShort => Self::Truncated,
            alloy_rlp::Error::Overflow | alloy_rlp::Error::Custom(_) => {
                Self::IntegerOverflow { what: "RLP length" }
            }
            _ => Self::NonCanonicalHeader,
        }
    }
}
