//! Choosing the first target: the pivot peers agree on (or the consensus client's head less
//! the offset), then a probe for a peer serving its state, falling back to the trusted head.

use std::{collections::BTreeSet, time::Instant};

use alloy_primitives::B256;

use super::{
    Anchor, HeaderStart, PeerId, Pending, PivotEvent, PivotMisbehaviour, PivotOutput,
    PivotSelector, Purpose, Round, Stage, WaitReason,
    probe::{Probed, probe_request, verify_probe},
};
use crate::{sync::Header, wire::AccountRange};

impl PivotSelector {
    /// `Peers` mode: pick the pivot number from the heads peers announced, then wait for
    /// `quorum` of them to send the same header for it.
    pub(super) fn choose_by_peers(&mut self, now: Instant) {
        for peer in self.idle_peers(now, false) {
            let state = &self.peers[&peer];
            if state.head_number.is_none() && !self.pending.values().any(|p| p.peer == peer) {
                let head = state.head;
                self.send_headers(now, peer, HeaderStart::Hash(head), 1, false, Purpose::Head);
            }
        }
        let quorum = self.config.quorum.max(1);
        let mut heads: Vec<u64> = self.peers.values().filter_map(|s| s.head_number).collect();
        heads.sort_unstable_by(|a, b| b.cmp(a));
        let skip = match &self.stage {
            Stage::Choosing { round: Some(round) } => round.skip,
            _ => 0,
        };
        let Some(&head) = heads.get(quorum - 1 + skip) else {
            if skip == 0 {
                self.wait(WaitReason::TooFewPeers { have: heads.len(), need: quorum });
            } else {
                // Every claimed head tried: wait for the next interval's fresh round.
                self.wait(WaitReason::NoAgreement);
            }
            return;
        };
        let pivot = head.saturating_sub(self.config.offset);
        if let Some(root) = self.headers.agreed_at(quorum, pivot) {
            self.headers.reset([root]);
            self.link(now);
            let mut candidates = vec![root];
            candidates.extend(self.headers.tip().filter(|tip| **tip != root).copied());
            self.stage = Stage::Probing { candidates, index: 0, asked: BTreeSet::new() };
            self.probe(now);
            return;
        }
        let Stage::Choosing { round } = &mut self.stage else { return };
        let round = round.get_or_insert_with(|| Round { skip, pivot, asked: BTreeSet::new() });
        if round.pivot != pivot {
            *round = Round { skip, pivot, asked: BTreeSet::new() };
        }
        let asked = round.asked.clone();
        let limit = (head - pivot + 1).min(self.config.max_headers);
        let askable: Vec<PeerId> = self
            .idle_peers(now, false)
            .into_iter()
            .filter(|peer| !asked.contains(peer))
            .filter(|peer| self.peers[peer].head_number.is_some_and(|n| n >= pivot))
            .collect();
        for peer in &askable {
            self.send_headers(
                now,
                *peer,
                HeaderStart::Number(pivot),
                limit,
                false,
                Purpose::Segment,
            );
        }
        let Stage::Choosing { round: Some(round) } = &mut self.stage else { return };
        round.asked.extend(askable);
        let asked_anyone = !round.asked.is_empty();
        if asked_anyone && !self.pending_any(|p| matches!(p, Purpose::Segment(_))) {
            // Everyone asked has answered, and no `quorum` of them agree: pass over this
            // round's head and try the next lower one.
            let Stage::Choosing { round: Some(round) } = &mut self.stage else { return };
            *round = Round { skip: round.skip + 1, pivot: u64::MAX, asked: BTreeSet::new() };
            self.choose_by_peers(now);
        }
    }

