//! EIP-2124 fork identifiers, with the EIP-6122 extension to timestamp-activated forks.

use alloy_primitives::{B256, FixedBytes};
use alloy_rlp::{RlpDecodable, RlpEncodable};

/// Fork numbers at or past this are timestamps rather than block numbers when a peer
/// announces them as its next fork (mainnet's genesis time; block numbers stay far below).
const TIMESTAMP_THRESHOLD: u64 = 1_438_269_973;

/// A fork identifier: CRC32 of the genesis hash and all passed forks, and the next fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct ForkId {
    /// `FORK_HASH`: the IEEE CRC32 checksum, big-endian.
    pub hash: FixedBytes<4>,
    /// `FORK_NEXT`: the next fork's block number or timestamp, 0 if none is known.
    pub next: u64,
}

/// Why a peer's fork id is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForkIdError {
    /// The peer's checksum matches no past or future fork state of ours: another chain, or
    /// local software that is stale.
    #[error("peer fork id {0:?} is incompatible with our chain or our software is stale")]
    LocalIncompatibleOrStale(ForkId),
    /// The peer is on one of our past fork states but does not know the fork that followed.
    #[error("peer fork id {0:?} is stale: it misses a fork we passed")]
    RemoteStale(ForkId),
}

/// A chain's fork schedule: genesis hash and time, block forks and time forks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkSchedule {
    genesis: B256,
    /// Fork points in activation order: sorted, deduplicated block numbers, then sorted,
    /// deduplicated timestamps. Forks active at genesis are left out.
    forks: Vec<(ForkKind, u64)>,
}

/// How a fork activates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ForkKind {
    /// At a block number.
    Block,
    /// At a block timestamp (EIP-6122).
    Time,
}

impl ForkSchedule {
    /// A schedule from its genesis hash and time and its fork activation points. Block forks
    /// at 0 and time forks at or before the genesis time are active from genesis and do not
    /// enter the checksum; duplicates count once.
    pub fn new(
        genesis: B256,
        genesis_time: u64,
        block_forks: impl IntoIterator<Item = u64>,
        time_forks: impl IntoIterator<Item = u64>,
    ) -> Self {
        let mut blocks: Vec<u64> = block_forks.into_iter().filter(|&b| b > 0).collect();
        blocks.sort_unstable();
        blocks.dedup();
        let mut times: Vec<u64> = time_forks.into_iter().filter(|&t| t > genesis_time).collect();
        times.sort_unstable();
        times.dedup();
        let forks = blocks
            .into_iter()
            .map(|b| (ForkKind::Block, b))
            .chain(times.into_iter().map(|t| (ForkKind::Time, t)))
            .collect();
        Self { genesis, forks }
    }

    /// The genesis hash.
    pub const fn genesis(&self) -> B256 {
        self.genesis
    }

    /// The fork points entering the checksum, in order.
    pub fn forks(&self) -> &[(ForkKind, u64)] {
        &self.forks
    }

    fn passed(&self, fork: (ForkKind, u64), head: u64, time: u64) -> bool {
        match fork.0 {
            ForkKind::Block => head >= fork.1,
            ForkKind::Time => time >= fork.1,
        }
    }

    /// Checksums after 0, 1, ... all forks.
    fn checksums(&self) -> Vec<FixedBytes<4>> {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(self.genesis.as_slice());
        let mut sums = vec![FixedBytes(hasher.clone().finalize().to_be_bytes())];
        for (_, point) in &self.forks {
            hasher.update(&point.to_be_bytes());
            sums.push(FixedBytes(hasher.clone().finalize().to_be_bytes()));
        }
        sums
    }

    /// How many forks a head at block `head` with timestamp `time` has passed.
    fn passed_count(&self, head: u64, time: u64) -> usize {
        self.forks.iter().take_while(|&&fork| self.passed(fork, head, time)).count()
    }

