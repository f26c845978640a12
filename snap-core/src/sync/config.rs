//! Configuration of the `Syncer`: concurrency, request sizes, memory bounds, timers and the seed.

use std::time::Duration;

use super::rates::RateConfig;

/// How a sync catches its flat state up with a moving target once the ranges are in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CatchUpMode {
    /// snap/2 BAL application when every block since the first target commits to a BAL and a
    /// snap/2 peer is connected (or no snap/1 peer is); snap/1 healing otherwise.
    #[default]
    Auto,
    /// Always snap/1 trie healing.
    Heal,
    /// Always snap/2 BAL application (the host must feed headers).
    Bal,
}

/// Everything tunable about a sync. `Default` gives values that work against mainnet peers.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    /// Number of account tasks the hash space is split into.
    pub account_tasks: usize,
    /// Most chunks one large storage trie is split into.
    pub max_storage_chunks: usize,
    /// Fewest slots a storage chunk is expected to hold (sizes the chunk count by density).
    pub min_slots_per_chunk: u64,
    /// Smallest byte budget asked for in a range request.
    pub min_request_bytes: u64,
    /// Largest byte budget asked for in a range request (and the budget of code requests).
    pub max_request_bytes: u64,
    /// Most code hashes in one `GetByteCodes`.
    pub max_codes_per_request: usize,
    /// Most accounts in one small-contract `GetStorageRanges`.
    pub max_storage_accounts_per_request: usize,
    /// Most requests in flight to one peer.
    pub max_requests_per_peer: usize,
    /// Most requests in flight in total.
    pub max_requests: usize,
    /// Most write batches handed out and not yet acknowledged; beyond it no new request is sent.
    pub max_unacknowledged_batches: usize,
    /// A batch is handed out once its estimated size reaches this many bytes.
    pub batch_bytes: usize,
    /// Fewest blocks a new target must be past the current one to be taken at all.
    pub min_target_step: u64,
    /// Most blocks the target may fall behind the newest target offered before the sync moves
    /// there in the middle of a phase. A newer target that is not that stale yet is held and
    /// taken where taking it costs nothing: when the ranges are in (before catch-up starts) and
    /// when catch-up is complete (instead of finishing at an older state). Work fetched against
    /// the older target stays either way (catch-up repairs the difference); keep it well under
    /// the number of blocks peers keep state for (128 for geth). `0` takes every target at once.
    pub max_target_lag: u64,
    /// When catch-up completes and the newest target offered is at most this many blocks past
    /// the current one, the sync finishes at the current target (its state exact) instead of
    /// catching up once more; the host goes on from there (executing the blocks after it, or
    /// resuming a new `Syncer` to follow further). `0` always finishes at the newest target
    /// offered, which on a chain whose blocks come faster than one catch-up round (its depth in
    /// round trips) can take several rounds.
    pub finish_within: u64,
    /// Most trie-node paths in one `GetTrieNodes`.
    pub max_heal_paths_per_request: usize,
    /// Most trie nodes healing holds in memory, fetched and waiting for their children, plus
    /// paths queued; beyond it the walk stops widening and finishes the deepest work first.
    pub max_heal_pending: usize,
    /// Most bytecode hashes remembered as already stored (beyond it, a duplicate may be
    /// fetched again; never a correctness issue).
    pub known_code_cache: usize,
    /// A stall event is emitted when nothing advanced for this long.
    pub stall_after: Duration,
    /// How often a progress event is emitted while syncing.
    pub progress_interval: Duration,
    /// The catch-up strategy.
    pub catch_up: CatchUpMode,
    /// Most block hashes in one `GetBlockAccessLists`.
    pub max_bals_per_request: usize,
    /// Most blocks whose access lists are fetched ahead of the one being applied (bounds the
    /// memory BALs take).
    pub max_bals_ahead: usize,
    /// Most flat entries asked for in one rebuild lookup.
    pub rebuild_lookup_entries: usize,
    /// Seed for request ids and tie-breaking: the same seed and inputs give the same outputs.
    pub seed: u64,
    /// Peer rate estimation.
    pub rates: RateConfig,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            account_tasks: 16,
            max_storage_chunks: 16,
            min_slots_per_chunk: 16 * 1024,
            min_request_bytes: 64 * 1024,
            max_request_bytes: 512 * 1024,
            max_codes_per_request: 84,
            max_storage_accounts_per_request: 256,
            max_requests_per_peer: 4,
            max_requests: 256,
            max_unacknowledged_batches: 4,
            batch_bytes: 8 * 1024 * 1024,
            min_target_step: 1,
            max_target_lag: 64,
            finish_within: 0,
            max_heal_paths_per_request: 1024,
            max_heal_pending: 1 << 17,
            known_code_cache: 1 << 20,
            stall_after: Duration::from_secs(120),
            progress_interval: Duration::from_secs(8),
            catch_up: CatchUpMode::Auto,
            max_bals_per_request: 16,
            max_bals_ahead: 64,
            rebuild_lookup_entries: 16 * 1024,
            seed: 0,
            rates: RateConfig::default(),
        }
    }
}