    /// `Consensus` mode: fetch the head's header and the `offset` blocks below it, by hash.
    pub(super) fn choose_by_consensus(&mut self, now: Instant) {
        let Some((head, _)) = self.consensus else {
            self.wait(WaitReason::NoConsensusHead);
            return;
        };
        // An anchor being fetched from an earlier head is finished first (its blocks are as
        // trusted, and the newer head is followed from it): starting over at every new head
        // would never finish where fetching `offset` blocks takes longer than a block.
        let fetching = self.anchoring.first().map_or(head, |first| first.hash);
        if self
            .pending_any(|p| matches!(p, Purpose::Anchor(r) if r.start == HeaderStart::Hash(head)))
            || self.continue_anchor_from(now, fetching)
        {
            return;
        }
        match self.pick_peer(now) {
            Some(peer) => {
                let limit = (self.anchor_depth() + 1).min(self.config.max_headers);
                self.send_headers(now, peer, HeaderStart::Hash(head), limit, true, Purpose::Anchor);
            }
            None => self.wait(WaitReason::HeaderUnknown),
        }
    }

    /// A trusted head and the blocks below it (descending). Until they reach `offset` blocks
    /// below the head (one request brings at most `max_headers`), the lowest one's parent is
    /// asked for next, by hash; then the trusted chain starts over with them.
    pub(super) fn on_anchor(&mut self, now: Instant, headers: Vec<Header>, continues: bool) {
        let mut chain = std::mem::take(&mut self.anchoring);
        if continues {
            // Only a continuation of the chain being fetched is of use (a newer head may have
            // started another since it was asked).
            if chain.last().is_none_or(|lowest| headers[0].hash != lowest.parent_hash) {
                self.anchoring = chain;
                return;
            }
        } else {
            chain.clear();
        }
        chain.extend(headers);
        let (head, lowest) = (chain[0], chain[chain.len() - 1]);
        if lowest.number > head.number.saturating_sub(self.anchor_depth()) {
            // Kept whether or not a peer is free now: the next step continues it.
            self.anchoring = chain;
            self.continue_anchor(now);
            return;
        }
        self.anchor_chain(now, chain);
    }

    /// Asks for the next blocks of the anchor being fetched, from the parent of the lowest one
    /// so far, unless a request for them is out. Returns whether an anchor is being fetched
    /// from `head` (so that it is continued, not started over).
    pub(super) fn continue_anchor_from(&mut self, now: Instant, head: B256) -> bool {
        if self.anchoring.first().is_none_or(|first| first.hash != head) {
            return false;
        }
        self.continue_anchor(now);
        true
    }

    fn continue_anchor(&mut self, now: Instant) {
        let (Some(head), Some(lowest)) = (self.anchoring.first(), self.anchoring.last()) else {
            return;
        };
        let pivot = head.number.saturating_sub(self.anchor_depth());
        let (start, limit) = (lowest.parent_hash, lowest.number.saturating_sub(pivot));
        if limit == 0 || self.pending_any(|p| matches!(p, Purpose::AnchorMore(_))) {
            return;
        }
        if let Some(peer) = self.pick_peer(now) {
            let limit = limit.min(self.config.max_headers);
            self.send_headers(
                now,
                peer,
                HeaderStart::Hash(start),
                limit,
                true,
                Purpose::AnchorMore,
            );
        }
    }

    /// How far below the head an anchor reaches: `offset`, within what the trusted chain holds.
    pub(super) fn anchor_depth(&self) -> u64 {
        let held = self.config.max_backfill.saturating_add(self.config.reorg_depth);
        self.config.offset.min(held.saturating_sub(1))
    }

    /// The anchor's headers (descending, head first) reach the pivot: the trusted chain starts
    /// over with them.
    fn anchor_chain(&mut self, now: Instant, mut headers: Vec<Header>) {
        headers.reverse();
        let (Some(&pivot), Some(&head)) = (headers.first(), headers.last()) else { return };
        self.headers.reset(headers);
        match self.stage {
            Stage::Following if !self.resumed => self.jump(pivot),
            _ => {
                let mut candidates = vec![pivot];
                candidates.extend((head != pivot).then_some(head));
                self.stage = Stage::Probing { candidates, index: 0, asked: BTreeSet::new() };
                self.probe(now);
            }
        }
    }

