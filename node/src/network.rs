//! Which chain a node talks about in Status: a built-in chain (mainnet, Sepolia, Hoodi,
//! Classic, Mordor), a geth `genesis.json` (with an optional exported `chain.rlp` to serve
//! headers), or the built-in demo network whose one block holds the served state's root.

use std::path::Path;

use alloy_consensus::Header;
use alloy_primitives::{B256, U256, keccak256};
use serde_json::Value;
use snap_core::wire::SnapVersion;
use snap_tokio_adapter::{
    chain::{ChainError, HeaderChain, decode_chain_file, genesis_header},
    chains::ChainSpec,
    eth::ChainInfo,
    forkid::ForkSchedule,
};

/// The demo network's id (`"snap"` in ASCII).
pub const DEMO_NETWORK_ID: u64 = 0x736e_6170;

/// The genesis hash both sides of the demo network announce (a fixed constant: the demo chain
/// is one made-up block per served state, so its real hash differs between states).
pub fn demo_genesis() -> B256 {
    keccak256(b"snap demo network")
}

/// Why a network description could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// A file could not be read.
    #[error("reading {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: std::io::Error,
    },
    /// The genesis file is not JSON.
    #[error("genesis is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The genesis or chain does not load.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// What a node announces and, when it has them, the headers it serves.
#[derive(Clone, Debug)]
pub struct Network {
    /// What goes into our Status and what peers' Status is checked against.
    pub info: ChainInfo,
    /// The headers served to peers (`None`: header requests get empty replies).
    pub chain: Option<HeaderChain>,
    /// When Amsterdam activates (a unix time), if scheduled: from then on a syncing node
    /// offers snap/2 beside snap/1 ([`Network::sync_snap_versions`]).
    pub amsterdam_time: Option<u64>,
}

fn read(path: &Path) -> Result<Vec<u8>, NetworkError> {
    std::fs::read(path)
        .map_err(|error| NetworkError::Io { path: path.display().to_string(), error })
}

impl Network {
    /// The demo network as a syncing client sees it (no headers of its own).
    pub fn demo_client() -> Self {
        Self {
            info: ChainInfo {
                network_id: DEMO_NETWORK_ID,
                forks: ForkSchedule::new(demo_genesis(), 0, [], []),
                head_number: 0,
                head_time: 0,
                head_hash: demo_genesis(),
                total_difficulty: U256::ZERO,
                earliest_block: 0,
            },
            chain: None,
            amsterdam_time: None,
        }
    }

    /// The demo network as a node serving the state with root `state_root` sees it: one block
    /// (number 0) whose state root is `state_root`, announced as the head.
    pub fn demo_server(state_root: B256) -> Self {
        let header = Header { state_root, ..Header::default() };
        let chain =
            HeaderChain::new(header, Vec::new()).expect("a lone block numbered 0 is a valid chain");
        let mut network = Self::demo_client();
        network.info.head_hash = chain.head_hash();
        network.chain = Some(chain);
        network
    }

    /// A built-in chain (or any [`ChainSpec`]) as a node holding its genesis announces it;
    /// no headers are served.
    pub fn from_spec(spec: &ChainSpec) -> Self {
        Self { info: spec.chain_info(), chain: None, amsterdam_time: spec.amsterdam_time }
    }

    /// The network of a geth `genesis.json`, with the headers of `chain_rlp` when given (then
    /// served, and announced as our head). The network id is the genesis `chainId` unless
    /// `network_id` overrides it.
    pub fn from_genesis(
        genesis: &Path,
        chain_rlp: Option<&Path>,
        network_id: Option<u64>,
    ) -> Result<Self, NetworkError> {
        let json: Value = serde_json::from_slice(&read(genesis)?)?;
        let blocks = match chain_rlp {
            Some(path) => decode_chain_file(&read(path)?)?,
            None => Vec::new(),
        };
        let chain = HeaderChain::new(genesis_header(&json)?, blocks)?;
        let forks = ForkSchedule::from_genesis_json(chain.genesis_hash(), &json);
        let network_id = network_id
            .or_else(|| json.pointer("/config/chainId").and_then(Value::as_u64))
            .unwrap_or(1);
        let info = chain.chain_info(network_id, forks);
        let amsterdam_time = snap_tokio_adapter::chains::amsterdam_time(&json);
        Ok(Self { info, chain: chain_rlp.map(|_| chain), amsterdam_time })
    }

    /// The snap versions a syncing node offers at `unix_time`: snap/1, and snap/2 as well once
    /// Amsterdam is active. devp2p settles each session on the highest version both sides
    /// offer, and only snap/1 carries `GetTrieNodes`: offering snap/2 before there are block
    /// access lists to catch up with would leave every peer that speaks both unable to heal us.
    pub fn sync_snap_versions(&self, unix_time: u64) -> Vec<SnapVersion> {
        match self.amsterdam_time {
            Some(at) if at <= unix_time => vec![SnapVersion::V1, SnapVersion::V2],
            _ => vec![SnapVersion::V1],
        }
    }
}
