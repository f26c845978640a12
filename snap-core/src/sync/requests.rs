//! The table of requests in flight: ids, owners, kinds and deadlines, with bounds per peer and in
//! total, and the matching rule that makes any response that was not asked for a violation.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use super::{contract::PeerId, rates::RequestKind, rng::SplitMix64};

/// One request in flight, carrying `T`: what the machine needs to pick the work up again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InFlight<T> {
    /// The peer the request went to.
    pub peer: PeerId,
    /// The kind of request, which fixes the kind of response that may answer it.
    pub kind: RequestKind,
    /// When it was sent.
    pub sent_at: Instant,
    /// When it times out.
    pub deadline: Instant,
    /// The work it carries.
    pub work: T,
}

impl<T> InFlight<T> {
    /// The deadline, or the send time plus `timeout_of(peer, kind)` if earlier.
    fn deadline_with(&self, timeout_of: &impl Fn(PeerId, RequestKind) -> Duration) -> Instant {
        let own =
            self.sent_at.checked_add(timeout_of(self.peer, self.kind)).unwrap_or(self.deadline);
        own.min(self.deadline)
    }
}

/// Why a response could not be matched to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unmatched {
    /// No request with that id is in flight (never sent, already answered, or timed out).
    UnknownId,
    /// The id belongs to a request sent to another peer.
    WrongPeer,
}

/// Requests in flight, bounded per peer and in total.
#[derive(Debug)]
#[must_use]
pub(crate) struct RequestTable<T> {
    ids: SplitMix64,
    in_flight: BTreeMap<u64, InFlight<T>>,
    per_peer: BTreeMap<PeerId, usize>,
    max_per_peer: usize,
    max_total: usize,
}

impl<T> RequestTable<T> {
    /// An empty table drawing request ids from `seed`.
    pub(crate) fn new(seed: u64, max_per_peer: usize, max_total: usize) -> Self {
        Self {
            ids: SplitMix64::new(seed),
            in_flight: BTreeMap::new(),
            per_peer: BTreeMap::new(),
            max_per_peer: max_per_peer.max(1),
            max_total: max_total.max(1),
        }
    }

    /// Whether one more request may go to `peer` without breaking a bound.
    pub(crate) fn has_room_for(&self, peer: PeerId) -> bool {
        self.in_flight.len() < self.max_total
            && self.per_peer.get(&peer).copied().unwrap_or(0) < self.max_per_peer
    }

    /// Requests in flight in total.
    pub(crate) fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether no request is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Requests of `kind` in flight.
    pub(crate) fn count_kind(&self, kind: RequestKind) -> usize {
        self.in_flight.values().filter(|request| request.kind == kind).count()
    }

    /// Requests in flight to `peer`.
    pub(crate) fn len_for(&self, peer: PeerId) -> usize {
        self.per_peer.get(&peer).copied().unwrap_or(0)
    }

    /// Records a request and returns its fresh, non-zero, unused id, or gives the work back when
    /// a bound would be broken.
    pub(crate) fn insert(
        &mut self,
        peer: PeerId,
        kind: RequestKind,
        now: Instant,
        timeout: Duration,
        work: T,
    ) -> Result<u64, T> {
        if !self.has_room_for(peer) {
            return Err(work);
        }
        let id = loop {
            let candidate = self.ids.next_u64();
            if candidate != 0 && !self.in_flight.contains_key(&candidate) {
                break candidate;
            }
        };
        let deadline = now.checked_add(timeout).unwrap_or(now);
        self.in_flight.insert(id, InFlight { peer, kind, sent_at: now, deadline, work });
        *self.per_peer.entry(peer).or_default() += 1;
        Ok(id)
    }

    /// Takes the request that a response from `peer` with `id` answers. The request stays in
    /// flight when the id is another peer's. (Whether the response is of the kind that answers
    /// it is the request's own check.)
    pub(crate) fn take(&mut self, peer: PeerId, id: u64) -> Result<InFlight<T>, Unmatched> {
        let request = self.in_flight.get(&id).ok_or(Unmatched::UnknownId)?;
        if request.peer != peer {
            return Err(Unmatched::WrongPeer);
        }
        Ok(self.remove(id).expect("present: looked up above"))
    }

