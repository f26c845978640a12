//! snap/1 catch-up: driving the heal walk (`sync/heal`) from the machine: its lookups, its
//! `GetTrieNodes` requests and their answers, and the end of healing.

use std::time::Instant;

use super::{
    Syncer,
    request::{Processed, Request},
};
use crate::{
    sync::{
        contract::{Lookup, Misbehaviour, PeerId, Phase},
        heal::{HealContext, HealItem, Healer, NodesOutcome},
        rates::RequestKind,
    },
    wire::{GetTrieNodes, SnapMessage, TrieNodes},
};

/// Trie nodes the heal walk fetches, asked under target `epoch`.
#[derive(Debug)]
pub(super) struct Heal {
    items: Vec<HealItem>,
    epoch: u64,
}

impl Request<Syncer> for Heal {
    const KIND: RequestKind = RequestKind::TrieNodes;
    type Response = TrieNodes;

    fn response(message: SnapMessage) -> Option<TrieNodes> {
        match message {
            SnapMessage::TrieNodes(response) => Some(response),
            _ => None,
        }
    }

    fn is_stale(&self, syncer: &Syncer) -> bool {
        self.epoch != syncer.epoch
    }

    fn on_response(
        &self,
        syncer: &mut Syncer,
        _: PeerId,
        response: TrieNodes,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        let items = self.items.clone();
        let outcome = syncer.heal(|healer, ctx| healer.on_nodes(items, response.nodes, ctx))?;
        Ok(match outcome {
            NodesOutcome::Delivered(nodes) => {
                syncer.counters.node_bytes += size;
                Processed::Delivered(nodes)
            }
            NodesOutcome::Unavailable => Processed::Unavailable,
        })
    }

    fn give_back(self, syncer: &mut Syncer) {
        if self.epoch == syncer.epoch {
            syncer.healer.give_back(self.items);
        }
    }
}

impl Syncer {
    /// Starts the walk once the batch before it is out (its lookups must see everything decided
    /// so far), asks the store about queued nodes, and ends healing when the root is committed.
    pub(super) fn drive_healing(&mut self) {
        let room = self.unacknowledged.len() < self.config.max_unacknowledged_batches;
        if !self.healer.is_started() {
            if !self.batch.is_empty() {
                if !room {
                    return;
                }
                self.flush();
            }
            self.heal(Healer::start);
        }
        if let Some(queries) = self.healer.take_lookup(self.next_lookup) {
            self.ask(Lookup::Nodes(queries));
        }
        if self.healer.is_done() && self.codes.is_idle() {
            if self.take_target_to_finish() {
                // The store holds the old target exactly: heal the difference to the new one.
                return self.drive_healing();
            }
            // The last batch goes out once the others are acknowledged (see `drive`): flushing
            // here could pass the bound on unacknowledged batches.
            self.set_phase(Phase::Flushing);
        }
    }

    /// Hands the heal walk's deepest paths to peers serving snap/1, sized by each peer's
    /// measured trie-node rate. Beyond the configured bound on nodes held in memory, one request
    /// at a time finishes the deepest work first.
    pub(super) fn assign_healing(&mut self, now: Instant) {
        while self.healer.has_fetch() {
            let heavy =
                self.healer.pending() + self.healer.queued() >= self.config.max_heal_pending;
            if heavy && self.requests.count_kind(RequestKind::TrieNodes) > 0 {
                break;
            }
            let Some(peer) = self.pick(RequestKind::TrieNodes, now) else { break };
            let most = self.config.max_heal_paths_per_request.max(1) as u64;
            let count = self.peers.capacity(peer, RequestKind::TrieNodes).clamp(1, most);
            let (items, paths) = self.healer.take_fetch(count as usize);
            let root = self.healer.root();
            let response_bytes = self.config.max_request_bytes;
            let work = Heal { items, epoch: self.epoch };
            let sent = self.issue(peer, now, work, |request_id| {
                SnapMessage::GetTrieNodes(GetTrieNodes { request_id, root, paths, response_bytes })
            });
            if !sent {
                break;
            }
        }
    }

    /// Runs `step` of the heal walk with the batch, codes and counters it works on, then asks
    /// the store about the codes the step met.
    pub(super) fn heal<R>(
        &mut self,
        step: impl FnOnce(&mut Healer, &mut HealContext<'_>) -> R,
    ) -> R {
        let mut code_checks = Vec::new();
        let mut ctx = HealContext {
            batch: &mut self.batch,
            codes: &mut self.codes,
            counters: &mut self.counters,
            code_checks: &mut code_checks,
        };
        let result = step(&mut self.healer, &mut ctx);
        self.ask_codes(code_checks);
        result
    }
}
