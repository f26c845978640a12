//! Per-peer throughput and round-trip estimates, per request kind, and the request sizes and
//! timeouts derived from them.
//!
//! Each peer has a capacity per [`RequestKind`] (items or bytes per second, an exponential moving
//! average of what it delivered) and a round-trip estimate. A failed request (timeout, empty
//! reply) drops that kind's capacity to zero, so the next request to the peer is minimal. A new
//! peer starts from the mean capacity of the known peers. The tracker also holds one global
//! round-trip target that is tuned towards the peers' round trips, and a confidence in it that
//! falls as peers join, so timeouts start generous and tighten as measurements arrive.
//!
//! All time is passed in; the tracker reads no clock.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// Weight of one round trip in a peer's per-kind round-trip average (the timeouts).
const KIND_RTT_IMPACT: f64 = 0.25;

/// A request is overdue (and hedged) after this many of its peer's smoothed round trips for
/// the kind...
const HEDGE_RTTS: f64 = 2.0;
/// ... or its round trip plus this many mean deviations, if more...
const HEDGE_DEVIATIONS: f64 = 3.0;
/// ... or this many times what its size should take at the peer's measured speed, if more.
const HEDGE_SIZE_MARGIN: f64 = 1.5;
/// The same two factors while peers sit idle (fewer requests in flight than peers), without
/// the deviation term: a hedge then takes no capacity other work could use, and a lost request
/// late in a phase is on the critical path.
const EAGER_HEDGE_RTTS: f64 = 1.25;
const EAGER_HEDGE_SIZE_MARGIN: f64 = 1.2;

/// The kinds of request whose throughput is measured separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum RequestKind {
    /// `GetAccountRange`, measured in response bytes.
    AccountRange,
    /// `GetStorageRanges`, measured in response bytes.
    StorageRanges,
    /// `GetByteCodes`, measured in codes.
    ByteCodes,
    /// `GetTrieNodes`, measured in nodes.
    TrieNodes,
    /// `GetBlockAccessLists`, measured in access lists.
    BlockAccessLists,
}

impl RequestKind {
    /// How many kinds there are.
    pub(crate) const COUNT: usize = 5;

    /// The kind's position in per-kind arrays.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// Tunables of the per-peer rate estimates: how request sizes and timeouts follow what each
/// peer delivers.
#[derive(Clone, Debug, PartialEq)]
pub struct RateConfig {
    /// Weight of one new measurement in the moving averages (0..=1).
    pub measurement_impact: f64,
    /// Factor by which the reported capacity overshoots the measured one, so that a peer's
    /// capacity can grow.
    pub capacity_overestimation: f64,
    /// Lower clamp of the round-trip target.
    pub rtt_min: Duration,
    /// Upper clamp of the round-trip target, and its starting value.
    pub rtt_max: Duration,
    /// The timeout is this many round-trip targets (divided by the confidence).
    pub ttl_scaling: f64,
    /// Upper bound of the timeout.
    pub ttl_limit: Duration,
    /// Lowest confidence in the round-trip target.
    pub min_confidence: f64,
    /// Weight of the peers' median round trip when tuning the target.
    pub tuning_impact: f64,
    /// A measured peer's timeout is this many of its smoothed round trips (or its round trip
    /// plus four mean deviations, if more), between `ttl_floor` and the global timeout.
    pub peer_ttl_scaling: f64,
    /// Lower bound of a peer's timeout.
    pub ttl_floor: Duration,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            measurement_impact: 0.1,
            capacity_overestimation: 1.01,
            rtt_min: Duration::from_secs(2),
            rtt_max: Duration::from_secs(20),
            ttl_scaling: 3.0,
            ttl_limit: Duration::from_secs(60),
            min_confidence: 0.1,
            tuning_impact: 0.25,
            peer_ttl_scaling: 3.0,
            ttl_floor: Duration::from_millis(250),
        }
    }
}

