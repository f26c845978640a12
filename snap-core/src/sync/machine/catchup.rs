//! snap/2 catch-up and the header stream: following headers, handling reorgs, choosing the
//! strategy, applying block access lists in block order, rebuilding the tries and checking the
//! root.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use alloy_primitives::{B256, keccak256};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;

use super::{Processed, Syncer, Work};
use crate::{
    sync::{
        CatchUpMode, Output, Phase, SyncEvent,
        accounts::AccountTask,
        catchup::{
            Applying, CatchUp, Mismatch,
            apply::{accounts_to_read, apply_blocks},
            fetch::BalWant,
            rebuild::{TrieRebuild, differing_ranges},
        },
        chain::{BlockRecord, Header, Inserted},
        contract::{FlatEntry, Lookup, LookupId, Misbehaviour, RestartReason},
        heal::Healer,
        progress::{CatchUpStrategy, RangeCursor},
        range::HashRange,
        rates::RequestKind,
        storage::Storage,
    },
    trie::{PrunedRange, proof::verify_range},
    wire::{
        AccountRange, BlockAccessLists, GetAccountRange, GetBlockAccessLists, SnapMessage,
        SnapVersion,
    },
};

/// Most blocks applied in one step (one store lookup, one write batch).
const BLOCKS_PER_STEP: usize = 16;

/// Priority of canonical blocks behind orphaned ones (which repair what the sync holds).
const CANONICAL: u64 = 1 << 32;

/// A block this far behind the tip whose list no peer has is taken as expired everywhere (a
/// newer block's list may merely not be imported yet): the sync restarts at the tip.
const EXPIRED_AFTER: u64 = 64;

impl Syncer {
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
        self.epoch += 1;
        self.peers.clear_marks();
        self.accounts = crate::sync::ProgressRecord::fresh(target, self.config.account_tasks)
            .account_tasks
            .into_iter()
            .map(AccountTask::new)
            .collect();
        self.storage = Storage::new(super::storage_config(&self.config));
        self.healer = Healer::new(target.root);
        self.catch_up = CatchUp::starting_at(header);
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

    /// The snap/2 application phase: repair what orphaned blocks touched, then apply every
    /// block's access list up to the target, then start the rebuild.
    pub(super) fn drive_applying(&mut self) {
        if !self.catch_up.orphaned.is_empty() {
            return self.drive_repair();
        }
        let target = self.target.number;
        let applied = self.catch_up.applied;
        if applied >= target {
            self.set_phase(Phase::Rebuilding);
            return;
        }
        let ahead = (self.config.max_bals_ahead.max(1) as u64).min(target - applied);
        for number in applied + 1..=applied + ahead {
            let Some(block) = self.catch_up.window.get(number) else { break };
            let Some(commitment) = block.bal_hash() else { break };
            let want = BalWant { block: block.hash, commitment };
            self.catch_up.fetcher.want(want, CANONICAL + number);
        }
        if self.catch_up.applying.is_some() {
            return;
        }
        let servers = self.peers.speaking(SnapVersion::V2);
        let tip = self.catch_up.window.tip().unwrap_or(target);
        if let Some(next) = self.catch_up.window.get(applied + 1)
            && applied + 1 + EXPIRED_AFTER <= tip
            && self.catch_up.fetcher.lacked_by_all(&next.hash, &servers)
            && let Some(header) = self.tip_header()
        {
            return self.restart(&header, RestartReason::BalsExpired);
        }
        let mut blocks = Vec::new();
        for number in applied + 1..=target {
            if blocks.len() == BLOCKS_PER_STEP {
                break;
            }
            let Some(block) = self.catch_up.window.get(number) else { break };
            if self.catch_up.fetcher.fetched(&block.hash).is_none() {
                break;
            }
            blocks.push((number, block.hash));
        }
        if blocks.is_empty() {
            return;
        }
        // The lookup must see everything written so far.
        if !self.batch.is_empty() {
            if self.unacknowledged.len() >= self.config.max_unacknowledged_batches {
                return;
            }
            self.flush();
        }
        let fetcher = &self.catch_up.fetcher;
        let hashes = accounts_to_read(blocks.iter().filter_map(|(_, hash)| fetcher.fetched(hash)));
        let lookup = self.next_lookup;
        self.next_lookup += 1;
        self.outputs.push_back(Output::Lookup {
            id: LookupId(lookup),
            lookup: Lookup::Accounts(hashes.clone()),
        });
        self.catch_up.applying = Some(Applying { lookup, blocks, hashes });
    }

