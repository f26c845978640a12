//! The snap wire protocol: typed snap/1 and snap/2 messages.

mod messages;

pub use messages::{
    AccountData, AccountRange, BlockAccessLists, ByteCodes, GetAccountRange, GetBlockAccessLists,
    GetByteCodes, GetStorageRanges, GetTrieNodes, MessageId, SnapMessage, SnapVersion,
    StorageRanges, StorageSlot, TrieNodePathSet, TrieNodes,
};