/// What is known of one peer's throughput.
#[derive(Clone, Debug, PartialEq)]
struct PeerRates {
    /// Items (or bytes) per second, per request kind.
    capacity: [f64; RequestKind::COUNT],
    /// Round-trip estimate.
    rtt: Duration,
    /// Smoothed round trip and its mean deviation per request kind, once measured (the
    /// timeouts: a trie-node answer comes back faster than a range of half a megabyte).
    kind_rtt: [Option<(f64, f64)>; RequestKind::COUNT],
    /// Smoothed items (or bytes) per second of one request per request kind beyond the
    /// shortest round trip, once measured: with `min_rtt`, how long a request of a given size
    /// should take (the first measurement replaces it).
    kind_speed: [Option<f64>; RequestKind::COUNT],
    /// Smoothed items (or bytes) one answer delivered, per request kind, once measured: an
    /// answer may bring much less than was asked (a range's end, small storage batches).
    kind_items: [Option<f64>; RequestKind::COUNT],
    /// The shortest round trip measured (seconds): the part of a request's time that does not
    /// grow with its size.
    min_rtt: Option<f64>,
    /// Whether a round trip was measured (until then `rtt` is the other peers' median).
    measured: bool,
}

/// Throughput and round-trip estimates for a set of peers, keyed by the host's peer id `P`.
#[derive(Clone, Debug)]
pub(crate) struct RateTracker<P> {
    config: RateConfig,
    peers: BTreeMap<P, PeerRates>,
    rtt_target: Duration,
    confidence: f64,
    last_tuned: Option<Instant>,
}

impl<P: Ord + Clone> RateTracker<P> {
    /// A tracker with no peers: the round-trip target starts at its maximum, fully confident.
    pub(crate) fn new(config: RateConfig) -> Self {
        let rtt_target = config.rtt_max;
        Self { config, peers: BTreeMap::new(), rtt_target, confidence: 1.0, last_tuned: None }
    }

    /// Starts tracking `peer` from the mean capacities and the median round trip of the known
    /// peers, and lowers the confidence in the round-trip target (a new peer is unmeasured).
    pub(crate) fn add_peer(&mut self, peer: P) {
        let start = PeerRates {
            capacity: self.mean_capacities(),
            rtt: self.median_rtt(),
            kind_rtt: [None; RequestKind::COUNT],
            kind_speed: [None; RequestKind::COUNT],
            kind_items: [None; RequestKind::COUNT],
            min_rtt: None,
            measured: false,
        };
        self.peers.insert(peer, start);
        let n = self.peers.len() as f64;
        if self.peers.len() < 10 {
            self.confidence = (self.confidence * (n - 1.0) / n).max(self.config.min_confidence);
        }
        if self.peers.len() == 1 {
            self.confidence = 1.0;
        }
    }

