//! The one request path: sending a request (or giving its work back when a bound is reached),
//! matching what comes back to it, timeouts and disconnects. What each kind of request does is
//! its [`Request`](super::request::Request) implementation.

use std::time::Instant;

use super::{
    Syncer,
    job::{Attempt, Job, asked},
    request::{Answer, Request},
};
use crate::{
    sync::{
        contract::{Misbehaviour, Output, PeerId, Phase},
        rates::RequestKind,
        requests::Unmatched,
    },
    wire::SnapMessage,
};

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
        let job = self.next_job;
        match self.requests.insert(peer, R::KIND, now, timeout, job) {
            Ok(request_id) => {
                self.next_job += 1;
                let message = message(request_id);
                let attempt = Attempt { id: request_id, peer, sent_at: now, overdue: false };
                self.jobs.insert(
                    job,
                    Job {
                        work: Box::new(work),
                        asked: asked(&message),
                        message: message.clone(),
                        kind: R::KIND,
                        attempts: vec![attempt],
                    },
                );
                self.outputs.push_back(Output::Send { peer, message });
                true
            }
            Err(_) => {
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
                // A late answer to a request that timed out, or to one whose work another
                // peer's answer already delivered: dropped, no fault of the peer.
                return;
            }
            Err(Unmatched::UnknownId | Unmatched::WrongPeer) => {
                return self.penalize(peer, Misbehaviour::Unsolicited(id));
            }
        };
        let Some(job) = self.jobs.remove(&request.work) else { return };
        // The first answer wins: the job's other requests are dropped when they answer.
        for other in job.attempts.iter().filter(|attempt| attempt.id != id) {
            if self.requests.take(other.peer, other.id).is_ok() {
                self.remember_expired(other.peer, other.id);
            }
        }
        let elapsed = now.saturating_duration_since(request.sent_at);
        let kind = request.kind;
        match job.work.answer(self, peer, message) {
            Answer::Used(items) => self.peers.record(peer, kind, elapsed, items),
            Answer::Stale => {}
            Answer::Unavailable => {
                self.peers.record(peer, kind, elapsed, 0);
                self.peers.mark_unavailable(peer, kind, now);
            }
            Answer::Violation(reason) => self.penalize(peer, reason),
        }
    }

    /// Sends overdue work to another peer as well (see [`Job`]), and gives up on requests
    /// past their deadline (from their peer's round trips; the peer is measured down, see
    /// `Peers::timed_out`): work no request carries any more goes back to be asked again.
    pub(super) fn expire_requests(&mut self, now: Instant) {
        // A timeout changes the peer's timeouts, which can make its other requests due too:
        // expire until none is, so no deadline is left in the past (the host would spin).
        loop {
            let peers = &self.peers;
            let expired = self.requests.expire(now, |peer, kind| peers.timeout_for(peer, kind));
            if expired.is_empty() {
                break;
            }
            for (id, request) in expired {
                self.peers.timed_out(request.peer, request.kind, now);
                self.remember_expired(request.peer, id);
                self.detach(request.work, id);
            }
        }
        self.hedge_overdue(now);
    }

    /// Hedges every job whose newest request is overdue, while peers have room.
    fn hedge_overdue(&mut self, now: Instant) {
        let eager = self.peers_idle();
        let due: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.wants_hedge(&self.peers, now, eager))
            .map(|(&id, _)| id)
            .collect();
        for job_id in due {
            self.hedge(job_id, now);
        }
    }

    /// Sends job `job_id`'s request again, to a peer not already asked for it if there is one
    /// with room (else to the one asked longest ago: its message may have been lost).
    fn hedge(&mut self, job_id: u64, now: Instant) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        let kind = job.kind;
        if let Some(newest) = job.attempts.last_mut().filter(|newest| !newest.overdue) {
            newest.overdue = true;
            self.peers.overdue(newest.peer, kind);
        }
        let asked: Vec<PeerId> = job.attempts.iter().map(|attempt| attempt.peer).collect();
        let requests = &self.requests;
        let candidates = self.peers.candidates(kind, now, |peer| requests.has_room_for(peer));
        // A peer not yet asked for the work, else the one asked longest ago (its message may
        // have been lost too).
        let rank = |peer: &PeerId| asked.iter().position(|p| p == peer).map_or(0, |at| at + 1);
        let Some(&peer) =
            candidates.iter().min_by_key(|&peer| (rank(peer), requests.len_for(*peer)))
        else {
            return; // tried again after the next input
        };
        let timeout = self.peers.timeout();
        let Ok(id) = self.requests.insert(peer, kind, now, timeout, job_id) else { return };
        let job = self.jobs.get_mut(&job_id).expect("looked up above");
        job.attempts.push(Attempt { id, peer, sent_at: now, overdue: false });
        let mut message = job.message.clone();
        message.set_request_id(id);
        self.outputs.push_back(Output::Send { peer, message });
    }

    /// The earliest time a job's newest request becomes overdue.
    pub(super) fn next_hedge(&self) -> Option<Instant> {
        let eager = self.peers_idle();
        self.jobs.values().filter_map(|job| job.hedge_at(&self.peers, eager)).min()
    }

    /// Whether fewer requests are in flight than there are peers: some sit idle, so hedging
    /// sooner takes nothing from other work.
    fn peers_idle(&self) -> bool {
        self.requests.len() < self.peers.len()
    }

    /// Request `id` of job `job_id` is gone: the job gives its work back if no other request
    /// carries it.
    fn detach(&mut self, job_id: u64, id: u64) {
        let Some(job) = self.jobs.get_mut(&job_id) else { return };
        job.attempts.retain(|attempt| attempt.id != id);
        if job.attempts.is_empty() {
            let job = self.jobs.remove(&job_id).expect("looked up above");
            job.work.give_back(self);
        }
    }

    /// Remembers `id` as a request of `peer`'s whose answer, if it comes, is dropped quietly.
    fn remember_expired(&mut self, peer: PeerId, id: u64) {
        let ids = self.expired.entry(peer).or_default();
        ids.push_back(id);
        if ids.len() > super::EXPIRED_IDS_PER_PEER {
            ids.pop_front();
        }
    }

    /// Forgets a peer: work only its requests carried goes back to be asked of others.
    pub(super) fn drop_peer(&mut self, peer: PeerId) {
        self.peers.disconnect(peer);
        self.expired.remove(&peer);
        for (id, request) in self.requests.remove_peer(peer) {
            self.detach(request.work, id);
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
