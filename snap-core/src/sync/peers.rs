//! The peers the machine may ask: their versions, their throughput, and whether they lack the
//! current state ("stateless"), which is a mark that expires, never a ban.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use super::{
    contract::PeerId,
    rates::{RateConfig, RateTracker, RequestKind},
};
use crate::wire::SnapVersion;

#[derive(Clone, Debug)]
struct PeerState {
    versions: Vec<SnapVersion>,
    /// Until when the peer is not asked for `kind`'s data: it answered empty (it lacks the
    /// state). Indexed like `RequestKind`.
    unavailable_until: [Option<Instant>; RequestKind::COUNT],
    /// Requests timed out since the peer last delivered.
    timeouts: u32,
}

/// The connected peers usable by the core.
#[derive(Clone, Debug)]
pub(crate) struct Peers {
    peers: BTreeMap<PeerId, PeerState>,
    rates: RateTracker<PeerId>,
    unavailable_for: Duration,
}

impl Peers {
    /// No peers yet. A peer that answers empty is skipped for `unavailable_for`.
    pub(crate) fn new(rates: RateConfig, unavailable_for: Duration) -> Self {
        Self { peers: BTreeMap::new(), rates: RateTracker::new(rates), unavailable_for }
    }

    /// Adds a peer (a second connect of a known id only refreshes its versions).
    pub(crate) fn connect(&mut self, peer: PeerId, versions: Vec<SnapVersion>) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.versions = versions;
            return;
        }
        self.peers.insert(
            peer,
            PeerState { versions, unavailable_until: [None; RequestKind::COUNT], timeouts: 0 },
        );
        self.rates.add_peer(peer);
    }

    /// Removes a peer; returns whether it was known.
    pub(crate) fn disconnect(&mut self, peer: PeerId) -> bool {
        self.rates.remove_peer(&peer);
        self.peers.remove(&peer).is_some()
    }

    /// Forgets every unavailability mark: after a target change, a peer that lacked the old
    /// state may hold the new one.
    pub(crate) fn clear_marks(&mut self) {
        for state in self.peers.values_mut() {
            state.unavailable_until = [None; RequestKind::COUNT];
        }
    }

    /// Whether the peer is connected.
    pub(crate) fn contains(&self, peer: PeerId) -> bool {
        self.peers.contains_key(&peer)
    }

    /// Number of connected peers.
    /// The connected peers that negotiated `version`, by id.
    pub(crate) fn speaking(&self, version: SnapVersion) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, state)| state.versions.contains(&version))
            .map(|(peer, _)| *peer)
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Marks `peer` as lacking the state for `kind` until `now + unavailable_for`.
    pub(crate) fn mark_unavailable(&mut self, peer: PeerId, kind: RequestKind, now: Instant) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.unavailable_until[kind.index()] = now.checked_add(self.unavailable_for);
        }
    }

    /// The earliest time an unavailability mark expires, for the machine's timer.
    pub(crate) fn next_mark_expiry(&self, now: Instant) -> Option<Instant> {
        self.peers
            .values()
            .flat_map(|state| state.unavailable_until.iter().flatten())
            .filter(|&&until| until > now)
            .min()
            .copied()
    }

    /// Peers that may be asked for `kind` at `now`, best capacity first (ties by id, so the
    /// order is deterministic), filtered by `has_room`.
    pub(crate) fn candidates(
        &self,
        kind: RequestKind,
        now: Instant,
        mut has_room: impl FnMut(PeerId) -> bool,
    ) -> Vec<PeerId> {
        let target = self.rates.target_rtt();
        let mut usable: Vec<(u64, PeerId)> = self
            .peers
            .iter()
            .filter(|(_, state)| {
                let serves = match kind {
                    RequestKind::TrieNodes => state.versions.contains(&SnapVersion::V1),
                    RequestKind::BlockAccessLists => state.versions.contains(&SnapVersion::V2),
                    _ => true,
                };
                serves && state.unavailable_until[kind.index()].is_none_or(|until| until <= now)
            })
            .map(|(&peer, _)| peer)
            .filter(|&peer| has_room(peer))
            .map(|peer| (self.rates.capacity(&peer, kind, target), peer))
            .collect();
        usable.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        usable.into_iter().map(|(_, peer)| peer).collect()
    }

    /// Peers usable for `kind` now, ignoring request bounds.
    pub(crate) fn usable_count(&self, kind: RequestKind, now: Instant) -> usize {
        self.candidates(kind, now, |_| true).len()
    }

    /// How much to ask `peer` for (items or bytes) so it answers within the round-trip target.
    pub(crate) fn capacity(&self, peer: PeerId, kind: RequestKind) -> u64 {
        self.rates.capacity(&peer, kind, self.rates.target_rtt())
    }

    /// Records a delivery (or a failure, with zero items).
    pub(crate) fn record(
        &mut self,
        peer: PeerId,
        kind: RequestKind,
        elapsed: Duration,
        items: u64,
    ) {
        self.rates.update(&peer, kind, elapsed, items);
        if items > 0
            && let Some(state) = self.peers.get_mut(&peer)
        {
            state.timeouts = 0;
        }
    }

    /// A request of `kind` to `peer` timed out. Once is a lost message: the peer's capacity
    /// for `kind` is halved. Twice in a row without a delivery between, the peer is measured
    /// as delivering nothing and, while another peer can take `kind`, not asked for it for a
    /// while. The last peer for a kind is never set aside: it keeps the minimum capacity (a
    /// loaded server answering slowly would otherwise stall a sync with one peer for the whole
    /// `unavailable_for`, as a 5M-account loopback run showed).
    pub(crate) fn timed_out(&mut self, peer: PeerId, kind: RequestKind, now: Instant) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        state.timeouts = state.timeouts.saturating_add(1);
        if state.timeouts < 2 {
            self.rates.halve(&peer, kind);
            return;
        }
        self.rates.update(&peer, kind, Duration::ZERO, 0);
        let others = !self.candidates(kind, now, |other| other != peer).is_empty();
        if others {
            self.mark_unavailable(peer, kind, now);
        }
    }

    /// A request of `kind` to `peer` is overdue and goes to another peer as well: the peer's
    /// capacity for `kind` is halved (its answer may still come and is still used).
    pub(crate) fn overdue(&mut self, peer: PeerId, kind: RequestKind) {
        self.rates.halve(&peer, kind);
    }

    /// When to send a request of `kind` that asked `peer` for `asked` items to another peer as
    /// well (see `RateTracker::hedge_after`).
    pub(crate) fn hedge_after(
        &self,
        peer: PeerId,
        kind: RequestKind,
        asked: u64,
        eager: bool,
    ) -> Duration {
        self.rates.hedge_after(&peer, kind, asked, eager)
    }

    /// The longest a request may wait for any answer (what unmeasured peers get).
    pub(crate) fn timeout(&self) -> Duration {
        self.rates.target_timeout()
    }

    /// How long to wait for `peer`'s answer to a request of `kind`: from its own round trips.
    pub(crate) fn timeout_for(&self, peer: PeerId, kind: RequestKind) -> Duration {
        self.rates.peer_timeout(&peer, kind)
    }

    /// Lets the round-trip target follow the peers.
    pub(crate) fn tune(&mut self, now: Instant) {
        self.rates.tune(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::test_epoch as epoch;

    #[test]
    fn unavailable_peers_are_skipped_until_the_mark_expires() {
        let now = epoch();
        let mut peers = Peers::new(RateConfig::default(), Duration::from_secs(30));
        peers.connect(PeerId(1), vec![SnapVersion::V1]);
        peers.connect(PeerId(2), vec![SnapVersion::V2]);
        peers.mark_unavailable(PeerId(1), RequestKind::AccountRange, now);
        assert_eq!(peers.candidates(RequestKind::AccountRange, now, |_| true), vec![PeerId(2)]);
        assert_eq!(peers.candidates(RequestKind::ByteCodes, now, |_| true).len(), 2);
        let later = now + Duration::from_secs(30);
        assert_eq!(peers.next_mark_expiry(now), Some(later));
        assert_eq!(peers.candidates(RequestKind::AccountRange, later, |_| true).len(), 2);
    }

    #[test]
    fn two_timeouts_set_a_peer_aside_only_while_another_can_take_the_kind() {
        let now = epoch();
        let kind = RequestKind::StorageRanges;
        let mut alone = Peers::new(RateConfig::default(), Duration::from_secs(30));
        alone.connect(PeerId(1), vec![SnapVersion::V1]);
        alone.timed_out(PeerId(1), kind, now);
        alone.timed_out(PeerId(1), kind, now);
        // The only peer stays askable (at the minimum capacity): no 30 s stall.
        assert_eq!(alone.candidates(kind, now, |_| true), vec![PeerId(1)]);
        let mut two = Peers::new(RateConfig::default(), Duration::from_secs(30));
        two.connect(PeerId(1), vec![SnapVersion::V1]);
        two.connect(PeerId(2), vec![SnapVersion::V1]);
        two.timed_out(PeerId(1), kind, now);
        assert_eq!(two.candidates(kind, now, |_| true).len(), 2, "one timeout halves only");
        two.timed_out(PeerId(1), kind, now);
        assert_eq!(two.candidates(kind, now, |_| true), vec![PeerId(2)]);
    }

    #[test]
    fn versions_decide_who_serves_trie_nodes_and_access_lists() {
        let now = epoch();
        let mut peers = Peers::new(RateConfig::default(), Duration::from_secs(30));
        peers.connect(PeerId(1), vec![SnapVersion::V1]);
        peers.connect(PeerId(2), vec![SnapVersion::V2]);
        assert_eq!(peers.candidates(RequestKind::TrieNodes, now, |_| true), vec![PeerId(1)]);
        assert_eq!(peers.candidates(RequestKind::BlockAccessLists, now, |_| true), vec![PeerId(2)]);
    }

    #[test]
    fn faster_peers_come_first() {
        let now = epoch();
        let mut peers = Peers::new(RateConfig::default(), Duration::from_secs(30));
        for id in 1..=3 {
            peers.connect(PeerId(id), vec![SnapVersion::V1]);
        }
        for _ in 0..50 {
            peers.record(PeerId(3), RequestKind::ByteCodes, Duration::from_millis(100), 80);
            peers.record(PeerId(2), RequestKind::ByteCodes, Duration::from_millis(100), 8);
        }
        let order = peers.candidates(RequestKind::ByteCodes, now, |peer| peer != PeerId(1));
        assert_eq!(order, vec![PeerId(3), PeerId(2)]);
    }
}
