//! The one request path: sending a request (or giving its work back when a bound is reached),
//! matching what comes back to it, timeouts and disconnects. What each kind of request does is
//! its [`Request`](super::request::Request) implementation.

use std::time::Instant;

use super::{
    Syncer,
    request::{Answer, AnyRequest, Request},
};
use crate::{
    sync::{
        contract::{Misbehaviour, Output, PeerId, Phase},
        rates::RequestKind,
        requests::{InFlight, Unmatched},
    },
    wire::SnapMessage,
};

/// A request taken out of the table when its deadline passed.
type Expired = InFlight<Box<dyn AnyRequest<Syncer>>>;

impl Syncer {
    /// Sends the request `message` builds (from its request id) to `peer`, carrying `work`.
    /// Returns false, with the work given back, when a bound on requests in flight is reached.
    pub(super) fn issue<R: Request<Self>>(
        &mut self,
        peer: PeerId,
        now: Instant,
        work: R,
        message: impl FnOnce(u64) -> SnapMessage,
    ) -> bool {
        let timeout = self.peers.timeout();
        let work: Box<dyn AnyRequest<Self>> = Box::new(work);
        match self.requests.insert(peer, R::KIND, now, timeout, work) {
            Ok(request_id) => {
                self.outputs.push_back(Output::Send { peer, message: message(request_id) });
                true
            }
            Err(work) => {
                work.give_back(self);
                false
            }
        }
    }

    /// A message from a peer: matched to its request by id and peer, then used.
    pub(super) fn on_response(&mut self, now: Instant, peer: PeerId, message: SnapMessage) {
        if self.phase == Phase::Done || !self.peers.contains(peer) {
            return;
        }
        let kind = message.id();
        if kind.is_request() {
            // Requests are answered by the host's server and never reach the core; one that
            // does came where a response to the core's request was due.
            return self.penalize(peer, Misbehaviour::UnexpectedMessage(kind));
        }
        let id = message.request_id();
        let request = match self.requests.take(peer, id) {
            Ok(request) => request,
            Err(Unmatched::UnknownId)
                if self.expired.get(&peer).is_some_and(|ids| ids.contains(&id)) =>
            {
                return; // a late answer to a request that already timed out
            }
            Err(Unmatched::UnknownId | Unmatched::WrongPeer) => {
                return self.penalize(peer, Misbehaviour::Unsolicited(id));
            }
        };
        let elapsed = now.saturating_duration_since(request.sent_at);
        let kind = request.kind;
        match request.work.answer(self, peer, message) {
            Answer::Used(items) => self.peers.record(peer, kind, elapsed, items),
            Answer::Stale => {}
            Answer::Unavailable => {
                self.peers.record(peer, kind, elapsed, 0);
                self.peers.mark_unavailable(peer, kind, now);
            }
            Answer::Violation(reason) => self.penalize(peer, reason),
        }
    }

    /// Gives every request past its deadline (from its peer's round trips) to other peers; the
    /// peer is measured down (see `Peers::timed_out`).
    pub(super) fn expire_requests(&mut self, now: Instant) {
        // A timeout changes the peer's timeouts, which can make its other requests due too:
        // expire until none is, so no deadline is left in the past (the host would spin).
        loop {
            let peers = &self.peers;
            let expired = self.requests.expire(now, |peer, kind| peers.timeout_for(peer, kind));
            if expired.is_empty() {
                return;
            }
            self.expire_these(expired, now);
        }
    }

    fn expire_these(&mut self, expired: Vec<(u64, Expired)>, now: Instant) {
        for (id, request) in expired {
            self.peers.timed_out(request.peer, request.kind, now);
            let ids = self.expired.entry(request.peer).or_default();
            ids.push_back(id);
            if ids.len() > super::EXPIRED_IDS_PER_PEER {
                ids.pop_front();
            }
            request.work.give_back(self);
        }
    }

    /// Forgets a peer: its requests in flight go back to be asked of others.
    pub(super) fn drop_peer(&mut self, peer: PeerId) {
        self.peers.disconnect(peer);
        self.expired.remove(&peer);
        for (_, request) in self.requests.remove_peer(peer) {
            request.work.give_back(self);
        }
    }

    /// The least busy peer with room for one more request of `kind`; among equally busy
    /// ones, the one with the best capacity.
    pub(super) fn pick(&self, kind: RequestKind, now: Instant) -> Option<PeerId> {
        let requests = &self.requests;
        let candidates = self.peers.candidates(kind, now, |peer| requests.has_room_for(peer));
        // `candidates` is ordered by capacity; `min_by_key` keeps the first of equal loads.
        candidates.into_iter().min_by_key(|&peer| requests.len_for(peer))
    }

    /// The byte budget of a range request to `peer`, from its measured capacity.
    pub(super) fn range_bytes(&self, peer: PeerId, kind: RequestKind) -> u64 {
        self.peers.capacity(peer, kind).clamp(
            self.config.min_request_bytes,
            self.config.max_request_bytes.max(self.config.min_request_bytes),
        )
    }
}