    /// Takes every request whose deadline is at or before `now`, oldest id order. A request's
    /// deadline is the earlier of the one it was sent with and its send time plus
    /// `timeout_of(peer, kind)` (which follows the peer's measured round trips).
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        timeout_of: impl Fn(PeerId, RequestKind) -> Duration,
    ) -> Vec<(u64, InFlight<T>)> {
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, request)| request.deadline_with(&timeout_of) <= now)
            .map(|(&id, _)| id)
            .collect();
        expired.into_iter().filter_map(|id| self.remove(id).map(|request| (id, request))).collect()
    }

    /// Takes every request in flight to `peer`.
    pub(crate) fn remove_peer(&mut self, peer: PeerId) -> Vec<(u64, InFlight<T>)> {
        let ids: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, request)| request.peer == peer)
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id).map(|request| (id, request))).collect()
    }

    /// The earliest deadline of any request in flight (see [`Self::expire`]).
    pub(crate) fn next_deadline(
        &self,
        timeout_of: impl Fn(PeerId, RequestKind) -> Duration,
    ) -> Option<Instant> {
        self.in_flight.values().map(|request| request.deadline_with(&timeout_of)).min()
    }

    fn remove(&mut self, id: u64) -> Option<InFlight<T>> {
        let request = self.in_flight.remove(&id)?;
        if let Some(count) = self.per_peer.get_mut(&request.peer) {
            *count -= 1;
            if *count == 0 {
                self.per_peer.remove(&request.peer);
            }
        }
        Some(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::test_epoch as epoch;
    use proptest::prelude::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn responses_match_only_their_own_request() {
        let now = epoch();
        let mut table = RequestTable::new(7, 4, 16);
        let id = table.insert(PeerId(1), RequestKind::AccountRange, now, SECOND, "task 0").unwrap();
        assert_eq!(table.take(PeerId(2), id), Err(Unmatched::WrongPeer));
        assert_eq!(table.take(PeerId(1), id ^ 1), Err(Unmatched::UnknownId));
        let request = table.take(PeerId(1), id).unwrap();
        assert_eq!(request.work, "task 0");
        assert_eq!(request.kind, RequestKind::AccountRange);
        assert_eq!(
            table.take(PeerId(1), id),
            Err(Unmatched::UnknownId),
            "a duplicate is unsolicited"
        );
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn bounds_per_peer_and_in_total_hold() {
        let now = epoch();
        let mut table = RequestTable::new(1, 2, 3);
        assert!(table.insert(PeerId(1), RequestKind::ByteCodes, now, SECOND, 1).is_ok());
        assert!(table.insert(PeerId(1), RequestKind::ByteCodes, now, SECOND, 2).is_ok());
        assert_eq!(table.insert(PeerId(1), RequestKind::ByteCodes, now, SECOND, 3), Err(3));
        assert!(table.insert(PeerId(2), RequestKind::ByteCodes, now, SECOND, 4).is_ok());
        assert_eq!(table.insert(PeerId(3), RequestKind::ByteCodes, now, SECOND, 5), Err(5));
        assert_eq!(table.remove_peer(PeerId(1)).len(), 2);
        assert!(table.has_room_for(PeerId(1)));
    }

    #[test]
    fn expiry_takes_exactly_the_overdue_requests() {
        let now = epoch();
        let mut table = RequestTable::new(3, 8, 8);
        table.insert(PeerId(1), RequestKind::TrieNodes, now, SECOND, "short").unwrap();
        table.insert(PeerId(1), RequestKind::TrieNodes, now, 3 * SECOND, "long").unwrap();
        assert_eq!(table.next_deadline(|_, _| Duration::MAX), Some(now + SECOND));
        assert!(table.expire(now, |_, _| Duration::MAX).is_empty());
        let expired = table.expire(now + SECOND, |_, _| Duration::MAX);
        assert_eq!(expired.iter().map(|(_, r)| r.work).collect::<Vec<_>>(), vec!["short"]);
        assert_eq!(table.next_deadline(|_, _| Duration::MAX), Some(now + 3 * SECOND));
    }

    proptest! {
        #[test]
        fn ids_are_unique_non_zero_and_seed_determined(seed in any::<u64>(), count in 1usize..200) {
            let now = epoch();
            let mut first = RequestTable::new(seed, usize::MAX, usize::MAX);
            let mut second = RequestTable::new(seed, usize::MAX, usize::MAX);
            let mut seen = std::collections::BTreeSet::new();
            for i in 0..count {
                let a = first.insert(PeerId(i as u64 % 5), RequestKind::AccountRange, now, SECOND, i).unwrap();
                let b = second.insert(PeerId(i as u64 % 5), RequestKind::AccountRange, now, SECOND, i).unwrap();
                prop_assert_eq!(a, b);
                prop_assert!(a != 0 && seen.insert(a));
            }
            let per_peer: usize = (0..5).map(|p| first.len_for(PeerId(p))).sum();
            prop_assert_eq!(per_peer, first.len());
        }
    }
}
