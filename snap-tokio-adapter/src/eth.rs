//! The `eth` sub-protocol, as much as a snap syncer needs: Status (eth/68 and eth/69),
//! GetBlockHeaders/BlockHeaders with every header verified, and empty answers for the
//! requests we do not serve.

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};

use crate::{
    forkid::{ForkId, ForkIdError, ForkSchedule},
    p2p::list_payload,
};

/// Most headers one BlockHeaders may carry (and that we serve per request), as geth.
pub const MAX_HEADERS: usize = 1024;

/// Status (0x00).
pub const STATUS: u8 = 0x00;
/// NewBlockHashes (0x01), ignored.
pub const NEW_BLOCK_HASHES: u8 = 0x01;
/// Transactions (0x02), ignored.
pub const TRANSACTIONS: u8 = 0x02;
/// GetBlockHeaders (0x03).
pub const GET_BLOCK_HEADERS: u8 = 0x03;
/// BlockHeaders (0x04).
pub const BLOCK_HEADERS: u8 = 0x04;
/// GetBlockBodies (0x05), answered empty.
pub const GET_BLOCK_BODIES: u8 = 0x05;
/// BlockBodies (0x06).
pub const BLOCK_BODIES: u8 = 0x06;
/// NewBlock (0x07), ignored.
pub const NEW_BLOCK: u8 = 0x07;
/// NewPooledTransactionHashes (0x08), ignored.
pub const NEW_POOLED_TRANSACTION_HASHES: u8 = 0x08;
/// GetPooledTransactions (0x09), answered empty.
pub const GET_POOLED_TRANSACTIONS: u8 = 0x09;
/// PooledTransactions (0x0a).
pub const POOLED_TRANSACTIONS: u8 = 0x0a;
/// GetReceipts (0x0f), answered empty.
pub const GET_RECEIPTS: u8 = 0x0f;
/// Receipts (0x10).
pub const RECEIPTS: u8 = 0x10;
/// BlockRangeUpdate (0x11, eth/69), ignored.
pub const BLOCK_RANGE_UPDATE: u8 = 0x11;

/// A supported eth version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EthVersion {
    /// eth/68.
    V68,
    /// eth/69 (EIP-7642): no total difficulty, a served block range, BlockRangeUpdate.
    V69,
}

impl EthVersion {
    /// The version number.
    pub const fn number(self) -> u32 {
        match self {
            Self::V68 => 68,
            Self::V69 => 69,
        }
    }

    /// The version for a number, if supported.
    pub const fn from_number(number: u32) -> Option<Self> {
        match number {
            68 => Some(Self::V68),
            69 => Some(Self::V69),
            _ => None,
        }
    }

    /// Message ids the version reserves (0x00..=0x10, plus 0x11 on eth/69).
    pub const fn message_space(self) -> u8 {
        match self {
            Self::V68 => 17,
            Self::V69 => 18,
        }
    }
}

/// Errors of the eth layer; each means the peer is dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EthError {
    /// RLP that does not decode as the expected message.
    #[error("malformed {0}: {1}")]
    Rlp(&'static str, alloy_rlp::Error),
    /// A Status for another eth version than negotiated.
    #[error("status announces eth/{0}, negotiated another")]
    VersionMismatch(u64),
    /// Another network.
    #[error("network id {0} differs from ours")]
    NetworkMismatch(u64),
    /// Another genesis.
    #[error("genesis {0} differs from ours")]
    GenesisMismatch(B256),
    /// An incompatible fork id.
    #[error(transparent)]
    ForkId(#[from] ForkIdError),
    /// More headers than asked for (or than [`MAX_HEADERS`]).
    #[error("{got} headers for a request of {limit}")]
    TooManyHeaders {
        /// Headers received.
        got: usize,
        /// Headers asked.
        limit: u64,
    },
    /// A header that is not the one asked for at its position.
    #[error("header {index} is not the one requested")]
    UnexpectedHeader {
        /// Position in the reply.
        index: usize,
    },
}

/// What our node announces in Status: network, fork schedule and head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainInfo {
    /// The network id.
    pub network_id: u64,
    /// Genesis hash and forks.
    pub forks: ForkSchedule,
    /// Head block number.
    pub head_number: u64,
    /// Head block timestamp.
    pub head_time: u64,
    /// Head block hash.
    pub head_hash: B256,
    /// Total difficulty at the head (eth/68 only; a post-merge constant).
    pub total_difficulty: U256,
    /// The oldest block whose data we serve (eth/69).
    pub earliest_block: u64,
}

