//! Following the chain once started: trusted headers linked to the trusted chain (missing
//! ancestors fetched by hash), pruned, and handed out `offset` blocks behind the trusted tip.

use std::time::Instant;

use alloy_primitives::B256;

use super::{
    Anchor, HeaderStart, PeerState, PivotEvent, PivotOutput, PivotSelector, Purpose,
    chain::{Emitted, Unlinked},
};
use crate::sync::Header;

/// Trusted blocks below the tip asked again with every request for newer headers.
const RECHECKED_BLOCKS: u64 = 4;

impl PivotSelector {
    /// `Peers` mode, started: asks idle peers (those `which` selects) for the headers after the
    /// trusted tip, from a few blocks below it: a reorg that replaced the tip with a branch no
    /// longer than it (seen by peers behind the newest block) is found by their votes.
    pub(super) fn ask_newer(&mut self, now: Instant, which: impl Fn(&PeerState) -> bool) {
        let Some(tip) = self.headers.tip().map(|h| h.number) else { return };
        let limit = self.config.max_headers;
        let overlap = RECHECKED_BLOCKS.min(limit / 2).min(tip);
        for peer in self.idle_peers(now, false) {
            let Some(state) = self.peers.get_mut(&peer).filter(|state| which(state)) else {
                continue;
            };
            state.more = false;
            self.send_headers(
                now,
                peer,
                HeaderStart::Number(tip + 1 - overlap),
                limit,
                false,
                Purpose::Segment,
            );
        }
    }

    /// Re-anchors a started sync at `pivot`, which does not link to what it followed.
    pub(super) fn jump(&mut self, pivot: Header) {
        self.emitted = Emitted::new(
            (self.config.offset + self.config.reorg_depth + self.config.max_headers) as usize,
        );
        self.emitted.push(&pivot);
        self.outputs.push_back(PivotOutput::Jump(pivot));
    }

    /// The trusted header to link next: the consensus client's head (or finalized block), or
    /// the highest header `quorum` peers agree on.
    pub(super) fn next_top(&self) -> Option<Header> {
        let low = self.headers.lowest()?.number;
        match self.anchor {
            Anchor::Peers => self.headers.best_agreed(self.config.quorum.max(1), low),
            Anchor::Consensus => {
                let (head, finalized) = self.consensus?;
                [head, finalized]
                    .into_iter()
                    .filter(|hash| *hash != B256::ZERO && !self.headers.is_trusted(*hash))
                    .find_map(|hash| self.headers.find(hash).copied())
            }
            _ => None,
        }
    }

    /// Links trusted headers to the trusted chain, fetching missing ancestors by hash.
    pub(super) fn link(&mut self, now: Instant) {
        if self.headers.tip().is_none() {
            return;
        }
        if self.anchor == Anchor::Consensus {
            self.fetch_consensus_head(now);
        }
        // Each pass links one header or stops; the trusted chain only grows or moves branch.
        for _ in 0..4 {
            let Some(top) = self.next_top() else { return };
            let tip = self.headers.tip().map_or(0, |h| h.number);
            let max_len = self.config.reorg_depth + self.config.max_backfill;
            if top.number > tip + self.config.max_backfill {
                self.rebase(now, top);
                return;
            }
            match self.headers.path_to(top, max_len) {
                Ok(path) => {
                    if let Some(replaced) = self.headers.splice(path) {
                        self.outputs.push_back(PivotOutput::Event(PivotEvent::Reorg {
                            ancestor: replaced.ancestor,
                            depth: replaced.depth,
                        }));
                    }
                    self.prune();
                }
                Err(Unlinked::Missing { hash, number }) => {
                    let lowest = self.headers.lowest().map_or(0, |h| h.number);
                    let limit = (number - lowest + 1).min(self.config.max_headers);
                    self.fetch_lineage(now, hash, limit, Some(top.hash));
                    return;
                }
                Err(Unlinked::TooDeep) => {
                    self.rebase(now, top);
                    return;
                }
            }
        }
    }

