//! Built-in chains: network id, genesis, fork schedule and bootnodes of Ethereum mainnet,
//! Sepolia and Hoodi, and of Ethereum Classic and its Mordor testnet; and the same description
//! read from a geth `genesis.json`.
//!
//! Sources, newest found (late 2026):
//! - Ethereum fork schedules: the `alloy-hardforks` crate (0.4.11), which carries Osaka, BPO1,
//!   BPO2 on all three networks and Amsterdam on Sepolia (timestamp 1791294816, scheduled in
//!   geth v1.17.6, go-ethereum#35734). Sepolia's merge netsplit block (1735371) enters the fork
//!   id as geth's `MergeNetsplitBlock`; alloy keeps it as the merge's `fork_block`.
//! - Ethereum genesis hashes, network ids and bootnodes: go-ethereum `params/config.go` and
//!   `params/bootnodes.go` at commit 02b73d4ea7181464175e0a6cbecc0a3a2655a562 (2026-08-20).
//! - Ethereum Classic and Mordor: core-geth `params/config_classic.go`, `config_mordor.go`,
//!   `genesis_mordor.go`, `bootnodes_classic.go`, `bootnodes_mordor.go` and the fork lists of
//!   `core/forkid/forkid_test.go` (ECIP-1091: the DAO fork is not a fork of Classic) at commit
//!   4185df450364973bbf99efa3923791f5ba40b351 (2025-01-23). Spiral (block 19,250,000) is the
//!   newest activated Classic fork; no later one is scheduled there.

use std::{path::Path, str::FromStr};

use alloy_hardforks::{EthereumHardfork, ForkCondition};
use alloy_primitives::{B256, U256, b256};
use serde_json::Value;

use crate::{
    chain::{ChainError, HeaderChain, genesis_header},
    eth::ChainInfo,
    forkid::{ForkId, ForkKind, ForkSchedule},
    session::Enode,
};

/// Mainnet's genesis hash (go-ethereum `params.MainnetGenesisHash`; also Classic's).
pub const MAINNET_GENESIS_HASH: B256 =
    b256!("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3");
/// Sepolia's genesis hash (go-ethereum `params.SepoliaGenesisHash`).
pub const SEPOLIA_GENESIS_HASH: B256 =
    b256!("25a5cc106eea7138acab33231d7160d69cb777ee0c2c553fcddf5138993e6dd9");
/// Hoodi's genesis hash (go-ethereum `params.HoodiGenesisHash`).
pub const HOODI_GENESIS_HASH: B256 =
    b256!("bbe312868b376a3001692a646dd2d7d1e4406380dfd86b98aa8a34d1557c971b");
/// Mordor's genesis hash (core-geth `params.MordorGenesisHash`).
pub const MORDOR_GENESIS_HASH: B256 =
    b256!("a68ebde7932eccb177d38d55dcc6461a019dd795a681e59b5a3e4f3a7259a3f1");

