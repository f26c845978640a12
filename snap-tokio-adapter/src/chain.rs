//! A served header chain: the genesis header built from a geth `genesis.json`, the headers of
//! an exported `chain.rlp`, and the answers to GetBlockHeaders.

use std::collections::HashMap;

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_primitives::{Address, B64, B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use serde_json::Value;
use sha2::{Digest, Sha256};
use snap_core::dump::StateDump;

use crate::{
    eth::{BlockId, ChainInfo, GetBlockHeaders, MAX_HEADERS},
    forkid::ForkSchedule,
    p2p::list_payload,
};

/// Errors loading a chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A genesis field that is missing or malformed.
    #[error("genesis field {0} is missing or malformed")]
    GenesisField(&'static str),
    /// The genesis alloc does not parse.
    #[error("genesis alloc: {0}")]
    Alloc(String),
    /// A block of the chain file that does not decode.
    #[error("block {index} of the chain file: {error}")]
    Block {
        /// Position in the file.
        index: usize,
        /// The RLP error.
        error: alloy_rlp::Error,
    },
    /// Headers that do not form a chain from the genesis.
    #[error("header {0} does not follow its predecessor")]
    Unlinked(u64),
}

fn quantity(json: &Value, key: &'static str) -> Result<u64, ChainError> {
    match json.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_u64().ok_or(ChainError::GenesisField(key)),
        Some(Value::String(s)) => {
            let digits = s.trim_start_matches("0x");
            if digits.is_empty() {
                return Ok(0);
            }
            u64::from_str_radix(digits, 16).map_err(|_| ChainError::GenesisField(key))
        }
        Some(_) => Err(ChainError::GenesisField(key)),
    }
}

fn hex_field(json: &Value, key: &'static str) -> Result<Vec<u8>, ChainError> {
    match json.get(key).and_then(Value::as_str) {
        None => Ok(Vec::new()),
        Some(s) => {
            ::hex::decode(s.trim_start_matches("0x")).map_err(|_| ChainError::GenesisField(key))
        }
    }
}

fn fixed<const N: usize>(json: &Value, key: &'static str) -> Result<[u8; N], ChainError> {
    let bytes = hex_field(json, key)?;
    if bytes.is_empty() {
        return Ok([0; N]);
    }
    bytes.try_into().map_err(|_| ChainError::GenesisField(key))
}

/// Whether the fork named `key` in `config` is active at genesis.
fn active_at_genesis(config: &Value, key: &str, genesis_time: u64) -> bool {
    config.get(key).and_then(Value::as_u64).is_some_and(|at| at <= genesis_time)
}

/// Builds the genesis header of a geth `genesis.json`: the state root from the alloc, and
/// the optional fields of every fork active at genesis (London's base fee, Shanghai's
/// withdrawals root, Cancun's blob fields and beacon root, Prague's requests hash, Amsterdam's
/// block access list hash and slot number).
pub fn genesis_header(json: &Value) -> Result<Header, ChainError> {
    let config = json.get("config").ok_or(ChainError::GenesisField("config"))?;
    let timestamp = quantity(json, "timestamp")?;
    let state_root = StateDump::from_genesis(&json.to_string())
        .map_err(|e| ChainError::Alloc(e.to_string()))?
        .state_root();
    let london = config.get("londonBlock").and_then(Value::as_u64) == Some(0);
    let base_fee = match json.get("baseFeePerGas") {
        Some(Value::String(_) | Value::Number(_)) => quantity(json, "baseFeePerGas")?,
        _ => 1_000_000_000,
    };
    let cancun = active_at_genesis(config, "cancunTime", timestamp);
    let amsterdam = active_at_genesis(config, "amsterdamTime", timestamp);
    let empty_root = alloy_trie::EMPTY_ROOT_HASH;
    Ok(Header {
        parent_hash: B256::from(fixed::<32>(json, "parentHash")?),
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: Address::from(fixed::<20>(json, "coinbase")?),
        state_root,
        transactions_root: empty_root,
        receipts_root: empty_root,
        logs_bloom: Default::default(),
        difficulty: U256::from(quantity(json, "difficulty")?),
        number: quantity(json, "number")?,
        gas_limit: quantity(json, "gasLimit")?,
        gas_used: quantity(json, "gasUsed")?,
        timestamp,
        extra_data: Bytes::from(hex_field(json, "extraData")?),
        mix_hash: B256::from(fixed::<32>(json, "mixHash")?),
        nonce: B64::from(quantity(json, "nonce")?),
        base_fee_per_gas: london.then_some(base_fee),
        withdrawals_root: active_at_genesis(config, "shanghaiTime", timestamp)
            .then_some(empty_root),
        blob_gas_used: cancun.then(|| quantity(json, "blobGasUsed")).transpose()?,
        excess_blob_gas: cancun.then(|| quantity(json, "excessBlobGas")).transpose()?,
        parent_beacon_block_root: cancun.then_some(B256::ZERO),
        requests_hash: active_at_genesis(config, "pragueTime", timestamp)
            .then(|| B256::from(<[u8; 32]>::from(Sha256::digest([])))),
        // Amsterdam: the genesis block changes no state, so it commits to the empty access
        // list, keccak256(rlp([])); its slot number is the genesis' own, 0 when absent.
        block_access_list_hash: amsterdam.then(|| keccak256([alloy_rlp::EMPTY_LIST_CODE])),
        slot_number: amsterdam.then(|| quantity(json, "slotNumber")).transpose()?,
    })
}

