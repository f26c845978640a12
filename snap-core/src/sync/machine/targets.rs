//! Following the chain: new targets and headers, reorgs (which blocks the sync used they
//! orphaned, and how to undo them), restarts, and the choice of catch-up strategy.

use alloy_primitives::B256;
use nybbles::Nibbles;

use super::Syncer;
use crate::{
    sync::{
        accounts::AccountTask,
        catchup::CatchUp,
        chain::{BlockRecord, Inserted},
        config::CatchUpMode,
        contract::{CatchUpStrategy, Header, Output, Phase, RestartReason, SyncEvent, Target},
        heal::Healer,
        progress::ProgressRecord,
        storage::Storage,
    },
    trie::PrunedRange,
    wire::SnapVersion,
};

impl Syncer {
    /// The chain moved. The newest target offered is held, and taken when the current one has
    /// fallen `max_target_lag` blocks behind it, or where a move costs nothing (see
    /// [`Self::take_newer_target`]). Targets too close to the current one are ignored, as is
    /// anything after `Done`.
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
        self.newer_target = Some(target);
        let stale = target.number >= self.target.number.saturating_add(self.config.max_target_lag);
        // Applying block access lists takes a new target in stride, and a sync whose catch-up
        // is complete goes on to a newer state rather than finish at an older one.
        let free = self.phase == Phase::Applying
            || (self.phase == Phase::Flushing && self.beyond_finish(target));
        if stale || free {
            self.move_target(target);
        }
    }

    /// Takes the newest target offered and not yet taken, if there is one: where the range
    /// phase ends, a move costs nothing. Returns whether it took one.
    pub(super) fn take_newer_target(&mut self) -> bool {
        match self.newer_target.take() {
            Some(target) => {
                self.move_target(target);
                true
            }
            None => false,
        }
    }

    /// Catch-up is complete: takes the newest target offered when it is more than
    /// `finish_within` blocks newer (the sync catches up to it), otherwise leaves it (the sync
    /// finishes at its current target). Returns whether it took one.
    pub(super) fn take_target_to_finish(&mut self) -> bool {
        match self.newer_target {
            Some(target) if self.beyond_finish(target) => self.take_newer_target(),
            _ => false,
        }
    }

    /// Whether `target` is too far past the current one to finish without it.
    fn beyond_finish(&self, target: Target) -> bool {
        target.number > self.target.number.saturating_add(self.config.finish_within)
    }

    /// Follows `target` from now on, whatever its distance (a reorg may even go back): range
    /// work held or queued for the old root is dropped and fetched again under the new one.
    pub(super) fn take_target(&mut self, target: Target) {
        self.retarget(target, true);
    }

    /// Follows `target`, newer on the same chain: range work verified against older roots is
    /// kept (each account task moves to the new root between two responses), catch-up repairs
    /// the difference.
    fn move_target(&mut self, target: Target) {
        self.retarget(target, false);
    }

    fn retarget(&mut self, target: Target, drop_ranges: bool) {
        if self.phase == Phase::Done {
            return;
        }
        self.newer_target = None;
        self.catch_up.highest_taken = self.catch_up.highest_taken.max(target.number);
        // Peers that lacked an access list may have it by now.
        self.catch_up.fetcher.forget_lacking();
        self.target = target;
        // A root peers dropped may come back (a reorg back to it): the target is served.
        self.storage.unvoid_root(&target.root);
        self.epoch += 1;
        self.peers.clear_marks();
        if drop_ranges {
            self.generation += 1;
            for task in &mut self.accounts {
                task.retarget(target.root, &mut self.batch);
            }
            self.storage.retarget();
        }
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

    /// A header arrived: extend the window and follow it, or handle the reorg it reveals.
    pub(super) fn on_header(&mut self, header: Header) {
        if self.phase == Phase::Done {
            return;
        }
        if self.catch_up.window.is_empty() {
            // The window can only start at the first target: BAL catch-up must know every
            // block since the oldest root anything was downloaded from.
            let unmoved = self.catch_up.window.base() == self.target.number
                && self.catch_up.highest_taken == self.target.number;
            if unmoved
                && header.number == self.target.number
                && header.state_root == self.target.root
            {
                let strategy = self.catch_up.strategy;
                self.catch_up = CatchUp { strategy, ..CatchUp::starting_at(&header) };
            } else {
                // Without the target's own header the sync follows bare targets.
                self.on_new_target(header.target());
            }
            return;
        }
        match self.catch_up.window.insert(&header) {
            Inserted::Extended => self.on_new_target(header.target()),
            Inserted::Known | Inserted::Unlinked => {}
            Inserted::Reorg { ancestor, orphaned } => self.on_reorg(&header, ancestor, orphaned),
            Inserted::BelowBase => self.on_base_orphaned(&header),
        }
    }

    /// A reorg replaced blocks from `ancestor + 1` on. Blocks the sync used (downloaded from or
    /// applied) must be undone: snap/1 healing does it from the new root; snap/2 fetches their
    /// access lists and downloads again every account they touched.
    fn on_reorg(&mut self, header: &Header, ancestor: u64, orphaned: Vec<(u64, BlockRecord)>) {
        let event = SyncEvent::Reorg { ancestor, orphaned: orphaned.len() };
        self.outputs.push_back(Output::Event(event));
        let used = self.catch_up.highest_taken.max(self.catch_up.applied);
        let affected: Vec<BlockRecord> =
            orphaned.iter().filter(|(n, _)| *n <= used).map(|(_, b)| *b).collect();
        if affected.is_empty() {
            self.on_new_target(header.target());
            return;
        }
        let strategy = self.catch_up.strategy;
        if strategy == CatchUpStrategy::Heal {
            self.take_target(header.target());
            return;
        }
        if affected.iter().all(|b| b.bal_hash().is_some()) {
            self.catch_up.orphaned.extend(affected);
            // Lists fetched ahead for the orphaned branch are of no use any more.
            let catch_up = &mut self.catch_up;
            let (window, orphaned) = (&catch_up.window, &catch_up.orphaned);
            catch_up.fetcher.retain(|block| {
                orphaned.iter().any(|b| b.hash == *block)
                    || window.blocks().iter().any(|b| b.hash == *block)
            });
            self.catch_up.applied = self.catch_up.applied.min(ancestor);
            self.catch_up.abandon_steps();
            self.take_target(header.target());
        } else if strategy == CatchUpStrategy::Undecided
            && !self.peers.speaking(SnapVersion::V1).is_empty()
        {
            self.choose(CatchUpStrategy::Heal);
            self.take_target(header.target());
        } else {
            self.restart(header, RestartReason::OrphanedBalsUnavailable);
        }
    }

    /// A branch forked below the sync's first target: nothing tells what the orphaned base
    /// changed, so only healing (which trusts nothing stored) can continue.
    fn on_base_orphaned(&mut self, header: &Header) {
        let heal_possible = !self.peers.speaking(SnapVersion::V1).is_empty();
        match self.catch_up.strategy {
            CatchUpStrategy::Heal => {}
            CatchUpStrategy::Undecided if heal_possible => self.choose(CatchUpStrategy::Heal),
            _ => return self.restart(header, RestartReason::BaseOrphaned),
        }
        let strategy = self.catch_up.strategy;
        self.catch_up = CatchUp { strategy, ..CatchUp::starting_at(header) };
        self.take_target(header.target());
    }

    /// Throws the sync's state away and starts over at `header`: one batch deletes every
    /// flat entry and trie node (codes stay; they are keyed by hash).
    pub(super) fn restart(&mut self, header: &Header, reason: RestartReason) {
        self.batch.prune(PrunedRange { owner: B256::ZERO, from: Nibbles::new(), to: None });
        self.batch.clear_tries = true;
        let target = header.target();
        self.target = target;
        self.newer_target = None;
        self.epoch += 1;
        self.generation += 1;
        self.peers.clear_marks();
        self.accounts = ProgressRecord::fresh(target, self.config.account_tasks)
            .account_tasks
            .into_iter()
            .map(|cursor| AccountTask::new(cursor, target.root))
            .collect();
        self.storage = Storage::new(super::storage_config(&self.config));
        self.healer = Healer::new(target.root);
        self.catch_up = CatchUp::starting_at(header);
        self.range_base = self.counters;
        self.meter.ranges_again();
        self.outputs.push_back(Output::Event(SyncEvent::Restarted { target, reason }));
        if self.phase != Phase::Ranges {
            self.set_phase(Phase::Ranges);
        }
    }

    fn choose(&mut self, strategy: CatchUpStrategy) {
        self.catch_up.strategy = strategy;
        if strategy == CatchUpStrategy::Heal {
            self.catch_up.orphaned.clear();
            self.catch_up.fetcher.clear();
        }
        self.outputs.push_back(Output::Event(SyncEvent::Strategy(strategy)));
    }

    /// The strategy, chosen now if it was not: snap/2 when every block since the first target
    /// commits to a BAL and a snap/2 peer is there (or no snap/1 one is).
    pub(super) fn decide_strategy(&mut self) -> CatchUpStrategy {
        if self.catch_up.strategy != CatchUpStrategy::Undecided {
            return self.catch_up.strategy;
        }
        let strategy = match self.config.catch_up {
            CatchUpMode::Heal => CatchUpStrategy::Heal,
            CatchUpMode::Bal => CatchUpStrategy::Bal,
            CatchUpMode::Auto => {
                let window = &self.catch_up.window;
                let bals = !window.is_empty() && window.has_bals_through(self.target.number);
                let v2 = !self.peers.speaking(SnapVersion::V2).is_empty();
                let v1 = !self.peers.speaking(SnapVersion::V1).is_empty();
                if bals && (v2 || !v1) { CatchUpStrategy::Bal } else { CatchUpStrategy::Heal }
            }
        };
        self.choose(strategy);
        strategy
    }

    /// The window's tip as a header (for a restart there).
    pub(super) fn tip_header(&self) -> Option<Header> {
        let window = &self.catch_up.window;
        let tip = window.tip()?;
        let block = window.get(tip)?;
        let parent = tip.checked_sub(1).and_then(|n| window.get(n)).map_or(B256::ZERO, |b| b.hash);
        Some(Header {
            number: tip,
            hash: block.hash,
            parent_hash: parent,
            state_root: block.state_root,
            bal_hash: block.bal_hash(),
        })
    }
}