/// Mainnet bootnodes (go-ethereum `params.MainnetBootnodes`).
pub const MAINNET_BOOTNODES: &[&str] = &[
    "enode://d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666@18.138.108.67:30303",
    "enode://22a8232c3abc76a16ae9d6c3b164f98775fe226f0917b0ca871128a74a8e9630b458460865bab457221f1d448dd9791d24c4e5d88786180ac185df813a68d4de@3.209.45.79:30303",
    "enode://2b252ab6a1d0f971d9722cb839a42cb81db019ba44c08754628ab4a823487071b5695317c8ccd085219c3a03af063495b2f1da8d18218da2d6a82981b45e6ffc@65.108.70.101:30303",
    "enode://4aeb4ab6c14b23e2c4cfdce879c04b0748a20d8e9b59e25ded2a08143e265c6c25936e74cbc8e641e3312ca288673d91f2f93f8e277de3cfa444ecdaaf982052@157.90.35.166:30303",
];
/// Sepolia bootnodes (go-ethereum `params.SepoliaBootnodes`).
pub const SEPOLIA_BOOTNODES: &[&str] = &[
    "enode://4e5e92199ee224a01932a377160aa432f31d0b351f84ab413a8e0a42f4f36476f8fb1cbe914af0d9aef0d51665c214cf653c651c4bbd9d5550a934f241f1682b@138.197.51.181:30303",
    "enode://143e11fb766781d22d92a2e33f8f104cddae4411a122295ed1fdb6638de96a6ce65f5b7c964ba3763bba27961738fef7d3ecc739268f3e5e771fb4c87b6234ba@146.190.1.103:30303",
    "enode://8b61dc2d06c3f96fddcbebb0efb29d60d3598650275dc469c22229d3e5620369b0d3dedafd929835fe7f489618f19f456fe7c0df572bf2d914a9f4e006f783a9@170.64.250.88:30303",
    "enode://10d62eff032205fcef19497f35ca8477bea0eadfff6d769a147e895d8b2b8f8ae6341630c645c30f5df6e67547c03494ced3d9c5764e8622a26587b083b028e8@139.59.49.206:30303",
    "enode://9e9492e2e8836114cc75f5b929784f4f46c324ad01daf87d956f98b3b6c5fcba95524d6e5cf9861dc96a2c8a171ea7105bb554a197455058de185fa870970c7c@138.68.123.152:30303",
];
/// Hoodi bootnodes (go-ethereum `params.HoodiBootnodes`).
pub const HOODI_BOOTNODES: &[&str] = &[
    "enode://2112dd3839dd752813d4df7f40936f06829fc54c0e051a93967c26e5f5d27d99d886b57b4ffcc3c475e930ec9e79c56ef1dbb7d86ca5ee83a9d2ccf36e5c240c@134.209.138.84:30303",
    "enode://60203fcb3524e07c5df60a14ae1c9c5b24023ea5d47463dfae051d2c9f3219f309657537576090ca0ae641f73d419f53d8e8000d7a464319d4784acd7d2abc41@209.38.124.160:30303",
    "enode://8ae4a48101b2299597341263da0deb47cc38aa4d3ef4b7430b897d49bfa10eb1ccfe1655679b1ed46928ef177fbf21b86837bd724400196c508427a6f41602cd@134.199.184.23:30303",
];
/// Ethereum Classic bootnodes (core-geth `params.ClassicBootnodes`).
pub const CLASSIC_BOOTNODES: &[&str] = &[
    "enode://6b6ea53a498f0895c10269a3a74b777286bd467de6425c3b512740fcc7fbc8cd281dca4ab041dd97d62b38f3d0b5b05e71f48d28a3a2f4b5de40fe1f6bf05531@157.245.77.211:30303",
    "enode://16264d48df59c3492972d96bf8a39dd38bab165809a3a4bb161859a337de38b2959cc98efea94355c7a7177cd020867c683aed934dbd6bc937d9e6b61d94d8d9@64.225.0.245:30303",
    "enode://55bbc7f0ffa2af2ceca997ec195a98768144a163d389ae87b808dff8a861618405c2582451bbb6022e429e4bcd6b0e895e86160db6e93cdadbcfd80faacf6f06@164.90.144.106:30303",
];
/// Mordor bootnodes (core-geth `params.MordorBootnodes`).
pub const MORDOR_BOOTNODES: &[&str] = &[
    "enode://4539a067ae1f6a7ffac509603ba37baf772fc832880ddc67c53f292b6199fb048267f0311c820bc90bfd39ec663bc6b5256bdf787ec38425c82bde6bc2bcfe3c@24.199.107.164:30303",
];

/// Ethereum Classic's fork blocks as they enter the fork id (core-geth
/// `core/forkid/forkid_test.go`, ECIP-1091): Homestead, Gas Reprice, Die Hard, Gotham,
/// Defuse Difficulty Bomb, Atlantis, Agharta, Phoenix, Thanos, Magneto, Mystique, Spiral.
pub const CLASSIC_FORK_BLOCKS: &[u64] = &[
    1_150_000, 2_500_000, 3_000_000, 5_000_000, 5_900_000, 8_772_000, 9_573_000, 10_500_839,
    11_700_000, 13_189_133, 14_525_000, 19_250_000,
];
/// Mordor's fork blocks (core-geth `core/forkid/forkid_test.go`): Atlantis, Agharta, Phoenix,
/// Thanos, Magneto, Mystique, Spiral.
pub const MORDOR_FORK_BLOCKS: &[u64] =
    &[301_243, 999_983, 2_520_000, 3_985_893, 5_520_000, 9_957_000];

/// A built-in chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NamedChain {
    /// Ethereum mainnet.
    Mainnet,
    /// The Sepolia testnet.
    Sepolia,
    /// The Hoodi testnet.
    Hoodi,
    /// Ethereum Classic.
    Classic,
    /// Mordor, Ethereum Classic's testnet.
    Mordor,
}