    /// The store answered which accounts an application step changes: apply its blocks.
    pub(super) fn on_accounts_read(&mut self, id: LookupId, answer: Vec<Option<TrieAccount>>) {
        let Some(step) = self.catch_up.applying.take_if(|step| step.lookup == id.0) else {
            return;
        };
        let stored: BTreeMap<B256, TrieAccount> = step
            .hashes
            .iter()
            .zip(answer)
            .filter_map(|(hash, account)| Some((*hash, account?)))
            .collect();
        let fetcher = &self.catch_up.fetcher;
        let diffs = step.blocks.iter().filter_map(|(_, hash)| fetcher.fetched(hash));
        let applied = apply_blocks(diffs, &stored, &mut self.batch);
        for (_, hash) in &step.blocks {
            self.catch_up.fetcher.remove(hash);
        }
        if let Some((last, _)) = step.blocks.last() {
            self.catch_up.applied = *last;
        }
        self.counters.bals += step.blocks.len() as u64;
        self.counters.bal_accounts += applied.accounts;
        self.counters.bal_slots += applied.slots;
    }

    /// Orphaned blocks' lists first: every account they touched is deleted and downloaded
    /// again from the target (the new branch's own lists then apply on top). If no snap/2 peer
    /// has one of them, the sync starts over.
    fn drive_repair(&mut self) {
        let orphaned = self.catch_up.orphaned.clone();
        for (index, block) in orphaned.iter().enumerate() {
            let Some(commitment) = block.bal_hash() else { continue };
            self.catch_up.fetcher.want(BalWant { block: block.hash, commitment }, index as u64);
        }
        let servers = self.peers.speaking(SnapVersion::V2);
        if orphaned.iter().any(|b| self.catch_up.fetcher.lacked_by_all(&b.hash, &servers)) {
            let Some(tip) = self.tip_header() else { return };
            return self.restart(&tip, RestartReason::OrphanedBalsUnavailable);
        }
        if !orphaned.iter().all(|b| self.catch_up.fetcher.fetched(&b.hash).is_some()) {
            return;
        }
        let touched: BTreeSet<B256> = orphaned
            .iter()
            .filter_map(|b| self.catch_up.fetcher.fetched(&b.hash))
            .flat_map(|diff| diff.accounts.iter().map(|account| account.hash))
            .collect();
        for hash in &touched {
            self.batch.prune(PrunedRange::subtree(B256::ZERO, Nibbles::unpack(hash)));
            self.storage.forget(hash);
            self.accounts.push(AccountTask::new(RangeCursor { next: *hash, last: *hash }));
        }
        for block in &orphaned {
            self.catch_up.fetcher.remove(&block.hash);
        }
        self.catch_up.orphaned.clear();
        self.catch_up.highest_taken = self.target.number;
        if !touched.is_empty() {
            self.set_phase(Phase::Ranges);
        }
    }

