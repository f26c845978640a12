//! The one request path. Every kind of request the machine sends is one [`Request`]: the work it
//! carries, the response that answers it, when that answer is stale, how it is used and how the
//! work is given back. The path around it is written once here: pick a peer, record the request
//! (or give the work back when a bound is reached), send it; match what comes back by id and
//! peer, check its kind and staleness, use it, and give the work back on a timeout, a
//! disconnect, an empty answer or a violation.
//!
//! A new kind of request is one `Request` implementation and one loop in its phase's `assign`.

use std::{fmt, time::Instant};

use super::Syncer;
use crate::{
    sync::{
        contract::{Misbehaviour, Output, PeerId, Phase},
        rates::RequestKind,
        requests::Unmatched,
    },
    wire::SnapMessage,
};

/// The outcome of using one answer.
pub(super) enum Processed {
    /// Items (or bytes) delivered, for the peer's rate.
    Delivered(u64),
    /// The peer answered empty: it lacks the state. The work is given back and the peer not
    /// asked for this kind of data for a while.
    Unavailable,
}

/// One kind of request: the work it carries while in flight.
pub(super) trait Request: fmt::Debug + Sized + 'static {
    /// The kind of request (its rate, its bound, its response).
    const KIND: RequestKind;

    /// The message that answers it.
    type Response;

    /// The answer, if `message` is of the kind that answers this request.
    fn response(message: SnapMessage) -> Option<Self::Response>;

    /// Whether an answer can no longer be used: asked under a target the sync left, or for a
    /// chunk whose storage root changed. A stale answer is dropped, no fault of the peer (nor a
    /// measure of it).
    fn is_stale(&self, syncer: &Syncer) -> bool;

    /// Verifies the answer and takes what it delivers.
    fn on_response(
        &self,
        syncer: &mut Syncer,
        peer: PeerId,
        response: Self::Response,
        size: u64,
    ) -> Result<Processed, Misbehaviour>;

    /// Makes the work available again (unless it is for a root the sync left).
    fn give_back(self, syncer: &mut Syncer);
}

/// What became of an answer.
pub(super) enum Answer {
    /// Used: this many items for the peer's rate.
    Used(u64),
    /// Of no use any more; the work was given back.
    Stale,
    /// The peer lacks the data; the work was given back.
    Unavailable,
    /// The peer broke the protocol; the work was given back.
    Violation(Misbehaviour),
}

/// A request of any kind, as the table of requests in flight holds it.
pub(super) trait AnyRequest: fmt::Debug {
    /// Checks the answer's kind and staleness, uses it, and gives the work back unless it was
    /// used.
    fn answer(self: Box<Self>, syncer: &mut Syncer, peer: PeerId, message: SnapMessage) -> Answer;
    /// Makes the work available again.
    fn give_back(self: Box<Self>, syncer: &mut Syncer);
}

impl<R: Request> AnyRequest for R {
    fn answer(self: Box<Self>, syncer: &mut Syncer, peer: PeerId, message: SnapMessage) -> Answer {
        let (id, size) = (message.request_id(), message.encoded_len() as u64);
        let Some(response) = R::response(message) else {
            (*self).give_back(syncer);
            return Answer::Violation(Misbehaviour::WrongResponseKind(id));
        };
        if self.is_stale(syncer) {
            (*self).give_back(syncer);
            return Answer::Stale;
        }
        let outcome = self.on_response(syncer, peer, response, size);
        match outcome {
            Ok(Processed::Delivered(items)) => Answer::Used(items),
            Ok(Processed::Unavailable) => {
                (*self).give_back(syncer);
                Answer::Unavailable
            }
            Err(reason) => {
                (*self).give_back(syncer);
                Answer::Violation(reason)
            }
        }
    }

    fn give_back(self: Box<Self>, syncer: &mut Syncer) {
        Request::give_back(*self, syncer);
    }
}

impl Syncer {
    /// Sends the request `message` builds (from its request id) to `peer`, carrying `work`.
    /// Returns false, with the work given back, when a bound on requests in flight is reached.
    pub(super) fn issue<R: Request>(
        &mut self,
        peer: PeerId,
        now: Instant,
        work: R,
        message: impl FnOnce(u64) -> SnapMessage,
    ) -> bool {
        let timeout = self.peers.timeout();
        let work: Box<dyn AnyRequest> = Box::new(work);
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

    /// Gives every request past its deadline to other peers: the peer is measured as having
    /// delivered nothing and not asked for that kind for a while.
    pub(super) fn expire_requests(&mut self, now: Instant) {
        for (id, request) in self.requests.expire(now) {
            let elapsed = now.saturating_duration_since(request.sent_at);
            self.peers.record(request.peer, request.kind, elapsed, 0);
            self.peers.mark_unavailable(request.peer, request.kind, now);
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