    /// The fork id for a head at block `head` with timestamp `time`.
    pub fn fork_id(&self, head: u64, time: u64) -> ForkId {
        let passed = self.passed_count(head, time);
        let hash = self.checksums().get(passed).copied().unwrap_or_default();
        let next = self.forks.get(passed).map_or(0, |(_, point)| *point);
        ForkId { hash, next }
    }

    /// Validates a peer's fork id against our head, by the rules of EIP-2124.
    pub fn validate(&self, remote: ForkId, head: u64, time: u64) -> Result<(), ForkIdError> {
        let sums = self.checksums();
        let passed = self.passed_count(head, time);
        // Rule 1: same fork state. Refuse only if the peer's next fork already passed here.
        if sums.get(passed) == Some(&remote.hash) {
            let next_passed = remote.next > 0
                && (head >= remote.next
                    || (remote.next > TIMESTAMP_THRESHOLD && time >= remote.next));
            return if next_passed {
                Err(ForkIdError::LocalIncompatibleOrStale(remote))
            } else {
                Ok(())
            };
        }
        // Rule 2: the peer is on a past state of ours and must know the fork that followed.
        if let Some(index) = sums[..passed].iter().position(|sum| *sum == remote.hash) {
            let following = self.forks.get(index).map(|(_, point)| *point);
            return if following == Some(remote.next) {
                Ok(())
            } else {
                Err(ForkIdError::RemoteStale(remote))
            };
        }
        // Rule 3: the peer is ahead of us on a state we know will come.
        if sums.iter().skip(passed + 1).any(|sum| *sum == remote.hash) {
            return Ok(());
        }
        Err(ForkIdError::LocalIncompatibleOrStale(remote))
    }