    /// Probes the current candidate with every idle snap peer not asked yet; moves to the next
    /// candidate when every probe came back without the state.
    pub(super) fn probe(&mut self, now: Instant) {
        loop {
            let Stage::Probing { candidates, index, asked } = &self.stage else { return };
            let candidate = candidates[*index];
            if candidate.state_root == alloy_trie::EMPTY_ROOT_HASH {
                // Nothing to download: every peer "serves" the empty state.
                self.start(candidate);
                return;
            }
            let asked = asked.clone();
            let fresh: Vec<PeerId> =
                self.idle_peers(now, true).into_iter().filter(|p| !asked.contains(p)).collect();
            for peer in &fresh {
                let request =
                    probe_request(self.next_id(), candidate.state_root, self.config.probe_bytes);
                self.track(now, *peer, request.request_id, Purpose::Probe(candidate));
                self.outputs.push_back(PivotOutput::Probe { peer: *peer, request });
            }
            if let Stage::Probing { asked, .. } = &mut self.stage {
                asked.extend(fresh);
                if asked.is_empty() {
                    self.wait(WaitReason::NoSnapPeer);
                    return;
                }
            }
            if !self.next_candidate_if_unserved() {
                return;
            }
        }
    }

    /// When every probe of the current candidate came back without its state, moves to the
    /// next candidate (`true`); after the last, the sync chooses again at the next follow
    /// interval.
    pub(super) fn next_candidate_if_unserved(&mut self) -> bool {
        let probing = self.pending_any(|p| matches!(p, Purpose::Probe(_)));
        let Stage::Probing { candidates, index, asked } = &mut self.stage else { return false };
        if probing || asked.is_empty() {
            return false;
        }
        let candidate = candidates[*index];
        if *index + 1 < candidates.len() {
            *index += 1;
            asked.clear();
            return true;
        } else {
            self.outputs.push_back(PivotOutput::Event(PivotEvent::Unserved(candidate.target())));
            self.stage = Stage::Choosing { round: None };
            if self.anchor == Anchor::Peers {
                // Heads move on: ask them again next time.
                for state in self.peers.values_mut() {
                    state.head_number = None;
                }
            }
        }
        false
    }

    pub(super) fn on_probe(&mut self, now: Instant, peer: PeerId, reply: AccountRange) {
        let id = reply.request_id;
        let Some(Pending { purpose: Purpose::Probe(candidate), .. }) =
            self.pending.get(&id).filter(|p| p.peer == peer).copied()
        else {
            return;
        };
        self.pending.remove(&id);
        if let Some(state) = self.peers.get_mut(&peer) {
            state.busy = false;
            state.timeouts = 0;
        }
        let current = matches!(&self.stage, Stage::Probing { candidates, index, .. }
            if candidates[*index] == candidate);
        match verify_probe(candidate.state_root, &reply) {
            Probed::Served if current => self.start(candidate),
            Probed::Served | Probed::Unserved => {}
            Probed::Invalid => self.outputs.push_back(PivotOutput::Penalize {
                peer,
                reason: PivotMisbehaviour::BadProof { root: candidate.state_root },
            }),
        }
        self.step(now);
    }

    /// Starts the sync on `header` (or, resumed without a header, re-targets it there).
    pub(super) fn start(&mut self, header: Header) {
        let resumed = std::mem::take(&mut self.resumed);
        self.stage = Stage::Following;
        self.last_wait = None;
        if self.headers.trusted(header.number) != Some(&header) {
            self.headers.reset([header]);
        }
        self.emitted.push(&header);
        self.outputs.push_back(if resumed {
            PivotOutput::Jump(header)
        } else {
            PivotOutput::Start { target: header.target(), header: Some(header) }
        });
    }
}