/// The headers of the blocks in an exported chain file (concatenated block RLPs).
pub fn decode_chain_file(mut bytes: &[u8]) -> Result<Vec<Header>, ChainError> {
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let index = headers.len();
        let mut block =
            list_payload(&mut bytes).map_err(|error| ChainError::Block { index, error })?;
        let header =
            Header::decode(&mut block).map_err(|error| ChainError::Block { index, error })?;
        headers.push(header);
    }
    Ok(headers)
}

/// A contiguous header chain from genesis, served by number or hash.
#[derive(Clone, Debug)]
pub struct HeaderChain {
    headers: Vec<Header>,
    raw: Vec<Bytes>,
    hashes: Vec<B256>,
    by_hash: HashMap<B256, u64>,
}

impl HeaderChain {
    /// A chain from its genesis and the following headers; they must link by parent hash
    /// and count up from 0.
    pub fn new(genesis: Header, rest: Vec<Header>) -> Result<Self, ChainError> {
        let mut chain = Self {
            headers: Vec::new(),
            raw: Vec::new(),
            hashes: Vec::new(),
            by_hash: HashMap::new(),
        };
        for header in std::iter::once(genesis).chain(rest) {
            let number = chain.headers.len() as u64;
            let links = chain.hashes.last().is_none_or(|parent| *parent == header.parent_hash);
            if header.number != number || !links {
                return Err(ChainError::Unlinked(header.number));
            }
            let raw = Bytes::from(alloy_rlp::encode(&header));
            let hash = keccak256(&raw);
            chain.by_hash.insert(hash, number);
            chain.hashes.push(hash);
            chain.raw.push(raw);
            chain.headers.push(header);
        }
        Ok(chain)
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> B256 {
        self.hashes.first().copied().unwrap_or_default()
    }

    /// The head header.
    pub fn head(&self) -> &Header {
        self.headers.last().expect("a chain holds at least its genesis")
    }

    /// The head's hash.
    pub fn head_hash(&self) -> B256 {
        self.hashes.last().copied().unwrap_or_default()
    }

    /// The header at `number`.
    pub fn header(&self, number: u64) -> Option<&Header> {
        self.headers.get(usize::try_from(number).ok()?)
    }

    /// The hash of the header at `number`.
    pub fn hash(&self, number: u64) -> Option<B256> {
        self.hashes.get(usize::try_from(number).ok()?).copied()
    }

    /// What a node serving this chain announces in Status.
    pub fn chain_info(&self, network_id: u64, forks: ForkSchedule) -> ChainInfo {
        let head = self.head();
        ChainInfo {
            network_id,
            forks,
            head_number: head.number,
            head_time: head.timestamp,
            head_hash: self.head_hash(),
            total_difficulty: self
                .headers
                .iter()
                .map(|h| h.difficulty)
                .fold(U256::ZERO, U256::saturating_add),
            earliest_block: 0,
        }
    }

    /// The raw headers answering `request` (empty for an unknown start).
    pub fn serve(&self, request: &GetBlockHeaders) -> Vec<Bytes> {
        let first = match request.start {
            BlockId::Hash(hash) => self.by_hash.get(&hash).copied(),
            BlockId::Number(number) => Some(number),
        };
        let Some(first) = first else { return Vec::new() };
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX).min(MAX_HEADERS);
        (0..limit)
            .map_while(|index| {
                let step = request.skip.checked_add(1)?.checked_mul(index as u64)?;
                let number = if request.reverse {
                    first.checked_sub(step)?
                } else {
                    first.checked_add(step)?
                };
                self.raw.get(usize::try_from(number).ok()?).cloned()
            })
            .collect()
    }
}
