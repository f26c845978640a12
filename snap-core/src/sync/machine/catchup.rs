//! snap/2 catch-up: fetching every block's access list, applying them in block order (after
//! repairing what orphaned blocks touched), rebuilding the tries from the flat state and
//! checking the root; after a mismatch, probing the target's root node to find the ranges to
//! download again.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use alloy_primitives::{B256, keccak256};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;

use super::{
    Syncer,
    request::{Processed, Request},
};
use crate::{
    sync::{
        accounts::AccountTask,
        catchup::{
            Applying, Mismatch,
            apply::{accounts_to_read, apply_blocks},
            fetch::BalWant,
            rebuild::{TrieRebuild, differing_ranges},
        },
        contract::{
            FlatEntry, Lookup, LookupId, Misbehaviour, Output, PeerId, Phase, RestartReason,
            SyncEvent,
        },
        progress::RangeCursor,
        range::HashRange,
        rates::RequestKind,
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

/// Block access lists by block hash (never stale: a block's list is its list whatever the
/// target).
#[derive(Debug)]
pub(super) struct Bals(Vec<BalWant>);

/// The proof of the target's root node, asked after a rebuilt root did not match, under target
/// `epoch`.
#[derive(Debug)]
pub(super) struct Probe {
    epoch: u64,
}

impl Request<Syncer> for Bals {
    const KIND: RequestKind = RequestKind::BlockAccessLists;
    type Response = BlockAccessLists;

    fn response(message: SnapMessage) -> Option<BlockAccessLists> {
        match message {
            SnapMessage::BlockAccessLists(response) => Some(response),
            _ => None,
        }
    }

    fn is_stale(&self, _: &Syncer) -> bool {
        false
    }

    fn on_response(
        &self,
        syncer: &mut Syncer,
        peer: PeerId,
        response: BlockAccessLists,
        _: u64,
    ) -> Result<Processed, Misbehaviour> {
        let fetcher = &mut syncer.catch_up.fetcher;
        let delivery = fetcher.on_answer(peer, &self.0, &response.access_lists)?;
        syncer.counters.bal_bytes += delivery.bytes;
        Ok(if delivery.lists == 0 {
            Processed::Unavailable
        } else {
            Processed::Delivered(delivery.lists)
        })
    }

    fn give_back(self, syncer: &mut Syncer) {
        syncer.catch_up.fetcher.give_back(&self.0);
    }
}

impl Request<Syncer> for Probe {
    const KIND: RequestKind = RequestKind::AccountRange;
    type Response = AccountRange;

    fn response(message: SnapMessage) -> Option<AccountRange> {
        match message {
            SnapMessage::AccountRange(response) => Some(response),
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
        response: AccountRange,
        _: u64,
    ) -> Result<Processed, Misbehaviour> {
        syncer.on_probe(&response)
    }

    fn give_back(self, syncer: &mut Syncer) {
        if let Some(mismatch) = syncer.catch_up.mismatch.as_mut() {
            mismatch.probing = false;
        }
    }
}

impl Syncer {
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
        let lookup = self.ask(Lookup::Accounts(hashes.clone()));
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
            self.accounts
                .push(AccountTask::new(RangeCursor { next: *hash, last: *hash }, self.target.root));
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
        rebuild.awaiting = Some(self.next_lookup);
        let limit = self.config.rebuild_lookup_entries.max(1);
        self.ask(Lookup::Flat { from, limit });
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
            let response_bytes = self.config.max_request_bytes.saturating_mul(4);
            let sent = self.issue(peer, now, Bals(wants), |request_id| {
                SnapMessage::GetBlockAccessLists(GetBlockAccessLists {
                    request_id,
                    block_hashes,
                    response_bytes,
                })
            });
            if !sent {
                break;
            }
        }
        if self.catch_up.mismatch.as_ref().is_some_and(|m| !m.probing) {
            let Some(peer) = self.pick(RequestKind::AccountRange, now) else { return };
            if let Some(mismatch) = self.catch_up.mismatch.as_mut() {
                mismatch.probing = true;
            }
            let root = self.target.root;
            self.issue(peer, now, Probe { epoch: self.epoch }, |request_id| {
                SnapMessage::GetAccountRange(GetAccountRange {
                    request_id,
                    root,
                    origin: B256::ZERO,
                    limit: B256::ZERO,
                    response_bytes: 1,
                })
            });
        }
    }

    /// A peer proved the target's first accounts: compare its root node with the rebuilt one,
    /// report the ranges that differ and download them again.
    fn on_probe(&mut self, response: &AccountRange) -> Result<Processed, Misbehaviour> {
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
            self.accounts.push(AccountTask::new(RangeCursor::from(*range), self.target.root));
        }
        self.set_phase(Phase::Ranges);
        Ok(Processed::Delivered(1))
    }
}