/// A chain name that is not built in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown chain {0}; built in: mainnet, sepolia, hoodi, classic, mordor")]
pub struct UnknownChain(pub String);

impl NamedChain {
    /// Every built-in chain, in the order `snap chains` lists them.
    pub const ALL: [Self; 5] =
        [Self::Mainnet, Self::Sepolia, Self::Hoodi, Self::Classic, Self::Mordor];

    /// The name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Mainnet => "mainnet",
            Self::Sepolia => "sepolia",
            Self::Hoodi => "hoodi",
            Self::Classic => "classic",
            Self::Mordor => "mordor",
        }
    }

    /// The chain's description.
    pub fn spec(self) -> ChainSpec {
        let (network_id, genesis_hash, genesis_time, difficulty, bootnodes) = match self {
            // Genesis times and difficulties: go-ethereum `core/genesis.go`
            // (`DefaultGenesisBlock`, `DefaultSepoliaGenesisBlock`, `DefaultHoodiGenesisBlock`),
            // core-geth `params/genesis_mordor.go`.
            Self::Mainnet => (1, MAINNET_GENESIS_HASH, 0, 17_179_869_184_u64, MAINNET_BOOTNODES),
            Self::Sepolia => {
                (11_155_111, SEPOLIA_GENESIS_HASH, 1_633_267_481, 0x20000, SEPOLIA_BOOTNODES)
            }
            Self::Hoodi => (560_048, HOODI_GENESIS_HASH, 1_742_212_800, 1, HOODI_BOOTNODES),
            // Classic keeps network id 1 and mainnet's genesis; its chain id is 61.
            Self::Classic => (1, MAINNET_GENESIS_HASH, 0, 17_179_869_184, CLASSIC_BOOTNODES),
            // Mordor: network id 7, chain id 63.
            Self::Mordor => (7, MORDOR_GENESIS_HASH, 0x5d96_76db, 0x20000, MORDOR_BOOTNODES),
        };
        let forks = match self {
            Self::Mainnet => {
                ethereum_schedule(genesis_hash, genesis_time, &EthereumHardfork::mainnet())
            }
            Self::Sepolia => {
                ethereum_schedule(genesis_hash, genesis_time, &EthereumHardfork::sepolia())
            }
            Self::Hoodi => {
                ethereum_schedule(genesis_hash, genesis_time, &EthereumHardfork::hoodi())
            }
            Self::Classic => ForkSchedule::new(
                genesis_hash,
                genesis_time,
                CLASSIC_FORK_BLOCKS.iter().copied(),
                [],
            ),
            Self::Mordor => ForkSchedule::new(
                genesis_hash,
                genesis_time,
                MORDOR_FORK_BLOCKS.iter().copied(),
                [],
            ),
        };
        let bootnodes = bootnodes
            .iter()
            .map(|url| url.parse().expect("built-in bootnodes are valid enode urls"))
            .collect();
        let amsterdam_time = match self {
            Self::Mainnet => amsterdam(&EthereumHardfork::mainnet()),
            Self::Sepolia => amsterdam(&EthereumHardfork::sepolia()),
            Self::Hoodi => amsterdam(&EthereumHardfork::hoodi()),
            // Classic has no Amsterdam.
            Self::Classic | Self::Mordor => None,
        };
        ChainSpec {
            name: self.name().to_owned(),
            network_id,
            genesis_time,
            genesis_difficulty: U256::from(difficulty),
            forks,
            bootnodes,
            amsterdam_time,
        }
    }
}

impl FromStr for NamedChain {
    type Err = UnknownChain;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|chain| chain.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownChain(name.to_owned()))
    }
}

impl std::fmt::Display for NamedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Amsterdam's activation time in an Ethereum network's schedule as alloy keeps it.
fn amsterdam(forks: &[(EthereumHardfork, ForkCondition)]) -> Option<u64> {
    forks.iter().find_map(|(fork, condition)| match (fork, condition) {
        (EthereumHardfork::Amsterdam, ForkCondition::Timestamp(time)) => Some(*time),
        _ => None,
    })
}

/// The fork schedule of an Ethereum network as alloy keeps it: block forks, time forks, and
/// the merge's fork block where the network announces one (Sepolia's netsplit block).
fn ethereum_schedule(
    genesis: B256,
    genesis_time: u64,
    forks: &[(EthereumHardfork, ForkCondition)],
) -> ForkSchedule {
    let mut blocks = Vec::new();
    let mut times = Vec::new();
    for (_, condition) in forks {
        match *condition {
            ForkCondition::Block(block) => blocks.push(block),
            ForkCondition::TTD { fork_block: Some(block), .. } => blocks.push(block),
            ForkCondition::Timestamp(time) => times.push(time),
            ForkCondition::TTD { fork_block: None, .. } | ForkCondition::Never => {}
        }
    }
    ForkSchedule::new(genesis, genesis_time, blocks, times)
}