    /// The schedule of a geth-style `genesis.json`, given the genesis block's hash: every
    /// `config` key ending in `Block` is a block fork (`mergeNetsplitBlock` included, as on
    /// Sepolia) and every key ending in `Time` a time fork.
    pub fn from_genesis_json(genesis_hash: B256, json: &serde_json::Value) -> Self {
        let config = json.get("config").and_then(|c| c.as_object());
        let number = |value: &serde_json::Value| {
            value.as_u64().or_else(|| {
                value
                    .as_str()
                    .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            })
        };
        let genesis_time = json.get("timestamp").and_then(number).unwrap_or(0);
        let mut blocks = Vec::new();
        let mut times = Vec::new();
        for (key, value) in config.into_iter().flatten() {
            let Some(point) = number(value) else { continue };
            if key.ends_with("Block") {
                blocks.push(point);
            } else if key.ends_with("Time") {
                times.push(point);
            }
        }
        Self::new(genesis_hash, genesis_time, blocks, times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{b256, fixed_bytes};

    const MAINNET_GENESIS: B256 =
        b256!("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3");

    /// Mainnet through Prague: Frontier..Gray Glacier by block, Shanghai..Prague by time.
    fn mainnet() -> ForkSchedule {
        ForkSchedule::new(
            MAINNET_GENESIS,
            0,
            [
                1_150_000, 1_920_000, 2_463_000, 2_675_000, 4_370_000, 7_280_000, 7_280_000,
                9_069_000, 9_200_000, 12_244_000, 12_965_000, 13_773_000, 15_050_000,
            ],
            [1_681_338_455, 1_710_338_135, 1_746_612_311],
        )
    }

    fn id(hash: FixedBytes<4>, next: u64) -> ForkId {
        ForkId { hash, next }
    }

    #[test]
    fn mainnet_fork_ids_match_the_published_values() {
        let m = mainnet();
        // The values every client's EIP-2124 / EIP-6122 test suite lists for mainnet.
        let cases = [
            (0, 0, id(fixed_bytes!("fc64ec04"), 1_150_000)),
            (1_149_999, 0, id(fixed_bytes!("fc64ec04"), 1_150_000)),
            (1_150_000, 0, id(fixed_bytes!("97c2c34c"), 1_920_000)),
            (1_920_000, 0, id(fixed_bytes!("91d1f948"), 2_463_000)),
            (2_463_000, 0, id(fixed_bytes!("7a64da13"), 2_675_000)),
            (2_675_000, 0, id(fixed_bytes!("3edd5b10"), 4_370_000)),
            (4_370_000, 0, id(fixed_bytes!("a00bc324"), 7_280_000)),
            (7_280_000, 0, id(fixed_bytes!("668db0af"), 9_069_000)),
            (15_050_000, 0, id(fixed_bytes!("f0afd0e3"), 1_681_338_455)),
            (17_034_870, 1_681_338_455, id(fixed_bytes!("dce96c2d"), 1_710_338_135)),
            (19_426_587, 1_710_338_135, id(fixed_bytes!("9f3d2254"), 1_746_612_311)),
            (22_431_084, 1_746_612_311, id(fixed_bytes!("c376cf8b"), 0)),
        ];
        for (head, time, want) in cases {
            assert_eq!(m.fork_id(head, time), want, "head {head} time {time}");
        }
    }

    #[test]
    fn validation_follows_the_eip_2124_rules() {
        let m = mainnet();
        let petersburg = (7_987_396, 0);
        let byzantium = (7_279_999, 0);
        let check = |(head, time): (u64, u64), remote| m.validate(remote, head, time);
        // Rule 1: same state, whatever future fork is announced that has not passed.
        assert_eq!(check(petersburg, id(fixed_bytes!("668db0af"), 9_069_000)), Ok(()));
        assert_eq!(check(byzantium, id(fixed_bytes!("a00bc324"), 0)), Ok(()));
        assert_eq!(check(byzantium, id(fixed_bytes!("a00bc324"), 0xffff_ffff)), Ok(()));
        // Rule 2: remote out of sync but aware of the next fork.
        assert_eq!(check(petersburg, id(fixed_bytes!("a00bc324"), 7_280_000)), Ok(()));
        assert_eq!(check(petersburg, id(fixed_bytes!("3edd5b10"), 4_370_000)), Ok(()));
        // Rule 3: local out of sync.
        assert_eq!(check(byzantium, id(fixed_bytes!("668db0af"), 9_069_000)), Ok(()));
        // Remote stale: on Byzantium without knowledge of Petersburg, which we passed.
        let stale = id(fixed_bytes!("a00bc324"), 0);
        assert_eq!(check(petersburg, stale), Err(ForkIdError::RemoteStale(stale)));
        // Same state, but the remote's next fork already passed locally.
        let passed = id(fixed_bytes!("668db0af"), 7_279_999);
        assert_eq!(check(petersburg, passed), Err(ForkIdError::LocalIncompatibleOrStale(passed)));
        // Another chain entirely.
        let other = id(fixed_bytes!("deadbeef"), 0);
        assert_eq!(check(petersburg, other), Err(ForkIdError::LocalIncompatibleOrStale(other)));
    }

    #[test]
    fn genesis_json_forks_skip_genesis_activations() {
        let json = serde_json::json!({
            "timestamp": "0x0",
            "config": { "homesteadBlock": 0, "londonBlock": 0, "mergeNetsplitBlock": 0,
                        "shanghaiTime": 0, "cancunTime": 60, "pragueTime": 120,
                        "terminalTotalDifficulty": 131072 }
        });
        let schedule = ForkSchedule::from_genesis_json(MAINNET_GENESIS, &json);
        assert_eq!(schedule.forks(), &[(ForkKind::Time, 60), (ForkKind::Time, 120)]);
        assert_eq!(schedule.fork_id(0, 59).next, 60);
        assert_eq!(schedule.fork_id(10, 60).next, 120);
        assert_eq!(schedule.fork_id(600, 6000).next, 0);
        assert_eq!(schedule.fork_id(0, 0).hash, mainnet().fork_id(0, 0).hash, "genesis only");
    }
}