    /// The window's tip as a header (for a restart there).
    fn tip_header(&self) -> Option<Header> {
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

    /// The rebuild phase: stream the flat state through the trie generators, one lookup at a
    /// time and within the bound on unacknowledged batches.
    pub(super) fn drive_rebuild(&mut self) {
        if self.catch_up.mismatch.is_some() {
            return;
        }
        if self.catch_up.rebuild.is_none() {
            if !self.batch.is_empty() {
                if self.unacknowledged.len() >= self.config.max_unacknowledged_batches {
                    return;
                }
                self.flush();
            }
            self.catch_up.rebuild = Some(TrieRebuild::new());
            self.batch.clear_tries = true;
        }
        if self.unacknowledged.len() >= self.config.max_unacknowledged_batches
            || self.batch_size.estimated_bytes(&self.batch) >= self.config.batch_bytes
        {
            return;
        }
        let Some(rebuild) = self.catch_up.rebuild.as_mut() else { return };
        let Some(from) = rebuild.next_lookup() else { return };
        let id = self.next_lookup;
        self.next_lookup += 1;
        rebuild.awaiting = Some(id);
        let limit = self.config.rebuild_lookup_entries.max(1);
        self.outputs
            .push_back(Output::Lookup { id: LookupId(id), lookup: Lookup::Flat { from, limit } });
    }

    /// The store answered a rebuild lookup.
    pub(super) fn on_flat_read(&mut self, id: LookupId, entries: Vec<FlatEntry>) {
        let Some(rebuild) = self.catch_up.rebuild.as_mut() else { return };
        if rebuild.awaiting != Some(id.0) {
            return;
        }
        let limit = self.config.rebuild_lookup_entries.max(1);
        let before = rebuild.leaves();
        let finished = rebuild.feed(entries, limit, &mut self.batch);
        self.counters.rebuilt_leaves += rebuild.leaves() - before;
        let Some(rebuilt) = finished else { return };
        self.catch_up.rebuild = None;
        if rebuilt.root == self.target.root {
            self.set_phase(Phase::Flushing);
        } else {
            let computed = rebuilt.root;
            self.catch_up.mismatch =
                Some(Mismatch { computed, root_node: rebuilt.root_node, probing: false });
        }
    }

    /// Sends what snap/2 catch-up needs: access lists to snap/2 peers, and after a root
    /// mismatch one small account range whose proof carries the target's root node.
    pub(super) fn assign_catch_up(&mut self, now: Instant) {
        let timeout = self.peers.timeout();
        while self.catch_up.fetcher.has_queued() {
            let Some(peer) = self.pick(RequestKind::BlockAccessLists, now) else { break };
            let wants =
                self.catch_up.fetcher.take_for(peer, self.config.max_bals_per_request.max(1));
            if wants.is_empty() {
                // This peer lacks everything queued; others may still have it.
                self.peers.mark_unavailable(peer, RequestKind::BlockAccessLists, now);
                continue;
            }
            let block_hashes = wants.iter().map(|want| want.block).collect();
            let work = Work::Bals(wants);
            match self.requests.insert(peer, RequestKind::BlockAccessLists, now, timeout, work) {
                Ok(request_id) => self.send(
                    peer,
                    SnapMessage::GetBlockAccessLists(GetBlockAccessLists {
                        request_id,
                        block_hashes,
                        response_bytes: self.config.max_request_bytes.saturating_mul(4),
                    }),
                ),
                Err(work) => {
                    self.give_back(work);
                    break;
                }
            }
        }
        if self.catch_up.mismatch.as_ref().is_some_and(|m| !m.probing) {
            let Some(peer) = self.pick(RequestKind::AccountRange, now) else { return };
            let work = Work::Probe { epoch: self.epoch };
            if let Ok(request_id) =
                self.requests.insert(peer, RequestKind::AccountRange, now, timeout, work)
            {
                if let Some(mismatch) = self.catch_up.mismatch.as_mut() {
                    mismatch.probing = true;
                }
                self.send(
                    peer,
                    SnapMessage::GetAccountRange(GetAccountRange {
                        request_id,
                        root: self.target.root,
                        origin: B256::ZERO,
                        limit: B256::ZERO,
                        response_bytes: 1,
                    }),
                );
            }
        }
    }

    pub(super) fn on_bals(
        &mut self,
        peer: crate::sync::PeerId,
        wants: &[BalWant],
        response: &BlockAccessLists,
    ) -> Result<Processed, Misbehaviour> {
        let delivery = self.catch_up.fetcher.on_answer(peer, wants, &response.access_lists)?;
        self.counters.bal_bytes += delivery.bytes;
        Ok(if delivery.lists == 0 {
            Processed::Unavailable
        } else {
            Processed::Delivered(delivery.lists)
        })
    }

    /// A peer proved the target's first accounts: compare its root node with the rebuilt one,
    /// report the ranges that differ and download them again.
    pub(super) fn on_probe(&mut self, response: &AccountRange) -> Result<Processed, Misbehaviour> {
        if response.accounts.is_empty() && response.proof.is_empty() {
            return Ok(Processed::Unavailable);
        }
        let root = self.target.root;
        let keys: Vec<B256> = response.accounts.iter().map(|a| a.hash).collect();
        let values: Vec<Vec<u8>> =
            response.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
        verify_range(root, B256::ZERO, &keys, &values, &response.proof)
            .map_err(Misbehaviour::BadRangeProof)?;
        let Some(mismatch) = self.catch_up.mismatch.take() else {
            return Ok(Processed::Delivered(0));
        };
        let remote = response.proof.iter().find(|node| keccak256(node) == root);
        let whole = vec![HashRange { first: B256::ZERO, last: B256::repeat_byte(0xff) }];
        let ranges = match remote {
            Some(remote) => {
                differing_ranges(mismatch.root_node.as_ref().map(|node| &node[..]), remote)
            }
            None => whole,
        };
        self.outputs.push_back(Output::Event(SyncEvent::RootMismatch {
            expected: root,
            computed: mismatch.computed,
            ranges: ranges.clone(),
        }));
        for range in &ranges {
            let prune = if range.first == B256::ZERO && range.last == B256::repeat_byte(0xff) {
                PrunedRange { owner: B256::ZERO, from: Nibbles::new(), to: None }
            } else {
                PrunedRange::subtree(B256::ZERO, Nibbles::from_nibbles([range.first[0] >> 4]))
            };
            self.batch.prune(prune);
            // Storage completed in the range is deleted with it: download it again too.
            self.storage.abandon_missing(*range, &[]);
            self.accounts.push(AccountTask::new(RangeCursor::from(*range)));
        }
        self.set_phase(Phase::Ranges);
        Ok(Processed::Delivered(1))
    }
}