/// A configuration no sync can run with.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A count that must be at least one is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The smallest request budget exceeds the largest.
    #[error("min_request_bytes {min} exceeds max_request_bytes {max}")]
    RequestBytes {
        /// `min_request_bytes`.
        min: u64,
        /// `max_request_bytes`.
        max: u64,
    },
    /// The round-trip target's lower clamp exceeds its upper one.
    #[error("rates.rtt_min {min:?} exceeds rates.rtt_max {max:?}")]
    RoundTrips {
        /// `rates.rtt_min`.
        min: Duration,
        /// `rates.rtt_max`.
        max: Duration,
    },
    /// A peer's timeout could never be as short as its floor, or no timeout is possible.
    #[error("rates.ttl_floor {floor:?} must be above zero and at most rates.ttl_limit {limit:?}")]
    Timeouts {
        /// `rates.ttl_floor`.
        floor: Duration,
        /// `rates.ttl_limit`.
        limit: Duration,
    },
    /// A factor out of its range (weights in `0..=1`, scalings and confidence above zero).
    #[error("rates.{0} is out of range")]
    Factor(&'static str),
}

impl SyncConfig {
    /// Checks that a sync can run with this configuration: counts that bound progress are at
    /// least one, every lower bound is at most its upper bound, and the rate factors are in
    /// range. [`Syncer::try_new`](super::Syncer::try_new) refuses a configuration that fails.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let counts = [
            ("account_tasks", self.account_tasks),
            ("max_storage_chunks", self.max_storage_chunks),
            ("max_codes_per_request", self.max_codes_per_request),
            ("max_storage_accounts_per_request", self.max_storage_accounts_per_request),
            ("max_requests_per_peer", self.max_requests_per_peer),
            ("max_requests", self.max_requests),
            ("max_unacknowledged_batches", self.max_unacknowledged_batches),
            ("max_heal_paths_per_request", self.max_heal_paths_per_request),
            ("max_bals_per_request", self.max_bals_per_request),
            ("max_bals_ahead", self.max_bals_ahead),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, count)| *count == 0) {
            return Err(ConfigError::Zero(name));
        }
        if self.max_request_bytes == 0 {
            return Err(ConfigError::Zero("max_request_bytes"));
        }
        if self.min_request_bytes > self.max_request_bytes {
            let (min, max) = (self.min_request_bytes, self.max_request_bytes);
            return Err(ConfigError::RequestBytes { min, max });
        }
        let rates = &self.rates;
        if rates.rtt_min > rates.rtt_max {
            return Err(ConfigError::RoundTrips { min: rates.rtt_min, max: rates.rtt_max });
        }
        if rates.ttl_floor.is_zero() || rates.ttl_floor > rates.ttl_limit {
            return Err(ConfigError::Timeouts { floor: rates.ttl_floor, limit: rates.ttl_limit });
        }
        let weights = [
            ("measurement_impact", rates.measurement_impact),
            ("tuning_impact", rates.tuning_impact),
            ("min_confidence", rates.min_confidence),
        ];
        if let Some((name, _)) = weights.iter().find(|(_, w)| !(*w > 0.0 && *w <= 1.0)) {
            return Err(ConfigError::Factor(name));
        }
        let scalings = [
            ("capacity_overestimation", rates.capacity_overestimation),
            ("ttl_scaling", rates.ttl_scaling),
            ("peer_ttl_scaling", rates.peer_ttl_scaling),
        ];
        if let Some((name, _)) = scalings.iter().find(|(_, s)| !(s.is_finite() && *s >= 1.0)) {
            return Err(ConfigError::Factor(name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_impossible_configs_are_refused() {
        assert_eq!(SyncConfig::default().validate(), Ok(()));
        let floor_above_limit = SyncConfig {
            rates: RateConfig {
                ttl_floor: Duration::from_secs(2),
                ttl_limit: Duration::from_secs(1),
                ..RateConfig::default()
            },
            ..SyncConfig::default()
        };
        assert!(matches!(floor_above_limit.validate(), Err(ConfigError::Timeouts { .. })));
        let no_requests = SyncConfig { max_requests_per_peer: 0, ..SyncConfig::default() };
        assert_eq!(no_requests.validate(), Err(ConfigError::Zero("max_requests_per_peer")));
        let budgets =
            SyncConfig { min_request_bytes: 10, max_request_bytes: 5, ..SyncConfig::default() };
        assert!(matches!(budgets.validate(), Err(ConfigError::RequestBytes { min: 10, max: 5 })));
        let mut nan = SyncConfig::default();
        nan.rates.peer_ttl_scaling = f64::NAN;
        assert_eq!(nan.validate(), Err(ConfigError::Factor("peer_ttl_scaling")));
        let mut rtts = SyncConfig::default();
        rtts.rates.rtt_min = Duration::from_secs(30);
        assert!(matches!(rtts.validate(), Err(ConfigError::RoundTrips { .. })));
    }
}