impl ChainInfo {
    /// Our Status for `version` (fields the version does not carry are zero).
    pub fn status(&self, version: EthVersion) -> Status {
        let v69 = version == EthVersion::V69;
        Status {
            version: u64::from(version.number()),
            network_id: self.network_id,
            total_difficulty: if v69 { U256::ZERO } else { self.total_difficulty },
            genesis: self.forks.genesis(),
            fork_id: self.forks.fork_id(self.head_number, self.head_time),
            head_hash: self.head_hash,
            earliest_block: if v69 { self.earliest_block } else { 0 },
            latest_block: if v69 { self.head_number } else { 0 },
        }
    }

    /// Checks a peer's Status: version, network, genesis and fork id (EIP-2124).
    pub fn validate(&self, version: EthVersion, theirs: &Status) -> Result<(), EthError> {
        if theirs.version != u64::from(version.number()) {
            return Err(EthError::VersionMismatch(theirs.version));
        }
        if theirs.network_id != self.network_id {
            return Err(EthError::NetworkMismatch(theirs.network_id));
        }
        if theirs.genesis != self.forks.genesis() {
            return Err(EthError::GenesisMismatch(theirs.genesis));
        }
        self.forks.validate(theirs.fork_id, self.head_number, self.head_time)?;
        Ok(())
    }
}

/// Status (0x00). eth/68: `[version, networkid, td, blockhash, genesis, forkid]`; eth/69:
/// `[version, networkid, genesis, forkid, earliestBlock, latestBlock, latestBlockHash]`.
/// Fields the version lacks are zero after decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Announced eth version.
    pub version: u64,
    /// Network id.
    pub network_id: u64,
    /// Total difficulty (eth/68).
    pub total_difficulty: U256,
    /// Genesis hash.
    pub genesis: B256,
    /// Fork id.
    pub fork_id: ForkId,
    /// Head (eth/68) or latest (eth/69) block hash.
    pub head_hash: B256,
    /// Oldest served block (eth/69).
    pub earliest_block: u64,
    /// Latest block number (eth/69).
    pub latest_block: u64,
}

impl Status {
    /// The message data for `version`.
    pub fn encode_data(&self, version: EthVersion) -> Vec<u8> {
        let mut body = Vec::with_capacity(160);
        self.version.encode(&mut body);
        self.network_id.encode(&mut body);
        match version {
            EthVersion::V68 => {
                self.total_difficulty.encode(&mut body);
                self.head_hash.encode(&mut body);
                self.genesis.encode(&mut body);
                self.fork_id.encode(&mut body);
            }
            EthVersion::V69 => {
                self.genesis.encode(&mut body);
                self.fork_id.encode(&mut body);
                self.earliest_block.encode(&mut body);
                self.latest_block.encode(&mut body);
                self.head_hash.encode(&mut body);
            }
        }
        wrap_list(&body)
    }

    /// Decodes Status in the layout of `version`, ignoring extra list elements.
    pub fn decode_data(version: EthVersion, mut data: &[u8]) -> Result<Self, EthError> {
        let err = |e| EthError::Rlp("status", e);
        let mut p = list_payload(&mut data).map_err(err)?;
        let version_number = u64::decode(&mut p).map_err(err)?;
        let network_id = u64::decode(&mut p).map_err(err)?;
        let mut status = Self {
            version: version_number,
            network_id,
            total_difficulty: U256::ZERO,
            genesis: B256::ZERO,
            fork_id: ForkId { hash: Default::default(), next: 0 },
            head_hash: B256::ZERO,
            earliest_block: 0,
            latest_block: 0,
        };
        match version {
            EthVersion::V68 => {
                status.total_difficulty = U256::decode(&mut p).map_err(err)?;
                status.head_hash = B256::decode(&mut p).map_err(err)?;
                status.genesis = B256::decode(&mut p).map_err(err)?;
                status.fork_id = ForkId::decode(&mut p).map_err(err)?;
            }
            EthVersion::V69 => {
                status.genesis = B256::decode(&mut p).map_err(err)?;
                status.fork_id = ForkId::decode(&mut p).map_err(err)?;
                status.earliest_block = u64::decode(&mut p).map_err(err)?;
                status.latest_block = u64::decode(&mut p).map_err(err)?;
                status.head_hash = B256::decode(&mut p).map_err(err)?;
            }
        }
        Ok(status)
    }
}

fn wrap_list(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 9);
    RlpHeader { list: true, payload_length: body.len() }.encode(&mut out);
    out.extend_from_slice(body);
    out
}

/// Where a header request starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockId {
    /// At the block with this hash.
    Hash(B256),
    /// At this block number.
    Number(u64),
}

/// GetBlockHeaders (0x03): `[request-id, [origin, amount, skip, reverse]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetBlockHeaders {
    /// Request id.
    pub request_id: u64,
    /// First block.
    pub start: BlockId,
    /// Most headers wanted.
    pub limit: u64,
    /// Blocks skipped between consecutive headers.
    pub skip: u64,
    /// Towards lower numbers.
    pub reverse: bool,
}

