//! Typed snap/1 and snap/2 messages, field for field as the snap spec lays them out.

use alloy_primitives::{B256, Bytes};
use alloy_trie::TrieAccount;

/// A negotiated snap protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SnapVersion {
    /// snap/1: ranges, bytecodes and trie nodes (message ids 0x00..=0x07).
    V1,
    /// snap/2 (EIP-8189): ranges, bytecodes and block access lists (0x00..=0x05, 0x08, 0x09).
    V2,
}

impl SnapVersion {
    /// The version number as negotiated in the devp2p `Hello` capability list.
    pub const fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// The number of message ids this version reserves after its capability offset.
    pub const fn message_space(self) -> u8 {
        match self {
            Self::V1 => 8,
            Self::V2 => 10,
        }
    }

    /// Whether `id` is a message of this version.
    pub const fn supports(self, id: MessageId) -> bool {
        match id {
            MessageId::GetTrieNodes | MessageId::TrieNodes => matches!(self, Self::V1),
            MessageId::GetBlockAccessLists | MessageId::BlockAccessLists => {
                matches!(self, Self::V2)
            }
            _ => true,
        }
    }
}

/// The message id of a snap message, relative to the protocol's capability offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum MessageId {
    /// 0x00, request.
    GetAccountRange = 0x00,
    /// 0x01, response.
    AccountRange = 0x01,
    /// 0x02, request.
    GetStorageRanges = 0x02,
    /// 0x03, response.
    StorageRanges = 0x03,
    /// 0x04, request.
    GetByteCodes = 0x04,
    /// 0x05, response.
    ByteCodes = 0x05,
    /// 0x06, request (snap/1 only).
    GetTrieNodes = 0x06,
    /// 0x07, response (snap/1 only).
    TrieNodes = 0x07,
    /// 0x08, request (snap/2 only).
    GetBlockAccessLists = 0x08,
    /// 0x09, response (snap/2 only).
    BlockAccessLists = 0x09,
}

impl MessageId {
    /// Every message id, in numeric order.
    pub const ALL: [Self; 10] = [
        Self::GetAccountRange,
        Self::AccountRange,
        Self::GetStorageRanges,
        Self::StorageRanges,
        Self::GetByteCodes,
        Self::ByteCodes,
        Self::GetTrieNodes,
        Self::TrieNodes,
        Self::GetBlockAccessLists,
        Self::BlockAccessLists,
    ];

    /// The id for a raw message code, if it names a snap message of any version.
    pub const fn from_u8(code: u8) -> Option<Self> {
        if (code as usize) < Self::ALL.len() { Some(Self::ALL[code as usize]) } else { None }
    }

    /// Whether this is a request (even ids) rather than a response (odd ids).
    pub const fn is_request(self) -> bool {
        (self as u8).is_multiple_of(2)
    }

    /// The response id answering this request id, or `None` for a response id.
    pub const fn response(self) -> Option<Self> {
        if self.is_request() { Self::from_u8(self as u8 + 1) } else { None }
    }
}

/// `GetAccountRange` (0x00): `[reqID, rootHash, startingHash, limitHash, responseBytes]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetAccountRange {
    /// Request id, echoed in the response.
    pub request_id: u64,
    /// State root the range is requested against.
    pub root: B256,
    /// First account hash of the range (inclusive).
    pub origin: B256,
    /// Last account hash of interest; the server stops at the first account at or past it.
    pub limit: B256,
    /// Soft limit on the response size in bytes.
    pub response_bytes: u64,
}

/// One account of an [`AccountRange`]: its hash and its body.
///
/// On the wire the body is the slim account RLP (empty storage root and empty code hash travel
/// as empty strings); here it is the full [`TrieAccount`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountData {
    /// The account's key in the state trie: keccak256 of its address.
    pub hash: B256,
    /// The account body.
    pub account: TrieAccount,
}

/// `AccountRange` (0x01): `[reqID, [[accHash, accBody], ...], [proofNode, ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountRange {
    /// The id of the request this answers.
    pub request_id: u64,
    /// Consecutive accounts, strictly increasing by hash.
    pub accounts: Vec<AccountData>,
    /// Merkle proof nodes for the origin and the last returned account, in any order.
    pub proof: Vec<Bytes>,
}

/// `GetStorageRanges` (0x02):
/// `[reqID, rootHash, [accountHash, ...], startingHash, limitHash, responseBytes]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetStorageRanges {
    /// Request id, echoed in the response.
    pub request_id: u64,
    /// State root the storage is requested against.
    pub root: B256,
    /// Accounts whose storage is requested, in order.
    pub account_hashes: Vec<B256>,
    /// First slot hash for the first account, as a byte string; empty means absent (zero).
    pub origin: Bytes,
    /// Last slot hash of interest for the first account; empty means absent (the maximum hash).
    pub limit: Bytes,
    /// Soft limit on the response size in bytes.
    pub response_bytes: u64,
}

/// One storage slot of a [`StorageRanges`] list: its hash and its RLP-encoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageSlot {
    /// The slot's key in the storage trie: keccak256 of the raw slot index.
    pub hash: B256,
    /// The slot value as stored in the trie leaf (the RLP encoding of the trimmed value).
    pub value: Bytes,
}

/// `StorageRanges` (0x03): `[reqID, [[[slotHash, slotData], ...], ...], [proofNode, ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageRanges {
    /// The id of the request this answers.
    pub request_id: u64,
    /// One list per answered account, each strictly increasing by slot hash.
    pub slots: Vec<Vec<StorageSlot>>,
    /// Proof nodes for the last list only (origin and last slot), in any order.
    pub proof: Vec<Bytes>,
}