/// What a node needs to know about a chain to join it: what goes into Status, and where to
/// find peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSpec {
    /// The chain's name (a built-in name, or the genesis file's).
    pub name: String,
    /// The network id announced in Status.
    pub network_id: u64,
    /// The genesis block's timestamp.
    pub genesis_time: u64,
    /// The genesis block's difficulty (the total difficulty at genesis, eth/68).
    pub genesis_difficulty: U256,
    /// Genesis hash and fork schedule.
    pub forks: ForkSchedule,
    /// Nodes to start discovery from.
    pub bootnodes: Vec<Enode>,
    /// When Amsterdam (EIP-7928 block access lists, and with them snap/2) activates, if it is
    /// scheduled: a unix time.
    pub amsterdam_time: Option<u64>,
}

impl ChainSpec {
    /// The genesis hash.
    pub const fn genesis_hash(&self) -> B256 {
        self.forks.genesis()
    }

    /// What a node that holds only the genesis announces: the genesis as head.
    pub fn chain_info(&self) -> ChainInfo {
        ChainInfo {
            network_id: self.network_id,
            forks: self.forks.clone(),
            head_number: 0,
            head_time: self.genesis_time,
            head_hash: self.genesis_hash(),
            total_difficulty: self.genesis_difficulty,
            earliest_block: 0,
        }
    }

    /// The fork id of a node that has passed every block fork and every time fork up to
    /// `unix_time`: what the chain's up-to-date nodes announce at that time.
    pub fn fork_id_at(&self, unix_time: u64) -> ForkId {
        let last_block = self
            .forks
            .forks()
            .iter()
            .filter(|(kind, _)| *kind == ForkKind::Block)
            .map(|(_, block)| *block)
            .max()
            .unwrap_or(0);
        self.forks.fork_id(last_block, unix_time)
    }

    /// The chain of a geth `genesis.json` (as read from `path`): network id from
    /// `config.chainId` (1 if absent), genesis hash from the genesis header, forks from the
    /// config's `*Block` and `*Time` keys, no bootnodes. Returns the header chain too (the
    /// genesis alone) so a caller can add headers to serve.
    pub fn from_genesis_json(name: &str, json: &Value) -> Result<(Self, HeaderChain), ChainError> {
        let genesis = genesis_header(json)?;
        let genesis_time = genesis.timestamp;
        let genesis_difficulty = genesis.difficulty;
        let chain = HeaderChain::new(genesis, Vec::new())?;
        let forks = ForkSchedule::from_genesis_json(chain.genesis_hash(), json);
        let network_id = json.pointer("/config/chainId").and_then(Value::as_u64).unwrap_or(1);
        let spec = Self {
            name: name.to_owned(),
            network_id,
            genesis_time,
            genesis_difficulty,
            forks,
            bootnodes: Vec::new(),
            amsterdam_time: amsterdam_time(json),
        };
        Ok((spec, chain))
    }
}

/// `config.amsterdamTime` of a geth `genesis.json` (a number or a hex quantity).
pub fn amsterdam_time(json: &Value) -> Option<u64> {
    let value = json.pointer("/config/amsterdamTime")?;
    value.as_u64().or_else(|| {
        value.as_str().and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    })
}

/// What `--chain` names: a built-in chain or a geth `genesis.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainChoice {
    /// A built-in chain.
    Named(NamedChain),
    /// A path to a geth `genesis.json`.
    GenesisFile(std::path::PathBuf),
}

impl ChainChoice {
    /// A built-in name, else a path (a value naming neither an existing file nor a built-in
    /// chain is refused, so a typo in a name is not read as a missing file).
    pub fn parse(value: &str) -> Result<Self, UnknownChain> {
        if let Ok(chain) = value.parse::<NamedChain>() {
            return Ok(Self::Named(chain));
        }
        let path = Path::new(value);
        if path.extension().is_some_and(|ext| ext == "json") || path.exists() {
            return Ok(Self::GenesisFile(path.to_owned()));
        }
        Err(UnknownChain(value.to_owned()))
    }
}

#[cfg(test)]
#[path = "chains_tests.rs"]
mod tests;
