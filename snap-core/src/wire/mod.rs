//! The snap wire protocol: typed snap/1 and snap/2 messages and their bounded RLP codec.
//!
//! - [`messages`](SnapMessage): the typed messages, field for field as the spec lays them out.
//! - Account bodies travel in slim form: [`encode_slim_account`], [`decode_account_body`].
//! - `GetTrieNodes` paths: [`encode_compact`], [`decode_compact`], [`TrieNodePathSet::parse`],
//!   [`sync_path`].
//! - snap/2 BALs are kept as raw RLP; [`verify_bal`] checks one against its header commitment.
//! - Decoding is bounded by [`Limits`] and fails with a typed [`DecodeError`], never a panic.

mod account;
mod bal;
mod codec;
mod error;
mod limits;
mod messages;
mod path;
mod rlp;

pub use account::{decode_account_body, encode_slim_account, slim_account_len};
pub use bal::{BalHashMismatch, verify_bal};
pub use error::DecodeError;
pub use limits::{Limits, MAX_MESSAGE_BYTES, MAX_PROOF_NODES};
pub use messages::{
    AccountData, AccountRange, BlockAccessLists, ByteCodes, GetAccountRange, GetBlockAccessLists,
    GetByteCodes, GetStorageRanges, GetTrieNodes, MessageId, SnapMessage, SnapVersion,
    StorageRanges, StorageSlot, TrieNodePathSet, TrieNodes,
};
pub use path::{PathSetRequest, decode_compact, encode_compact, sync_path, sync_path_from_nibbles};

#[cfg(test)]
mod tests;