    /// Stops tracking `peer`.
    pub(crate) fn remove_peer(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// Records the outcome of one request: `items` delivered after `elapsed`. Zero items (a
    /// timeout or an empty reply) drops the capacity for `kind` to zero.
    pub(crate) fn update(&mut self, peer: &P, kind: RequestKind, elapsed: Duration, items: u64) {
        let impact = self.config.measurement_impact;
        let Some(rates) = self.peers.get_mut(peer) else { return };
        let slot = &mut rates.capacity[kind.index()];
        if items == 0 {
            *slot = 0.0;
            return;
        }
        // Sub-millisecond round trips (a simulator with zero latency) count as one millisecond.
        let seconds = elapsed.as_secs_f64().max(0.001);
        let measured = items as f64 / seconds;
        *slot = (1.0 - impact) * *slot + impact * measured;
        let min_rtt = rates.min_rtt.map_or(seconds, |min| min.min(seconds));
        rates.min_rtt = Some(min_rtt);
        // What the size cost beyond the fixed round trip (at least a millisecond, and never
        // faster than a tenth of it: an answer as quick as the fastest says little of speed).
        let sized = items as f64 / (seconds - min_rtt).max(0.001).max(min_rtt / 10.0);
        for (slot, sample) in [
            (&mut rates.kind_speed[kind.index()], sized),
            (&mut rates.kind_items[kind.index()], items as f64),
        ] {
            *slot = Some(slot.map_or(sample, |average| {
                (1.0 - KIND_RTT_IMPACT) * average + KIND_RTT_IMPACT * sample
            }));
        }
        let sample = elapsed.as_secs_f64();
        let kind_rtt = &mut rates.kind_rtt[kind.index()];
        *kind_rtt = Some(match *kind_rtt {
            // The first measurement replaces the borrowed estimate.
            None => (sample, sample / 2.0),
            // Faster than the capacity average: requests grow as capacity does, and a timeout
            // must keep up with the answers they bring.
            Some((rtt, var)) => (
                (1.0 - KIND_RTT_IMPACT) * rtt + KIND_RTT_IMPACT * sample,
                (1.0 - KIND_RTT_IMPACT) * var + KIND_RTT_IMPACT * (rtt - sample).abs(),
            ),
        });
        if !rates.measured {
            rates.measured = true;
            rates.rtt = elapsed;
            return;
        }
        let rtt = (1.0 - impact) * rates.rtt.as_secs_f64() + impact * sample;
        rates.rtt = Duration::from_secs_f64(rtt);
    }

    /// A request of `kind` to `peer` timed out once: its capacity is halved (a lost message
    /// is no sign of a slow peer; repeated timeouts are, see [`Self::update`] with no items).
    pub(crate) fn halve(&mut self, peer: &P, kind: RequestKind) {
        if let Some(rates) = self.peers.get_mut(peer) {
            rates.capacity[kind.index()] /= 2.0;
        }
    }

    /// How long to wait for `peer`'s answer to a request of `kind`: a multiple of its smoothed
    /// round trip for that kind once measured (twice that of its round trip over all kinds
    /// before), clamped between the floor and the global timeout (which unmeasured peers get).
    pub(crate) fn peer_timeout(&self, peer: &P, kind: RequestKind) -> Duration {
        let limit = self.target_timeout();
        let Some(rates) = self.peers.get(peer).filter(|rates| rates.measured) else {
            return limit;
        };
        let scaling = self.config.peer_ttl_scaling;
        let ttl = match rates.kind_rtt[kind.index()] {
            Some((rtt, var)) => (rtt * scaling).max(rtt + 4.0 * var),
            None => 2.0 * scaling * rates.rtt.as_secs_f64(),
        };
        // `from_secs_f64` panics on non-finite or huge values; the estimates are neither, but
        // clamp first anyway.
        let ttl = ttl.clamp(0.0, limit.as_secs_f64());
        // Requests are sized to be answered within the round-trip target: never give up on one
        // sooner.
        let floor = self.config.ttl_floor.max(self.target_rtt()).min(limit);
        Duration::from_secs_f64(ttl).clamp(floor, limit)
    }

    /// When to send a request of `kind` that asked `peer` for `asked` items (or bytes) to
    /// another peer as well: twice the peer's smoothed round trip for the kind (or the round
    /// trip plus three mean deviations), or 1.5 times its shortest round trip plus the time its
    /// measured speed needs for what was asked if longer (requests grow faster than a
    /// round-trip average follows), between `ttl_floor` and the global timeout (which
    /// unmeasured peers get). Unlike [`Self::peer_timeout`] it has no floor at the round trip
    /// requests are sized for: the request stays in flight, so an early hedge costs one
    /// duplicate, not the answer. `eager` (peers sit idle) uses 1.25 round trips (no deviation
    /// term) and a 1.2 size margin instead.
    pub(crate) fn hedge_after(
        &self,
        peer: &P,
        kind: RequestKind,
        asked: u64,
        eager: bool,
    ) -> Duration {
        let (rtts, size_margin) = if eager {
            (EAGER_HEDGE_RTTS, EAGER_HEDGE_SIZE_MARGIN)
        } else {
            (HEDGE_RTTS, HEDGE_SIZE_MARGIN)
        };
        let limit = self.target_timeout();
        let Some(rates) = self.peers.get(peer).filter(|rates| rates.measured) else {
            return limit;
        };
        let by_rtt = match rates.kind_rtt[kind.index()] {
            // Idle peers: the deviation (high while a kind has few samples) is not waited out.
            Some((rtt, _)) if eager => rtt * rtts,
            Some((rtt, var)) => (rtt * rtts).max(rtt + HEDGE_DEVIATIONS * var),
            None => 2.0 * rtts * rates.rtt.as_secs_f64(),
        };
        let (speed, items) = (rates.kind_speed[kind.index()], rates.kind_items[kind.index()]);
        let by_size = match (speed, items, rates.min_rtt) {
            (Some(speed), Some(items), Some(min_rtt)) if speed > 0.0 => {
                // A range answer may bring far less than its byte budget (a range's end, small
                // storage batches), and seldom grows to more than twice the last ones; other
                // kinds are asked for a count of items, and answers bring about as many.
                let expected = match kind {
                    RequestKind::AccountRange | RequestKind::StorageRanges => {
                        (asked as f64).min(2.0 * items)
                    }
                    _ => asked as f64,
                };
                size_margin * (min_rtt + expected / speed)
            }
            _ => 0.0,
        };
        let ttl = by_rtt.max(by_size).clamp(0.0, limit.as_secs_f64());
        Duration::from_secs_f64(ttl).clamp(self.config.ttl_floor.min(limit), limit)
    }

    /// How many items (or bytes) `peer` should be asked for so that it answers within
    /// `target_rtt`: always at least one. Zero for an unknown peer.
    pub(crate) fn capacity(&self, peer: &P, kind: RequestKind, target_rtt: Duration) -> u64 {
        let Some(rates) = self.peers.get(peer) else { return 0 };
        let estimate = 1.0
            + self.config.capacity_overestimation
                * rates.capacity[kind.index()]
                * target_rtt.as_secs_f64();
        // `as` saturates for floats: NaN becomes 0, huge values u64::MAX.
        (estimate.ceil() as u64).clamp(1, u64::from(u32::MAX))
    }

    /// The round-trip target requests are sized for.
    pub(crate) fn target_rtt(&self) -> Duration {
        self.rtt_target.mul_f64(0.9)
    }

    /// How long to wait for a response before giving its work to another peer.
    pub(crate) fn target_timeout(&self) -> Duration {
        let ttl = self.rtt_target.as_secs_f64() * self.config.ttl_scaling / self.confidence;
        Duration::from_secs_f64(ttl.min(self.config.ttl_limit.as_secs_f64()))
    }

    /// Moves the round-trip target towards the peers' median round trip and raises the
    /// confidence, at most once per round-trip target. Call it whenever time passes.
    pub(crate) fn tune(&mut self, now: Instant) {
        if self.peers.is_empty() {
            return;
        }
        if let Some(last) = self.last_tuned
            && now.saturating_duration_since(last) < self.rtt_target
        {
            return;
        }
        self.last_tuned = Some(now);
        let impact = self.config.tuning_impact;
        let tuned = (1.0 - impact) * self.rtt_target.as_secs_f64()
            + impact * self.median_rtt().as_secs_f64();
        self.rtt_target =
            Duration::from_secs_f64(tuned).clamp(self.config.rtt_min, self.config.rtt_max);
        self.confidence += (1.0 - self.confidence) / 2.0;
    }

    fn mean_capacities(&self) -> [f64; RequestKind::COUNT] {
        let mut mean = [0.0; RequestKind::COUNT];
        if self.peers.is_empty() {
            return mean;
        }
        for rates in self.peers.values() {
            for (sum, capacity) in mean.iter_mut().zip(rates.capacity) {
                *sum += capacity;
            }
        }
        mean.map(|sum| sum / self.peers.len() as f64)
    }

    /// A low "median": the round trip at index sqrt(n) of the sorted estimates, so a few slow
    /// peers do not drag the target up. Clamped to the configured bounds.
    fn median_rtt(&self) -> Duration {
        let mut rtts: Vec<Duration> = self.peers.values().map(|rates| rates.rtt).collect();
        if rtts.is_empty() {
            return self.rtt_target;
        }
        rtts.sort_unstable();
        let index = (rtts.len() as f64).sqrt() as usize;
        rtts[index.min(rtts.len() - 1)].clamp(self.config.rtt_min, self.config.rtt_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::test_epoch as epoch;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn idle_peers_hedge_after_a_quarter_more_than_the_round_trip_without_the_deviation() {
        let mut rates = RateTracker::new(RateConfig::default());
        rates.add_peer(1u32);
        // Two answers of a kind: 200 ms and 300 ms (the deviation is still large).
        rates.update(&1, RequestKind::TrieNodes, 200 * MS, 5);
        rates.update(&1, RequestKind::TrieNodes, 300 * MS, 5);
        let (rtt, var) =
            rates.peers[&1].kind_rtt[RequestKind::TrieNodes.index()].expect("measured");
        let busy = rates.hedge_after(&1, RequestKind::TrieNodes, 1, false).as_secs_f64();
        let idle = rates.hedge_after(&1, RequestKind::TrieNodes, 1, true).as_secs_f64();
        assert!(busy >= rtt + HEDGE_DEVIATIONS * var - 1e-9, "busy {busy} rtt {rtt} var {var}");
        assert!(idle < rtt + HEDGE_DEVIATIONS * var, "idle {idle} waits out the deviation");
        assert!(idle >= EAGER_HEDGE_RTTS * rtt - 1e-9, "idle {idle} below 1.25 round trips");
    }

    #[test]
    fn first_peer_starts_at_minimal_capacity() {
        let mut rates = RateTracker::new(RateConfig::default());
        rates.add_peer(1u32);
        assert_eq!(rates.capacity(&1, RequestKind::AccountRange, Duration::from_secs(1)), 1);
        assert_eq!(rates.capacity(&2, RequestKind::AccountRange, Duration::from_secs(1)), 0);
    }

    #[test]
    fn capacity_converges_towards_delivered_throughput() {
        let mut rates = RateTracker::new(RateConfig::default());
        rates.add_peer(1u32);
        for _ in 0..200 {
            rates.update(&1, RequestKind::ByteCodes, 100 * MS, 50); // 500 codes/s
        }
        let capacity = rates.capacity(&1, RequestKind::ByteCodes, Duration::from_secs(1));
        assert!((495..=510).contains(&capacity), "capacity {capacity}");
        // Kinds are measured apart, and a failure resets only its own kind.
        assert_eq!(rates.capacity(&1, RequestKind::TrieNodes, Duration::from_secs(1)), 1);
        for _ in 0..200 {
            rates.update(&1, RequestKind::AccountRange, 100 * MS, 10_000); // 100 KB/s
        }
        let accounts = rates.capacity(&1, RequestKind::AccountRange, Duration::from_secs(1));
        assert!(accounts > 90_000, "capacity {accounts}");
        rates.update(&1, RequestKind::ByteCodes, 100 * MS, 0);
        assert_eq!(rates.capacity(&1, RequestKind::ByteCodes, Duration::from_secs(1)), 1);
        assert_eq!(rates.capacity(&1, RequestKind::AccountRange, Duration::from_secs(1)), accounts);
    }

    #[test]
    fn new_peers_start_from_the_mean() {
        let mut rates = RateTracker::new(RateConfig::default());
        rates.add_peer(1u32);
        rates.add_peer(2u32);
        for _ in 0..200 {
            rates.update(&1, RequestKind::StorageRanges, Duration::from_secs(1), 1000);
        }
        rates.add_peer(3);
        let fresh = rates.capacity(&3, RequestKind::StorageRanges, Duration::from_secs(1));
        assert!((490..=520).contains(&fresh), "mean of ~1000 and 0, got {fresh}");
    }

    #[test]
    fn timeouts_tighten_as_the_target_is_tuned() {
        let mut rates = RateTracker::new(RateConfig::default());
        let start = epoch();
        for peer in 0..4u32 {
            rates.add_peer(peer);
        }
        let initial = rates.target_timeout();
        assert_eq!(initial, Duration::from_secs(60), "unconfident start is capped by the limit");
        for peer in 0..4u32 {
            for _ in 0..100 {
                rates.update(&peer, RequestKind::AccountRange, 300 * MS, 1000);
            }
        }
        for step in 0..100u32 {
            rates.tune(start + Duration::from_secs(21) * step);
        }
        // Round trips of 0.3 s are below the 2 s floor: target 2 s, timeout 3 x 2 s.
        let tuned = rates.target_timeout();
        assert!(
            tuned < Duration::from_millis(6100) && tuned >= Duration::from_secs(6),
            "{tuned:?}"
        );
    }

    #[test]
    fn tuning_happens_at_most_once_per_round_trip() {
        let mut rates = RateTracker::new(RateConfig::default());
        let start = epoch();
        rates.add_peer(1u32);
        // Round trips of 300 ms pull the peer's estimate down, so every tune moves the target.
        for _ in 0..100 {
            rates.update(&1, RequestKind::AccountRange, 300 * MS, 1000);
        }
        rates.tune(start);
        let after_first = rates.target_rtt();
        assert!(after_first < Duration::from_secs(18), "the first tune moves: {after_first:?}");
        rates.tune(start + Duration::from_secs(1));
        assert_eq!(rates.target_rtt(), after_first, "second tune within one round trip is a no-op");
        rates.tune(start + Duration::from_secs(30));
        assert!(rates.target_rtt() < after_first, "a tune one round trip later moves again");
    }

    proptest! {
        #[test]
        fn capacity_is_always_at_least_one_and_finite(
            updates in proptest::collection::vec((0u64..10_000, 0u64..100_000), 0..50),
            target_ms in 0u64..100_000,
        ) {
            let mut rates = RateTracker::new(RateConfig::default());
            rates.add_peer(7u8);
            for (elapsed_ms, items) in updates {
                rates.update(&7, RequestKind::AccountRange, Duration::from_millis(elapsed_ms), items);
            }
            let capacity = rates.capacity(&7, RequestKind::AccountRange, Duration::from_millis(target_ms));
            prop_assert!((1..=u64::from(u32::MAX)).contains(&capacity));
            let timeout = rates.target_timeout();
            prop_assert!(timeout <= Duration::from_secs(60) && timeout > Duration::ZERO);
        }
    }
}