/// `GetByteCodes` (0x04): `[reqID, [codeHash, ...], responseBytes]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetByteCodes {
    /// Request id, echoed in the response.
    pub request_id: u64,
    /// Code hashes requested, in order.
    pub hashes: Vec<B256>,
    /// Soft limit on the response size in bytes.
    pub response_bytes: u64,
}

/// `ByteCodes` (0x05): `[reqID, [code, ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ByteCodes {
    /// The id of the request this answers.
    pub request_id: u64,
    /// Codes in request order; unavailable ones are skipped.
    pub codes: Vec<Bytes>,
}

/// One path set of a [`GetTrieNodes`] request: `[accountPath, storagePath...]`.
///
/// A one-element set addresses an account-trie node by its compact-encoded path. In a longer
/// set the first element is the 32-byte account hash and the rest are compact-encoded paths in
/// that account's storage trie. Elements are kept exactly as they travel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrieNodePathSet(pub Vec<Bytes>);

/// `GetTrieNodes` (0x06, snap/1): `[reqID, rootHash, [[accPath, slotPath...], ...], bytes]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetTrieNodes {
    /// Request id, echoed in the response.
    pub request_id: u64,
    /// State root the nodes are requested against.
    pub root: B256,
    /// Path sets, in order.
    pub paths: Vec<TrieNodePathSet>,
    /// Soft limit on the response size in bytes.
    pub response_bytes: u64,
}

/// `TrieNodes` (0x07, snap/1): `[reqID, [node, ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrieNodes {
    /// The id of the request this answers.
    pub request_id: u64,
    /// RLP-encoded trie nodes in request order (an empty item for a path that does not exist).
    pub nodes: Vec<Bytes>,
}

/// `GetBlockAccessLists` (0x08, snap/2): `[reqID, [blockHash, ...], responseBytes]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetBlockAccessLists {
    /// Request id, echoed in the response.
    pub request_id: u64,
    /// Hashes of the blocks whose access lists are requested, in order.
    pub block_hashes: Vec<B256>,
    /// Soft limit on the response size in bytes.
    pub response_bytes: u64,
}

/// `BlockAccessLists` (0x09, snap/2): `[reqID, [bal, ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockAccessLists {
    /// The id of the request this answers.
    pub request_id: u64,
    /// Each block's access list as its raw RLP encoding, in request order; an empty entry means
    /// the server does not have that block's list.
    pub access_lists: Vec<Bytes>,
}

/// Any snap message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapMessage {
    /// 0x00.
    GetAccountRange(GetAccountRange),
    /// 0x01.
    AccountRange(AccountRange),
    /// 0x02.
    GetStorageRanges(GetStorageRanges),
    /// 0x03.
    StorageRanges(StorageRanges),
    /// 0x04.
    GetByteCodes(GetByteCodes),
    /// 0x05.
    ByteCodes(ByteCodes),
    /// 0x06, snap/1 only.
    GetTrieNodes(GetTrieNodes),
    /// 0x07, snap/1 only.
    TrieNodes(TrieNodes),
    /// 0x08, snap/2 only.
    GetBlockAccessLists(GetBlockAccessLists),
    /// 0x09, snap/2 only.
    BlockAccessLists(BlockAccessLists),
}

impl SnapMessage {
    /// The message's id.
    pub const fn id(&self) -> MessageId {
        match self {
            Self::GetAccountRange(_) => MessageId::GetAccountRange,
            Self::AccountRange(_) => MessageId::AccountRange,
            Self::GetStorageRanges(_) => MessageId::GetStorageRanges,
            Self::StorageRanges(_) => MessageId::StorageRanges,
            Self::GetByteCodes(_) => MessageId::GetByteCodes,
            Self::ByteCodes(_) => MessageId::ByteCodes,
            Self::GetTrieNodes(_) => MessageId::GetTrieNodes,
            Self::TrieNodes(_) => MessageId::TrieNodes,
            Self::GetBlockAccessLists(_) => MessageId::GetBlockAccessLists,
            Self::BlockAccessLists(_) => MessageId::BlockAccessLists,
        }
    }

    /// Sets the request id carried by the message (the same request sent again under a new
    /// id, to another peer).
    pub const fn set_request_id(&mut self, id: u64) {
        match self {
            Self::GetAccountRange(m) => m.request_id = id,
            Self::AccountRange(m) => m.request_id = id,
            Self::GetStorageRanges(m) => m.request_id = id,
            Self::StorageRanges(m) => m.request_id = id,
            Self::GetByteCodes(m) => m.request_id = id,
            Self::ByteCodes(m) => m.request_id = id,
            Self::GetTrieNodes(m) => m.request_id = id,
            Self::TrieNodes(m) => m.request_id = id,
            Self::GetBlockAccessLists(m) => m.request_id = id,
            Self::BlockAccessLists(m) => m.request_id = id,
        }
    }

    /// The request id carried by the message.
    pub const fn request_id(&self) -> u64 {
        match self {
            Self::GetAccountRange(m) => m.request_id,
            Self::AccountRange(m) => m.request_id,
            Self::GetStorageRanges(m) => m.request_id,
            Self::StorageRanges(m) => m.request_id,
            Self::GetByteCodes(m) => m.request_id,
            Self::ByteCodes(m) => m.request_id,
            Self::GetTrieNodes(m) => m.request_id,
            Self::TrieNodes(m) => m.request_id,
            Self::GetBlockAccessLists(m) => m.request_id,
            Self::BlockAccessLists(m) => m.request_id,
        }
    }
}
