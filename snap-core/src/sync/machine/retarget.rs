//! Following a moving target, and driving the heal walk.

use super::Syncer;
use crate::sync::{
    contract::{CatchUpStrategy, Lookup, LookupId, Output, Phase, SyncEvent, Target},
    heal::Healer,
};

impl Syncer {
    /// The chain moved. Range downloads continue from their cursors under the new root: held
    /// responses and queued small contracts (verified against the old root) are fetched again,
    /// trie generators restart at their cursors, requests for the old root are dropped when
    /// they come back, unavailability marks are forgotten, and healing restarts from the new
    /// root. Targets too close to the current one are ignored, as is anything after `Done`.
    pub(super) fn on_new_target(&mut self, target: Target) {
        let step = self.config.min_target_step.max(1);
        if self.phase == Phase::Done
            || target.root == self.target.root
            || target.number < self.target.number.saturating_add(step)
        {
            return;
        }
        if self.catch_up.strategy == CatchUpStrategy::Bal {
            // snap/2 freezes the target once the rebuild starts (a rebuild per move would never
            // end), and can only apply blocks whose headers it holds.
            let frozen = matches!(self.phase, Phase::Rebuilding | Phase::Flushing);
            let beyond = self.catch_up.window.tip().is_none_or(|tip| target.number > tip);
            if frozen || beyond {
                return;
            }
        }
        self.take_target(target);
    }

    /// Follows `target` from now on, whatever its distance (a reorg may even go back).
    pub(super) fn take_target(&mut self, target: Target) {
        if self.phase == Phase::Done {
            return;
        }
        self.catch_up.highest_taken = self.catch_up.highest_taken.max(target.number);
        // Peers that lacked an access list may have it by now.
        self.catch_up.fetcher.forget_lacking();
        self.target = target;
        self.epoch += 1;
        self.peers.clear_marks();
        for task in &mut self.accounts {
            task.retarget(&mut self.batch);
        }
        self.storage.retarget();
        self.healer = Healer::new(target.root);
        self.outputs.push_back(Output::Event(SyncEvent::NewTarget(target)));
        let bal = self.catch_up.strategy == CatchUpStrategy::Bal;
        if self.phase == Phase::Flushing {
            self.set_phase(if bal { Phase::Applying } else { Phase::Healing });
        }
        if self.phase == Phase::Rebuilding {
            self.catch_up.abandon_steps();
            self.set_phase(Phase::Applying);
        }
    }

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
        let id = self.next_lookup;
        if let Some(queries) = self.healer.take_lookup(id) {
            self.next_lookup += 1;
            self.outputs
                .push_back(Output::Lookup { id: LookupId(id), lookup: Lookup::Nodes(queries) });
        }
        if self.healer.is_done() && self.codes.is_idle() {
            // The last batch goes out once the others are acknowledged (see `drive`): flushing
            // here could pass the bound on unacknowledged batches.
            self.set_phase(Phase::Flushing);
        }
    }
}