impl GetBlockHeaders {
    /// The message data.
    pub fn encode_data(&self) -> Vec<u8> {
        let mut query = Vec::with_capacity(48);
        match self.start {
            BlockId::Hash(hash) => hash.encode(&mut query),
            BlockId::Number(number) => number.encode(&mut query),
        }
        self.limit.encode(&mut query);
        self.skip.encode(&mut query);
        self.reverse.encode(&mut query);
        let mut body = Vec::with_capacity(query.len() + 12);
        self.request_id.encode(&mut body);
        body.extend(wrap_list(&query));
        wrap_list(&body)
    }

    /// Decodes the message data.
    pub fn decode_data(mut data: &[u8]) -> Result<Self, EthError> {
        let err = |e| EthError::Rlp("GetBlockHeaders", e);
        let mut p = list_payload(&mut data).map_err(err)?;
        let request_id = u64::decode(&mut p).map_err(err)?;
        let mut q = list_payload(&mut p).map_err(err)?;
        let start = if q.first().copied() == Some(0xa0) {
            BlockId::Hash(B256::decode(&mut q).map_err(err)?)
        } else {
            BlockId::Number(u64::decode(&mut q).map_err(err)?)
        };
        let limit = u64::decode(&mut q).map_err(err)?;
        let skip = u64::decode(&mut q).map_err(err)?;
        let reverse = bool::decode(&mut q).map_err(err)?;
        Ok(Self { request_id, start, limit, skip, reverse })
    }

    /// The block number of the `index`-th header, given the first one's number.
    fn number_at(&self, first: u64, index: usize) -> Option<u64> {
        let step = self.skip.checked_add(1)?.checked_mul(u64::try_from(index).ok()?)?;
        if self.reverse { first.checked_sub(step) } else { first.checked_add(step) }
    }
}

/// A header as received: decoded, with the hash of its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedHeader {
    /// The decoded header (all post-merge fields included).
    pub header: Header,
    /// `keccak256` of the header's RLP as received.
    pub hash: B256,
}

/// BlockHeaders (0x04): `[request-id, [header, ...]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeaders {
    /// Request id.
    pub request_id: u64,
    /// The headers in reply order.
    pub headers: Vec<ReceivedHeader>,
}

impl BlockHeaders {
    /// Encodes a reply from raw header RLPs.
    pub fn encode_raw(request_id: u64, headers: &[Bytes]) -> Vec<u8> {
        let list_len: usize = headers.iter().map(|h| h.len()).sum();
        let mut body = Vec::with_capacity(list_len + 16);
        request_id.encode(&mut body);
        RlpHeader { list: true, payload_length: list_len }.encode(&mut body);
        headers.iter().for_each(|h| body.extend_from_slice(h));
        wrap_list(&body)
    }

    /// Decodes at most [`MAX_HEADERS`] headers, hashing each as received.
    pub fn decode_data(mut data: &[u8]) -> Result<Self, EthError> {
        let err = |e| EthError::Rlp("BlockHeaders", e);
        let mut p = list_payload(&mut data).map_err(err)?;
        let request_id = u64::decode(&mut p).map_err(err)?;
        let mut list = list_payload(&mut p).map_err(err)?;
        let mut headers = Vec::new();
        while !list.is_empty() {
            if headers.len() >= MAX_HEADERS {
                return Err(EthError::TooManyHeaders {
                    got: headers.len() + 1,
                    limit: MAX_HEADERS as u64,
                });
            }
            let before = list;
            let header = Header::decode(&mut list).map_err(err)?;
            let raw = &before[..before.len() - list.len()];
            headers.push(ReceivedHeader { header, hash: keccak256(raw) });
        }
        Ok(Self { request_id, headers })
    }

    /// Checks the reply against its request: at most `limit` headers; the first is the
    /// requested block (by hash, or by number); each following one has the number the
    /// request's skip and direction give; without skip, consecutive headers link by parent
    /// hash, so every header's hash is pinned by its neighbour.
    pub fn verify(&self, request: &GetBlockHeaders) -> Result<(), EthError> {
        if self.headers.len() as u64 > request.limit.min(MAX_HEADERS as u64) {
            return Err(EthError::TooManyHeaders { got: self.headers.len(), limit: request.limit });
        }
        let Some(first) = self.headers.first() else { return Ok(()) };
        let first_ok = match request.start {
            BlockId::Hash(hash) => first.hash == hash,
            BlockId::Number(number) => first.header.number == number,
        };
        if !first_ok {
            return Err(EthError::UnexpectedHeader { index: 0 });
        }
        for (index, pair) in self.headers.windows(2).enumerate() {
            let (a, b) = (&pair[0], &pair[1]);
            let expected = request.number_at(first.header.number, index + 1);
            if expected != Some(b.header.number) {
                return Err(EthError::UnexpectedHeader { index: index + 1 });
            }
            let linked = match (request.skip, request.reverse) {
                (0, false) => b.header.parent_hash == a.hash,
                (0, true) => a.header.parent_hash == b.hash,
                _ => true,
            };
            if !linked {
                return Err(EthError::UnexpectedHeader { index: index + 1 });
            }
        }
        Ok(())
    }
}

