//! A piece of work in flight and the requests carrying it: the first, and hedges sent to other
//! peers when the newest is overdue. Generic over the work, so the machine's modules can hold
//! it without importing one another.

use std::time::Instant;

use crate::{
    sync::{contract::PeerId, peers::Peers, rates::RequestKind},
    wire::SnapMessage,
};

/// How many requests may carry one piece of work at once: the first, and hedges sent when the
/// newest is overdue.
pub(super) const MAX_ATTEMPTS: usize = 5;

/// One piece of work in flight. It is sent to one peer and, once that answer is overdue
/// (`Peers::hedge_after`), to another as well; the first answer that arrives is used and the
/// others are dropped when they come (as late answers, without penalty). The work is given
/// back only when every request carrying it is gone (timed out, disconnected).
#[derive(Debug)]
pub(super) struct Job<W> {
    pub(super) work: W,
    /// The request as sent (its id is replaced for each attempt).
    pub(super) message: SnapMessage,
    pub(super) kind: RequestKind,
    /// What the request asks for, in the unit of its kind's rate.
    pub(super) asked: u64,
    /// The requests carrying the work, oldest first.
    pub(super) attempts: Vec<Attempt>,
}

/// One request carrying a job's work.
#[derive(Clone, Copy, Debug)]
pub(super) struct Attempt {
    pub(super) id: u64,
    pub(super) peer: PeerId,
    pub(super) sent_at: Instant,
    /// Its hedge deadline passed (the peer was measured down once for it).
    pub(super) overdue: bool,
}

impl<W> Job<W> {
    /// When the job's newest request is overdue and a hedge is due, unless one was already
    /// tried for it or the job has as many requests as it may.
    /// `eager`: peers sit idle, so the hedge comes sooner (see `RateTracker::hedge_after`).
    pub(super) fn hedge_at(&self, peers: &Peers, eager: bool) -> Option<Instant> {
        let newest = self.attempts.last().filter(|newest| !newest.overdue)?;
        if self.attempts.len() >= MAX_ATTEMPTS {
            return None;
        }
        let after = peers.hedge_after(newest.peer, self.kind, self.asked, eager);
        newest.sent_at.checked_add(after)
    }

    /// Whether the job's newest request is overdue and may still be hedged.
    pub(super) fn wants_hedge(&self, peers: &Peers, now: Instant, eager: bool) -> bool {
        self.attempts.len() < MAX_ATTEMPTS
            && (self.attempts.last().is_some_and(|newest| newest.overdue)
                || self.hedge_at(peers, eager).is_some_and(|at| at <= now))
    }
}

/// What a request asks for, in the unit its kind's rate is measured in.
pub(super) fn asked(message: &SnapMessage) -> u64 {
    match message {
        SnapMessage::GetAccountRange(m) => m.response_bytes,
        SnapMessage::GetStorageRanges(m) => m.response_bytes,
        SnapMessage::GetByteCodes(m) => m.hashes.len() as u64,
        SnapMessage::GetTrieNodes(m) => {
            m.paths.iter().map(|set| set.0.len().saturating_sub(1).max(1) as u64).sum()
        }
        SnapMessage::GetBlockAccessLists(m) => m.block_hashes.len() as u64,
        _ => 0,
    }
}