    /// Asks for the consensus head's header when no peer has sent it yet.
    pub(super) fn fetch_consensus_head(&mut self, now: Instant) {
        let Some((head, _)) = self.consensus else { return };
        if self.headers.find(head).is_some() {
            return;
        }
        let limit = self.config.max_headers;
        self.fetch_lineage(now, head, limit, None);
    }

    /// Asks for `limit` headers from the trusted `hash` down, preferring a peer that vouched
    /// for `top` (whose chain holds them).
    pub(super) fn fetch_lineage(
        &mut self,
        now: Instant,
        hash: B256,
        limit: u64,
        top: Option<B256>,
    ) {
        let start = HeaderStart::Hash(hash);
        if self.pending_any(|p| matches!(p, Purpose::Lineage(r) if r.start == start)) {
            return;
        }
        let voters = top.map(|top| self.headers.voters(top).to_vec()).unwrap_or_default();
        let idle = self.idle_peers(now, false);
        let peer = voters.into_iter().find(|v| idle.contains(v)).or_else(|| self.pick_peer(now));
        if let Some(peer) = peer {
            self.send_headers(now, peer, start, limit, true, Purpose::Lineage);
        }
    }

    /// Starts the trusted chain over at `top` and the `offset` blocks below it.
    pub(super) fn rebase(&mut self, now: Instant, top: Header) {
        if self.pending_any(|p| matches!(p, Purpose::Anchor(_)))
            || self.continue_anchor_from(now, top.hash)
        {
            return;
        }
        if let Some(peer) = self.pick_peer(now) {
            let limit = (self.anchor_depth() + 1).min(self.config.max_headers);
            self.send_headers(now, peer, HeaderStart::Hash(top.hash), limit, true, Purpose::Anchor);
        }
    }

    /// Drops trusted headers no reorg can reach any more.
    pub(super) fn prune(&mut self) {
        let Some(tip) = self.headers.tip().map(|h| h.number) else { return };
        let keep_from = tip.saturating_sub(self.config.offset + self.config.reorg_depth);
        let keep_from = self.emitted.tip().map_or(keep_from, |emitted| {
            keep_from.min(emitted.saturating_sub(self.config.reorg_depth))
        });
        self.headers.prune_below(keep_from);
    }

    /// Hands out trusted headers up to `offset` behind the trusted tip, in order; a branch
    /// departing from what was handed out is handed out from its first block, at least up to
    /// the height handed out before (a target above the offset, the trusted head taken when no
    /// peer served the pivot, must not stay on the orphaned branch).
    pub(super) fn emit(&mut self) {
        let (Some(tip), Some(emitted)) = (self.headers.tip().map(|h| h.number), self.emitted.tip())
        else {
            return;
        };
        let limit = tip.saturating_sub(self.config.offset);
        let Some(agreeing) = self.emitted.last_agreeing(&self.headers) else {
            // No block handed out (of those kept) is on the trusted chain any more: the branch
            // replacing them is handed out from the lowest of them.
            let Some(lowest) = self.emitted.lowest() else { return };
            for number in lowest..=limit.max(emitted) {
                let Some(header) = self.headers.trusted(number).copied() else { break };
                self.emitted.push(&header);
                self.outputs.push_back(PivotOutput::Header(header));
            }
            return;
        };
        let limit = if agreeing < emitted { limit.max(emitted) } else { limit };
        if agreeing < emitted && limit > agreeing {
            self.outputs.push_back(PivotOutput::Event(PivotEvent::Reorg {
                ancestor: agreeing,
                depth: emitted - agreeing,
            }));
        }
        let from = if agreeing < emitted { agreeing + 1 } else { emitted + 1 };
        for number in from..=limit {
            let Some(header) = self.headers.trusted(number).copied() else { break };
            self.emitted.push(&header);
            self.outputs.push_back(PivotOutput::Header(header));
        }
    }
}