/// The request id of an eth or snap request or response (`[request-id, ...]`), read without
/// decoding the rest.
pub fn request_id_of(mut data: &[u8]) -> Option<u64> {
    let mut p = list_payload(&mut data).ok()?;
    u64::decode(&mut p).ok()
}

/// The empty answer to a request we do not serve: `[request-id, []]` as message `response`.
pub fn empty_reply(request_id: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(10);
    request_id.encode(&mut body);
    body.push(alloy_rlp::EMPTY_LIST_CODE);
    wrap_list(&body)
}

/// The response id for a request we answer with an empty list, if it is one.
pub const fn empty_response_for(request: u8) -> Option<u8> {
    match request {
        GET_BLOCK_BODIES => Some(BLOCK_BODIES),
        GET_POOLED_TRANSACTIONS => Some(POOLED_TRANSACTIONS),
        GET_RECEIPTS => Some(RECEIPTS),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::FixedBytes;
    use proptest::prelude::*;

    fn info() -> ChainInfo {
        ChainInfo {
            network_id: 7,
            forks: ForkSchedule::new(B256::repeat_byte(1), 0, [], [60, 120]),
            head_number: 600,
            head_time: 6000,
            head_hash: B256::repeat_byte(2),
            total_difficulty: U256::from(131_072u64),
            earliest_block: 0,
        }
    }

    #[test]
    fn status_round_trips_and_validates_for_both_versions() {
        for version in [EthVersion::V68, EthVersion::V69] {
            let ours = info();
            let status = ours.status(version);
            let decoded =
                Status::decode_data(version, &status.encode_data(version)).expect("decodes");
            assert_eq!(decoded, status, "{version:?}");
            assert_eq!(ours.validate(version, &decoded), Ok(()));
            let other = if version == EthVersion::V68 { EthVersion::V69 } else { EthVersion::V68 };
            assert!(ours.validate(other, &decoded).is_err(), "version checked");
            let wrong_net = Status { network_id: 8, ..decoded.clone() };
            assert_eq!(ours.validate(version, &wrong_net), Err(EthError::NetworkMismatch(8)));
            let wrong_genesis = Status { genesis: B256::ZERO, ..decoded.clone() };
            assert_eq!(
                ours.validate(version, &wrong_genesis),
                Err(EthError::GenesisMismatch(B256::ZERO))
            );
            let wrong_fork =
                Status { fork_id: ForkId { hash: FixedBytes([9; 4]), next: 0 }, ..decoded };
            assert!(matches!(ours.validate(version, &wrong_fork), Err(EthError::ForkId(_))));
        }
        // eth/68 and eth/69 layouts differ: a 69 status does not decode as 68.
        let v69 = info().status(EthVersion::V69).encode_data(EthVersion::V69);
        assert!(Status::decode_data(EthVersion::V68, &v69).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn get_block_headers_round_trips(
            request_id: u64, by_hash: bool, hash: [u8; 32], number: u64, limit: u64, skip: u64, reverse: bool,
        ) {
            let start = if by_hash { BlockId::Hash(B256::from(hash)) } else { BlockId::Number(number) };
            let request = GetBlockHeaders { request_id, start, limit, skip, reverse };
            prop_assert_eq!(GetBlockHeaders::decode_data(&request.encode_data())?, request);
            prop_assert_eq!(request_id_of(&request.encode_data()), Some(request_id));
        }

        #[test]
        fn decoders_never_panic_on_garbage(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = GetBlockHeaders::decode_data(&data);
            let _ = BlockHeaders::decode_data(&data);
            let _ = Status::decode_data(EthVersion::V68, &data);
            let _ = Status::decode_data(EthVersion::V69, &data);
            let _ = request_id_of(&data);
        }
    }

    #[test]
    fn empty_replies_carry_the_request_id() {
        let reply = empty_reply(42);
        assert_eq!(request_id_of(&reply), Some(42));
        assert_eq!(BlockHeaders::decode_data(&reply).expect("decodes").headers, vec![]);
        assert_eq!(empty_response_for(GET_RECEIPTS), Some(RECEIPTS));
        assert_eq!(empty_response_for(TRANSACTIONS), None);
    }
}
