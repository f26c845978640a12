//! Handling what comes back: responses matched to their requests, verified, and turned into
//! held accounts, batch contents and completions; and the host's lookup answers.

use std::time::Instant;

use alloy_primitives::B256;
use nybbles::Nibbles;

use super::{Processed, StorageWork, Syncer, Work};
use crate::{
    sync::{
        PeerId,
        accounts::{HeldAccount, Waiting, has_code, has_storage},
        codes::Need,
        contract::{LookupAnswer, LookupId, Misbehaviour},
        heal::{HealContext, HealItem, Healer, NodesOutcome},
        range::HashRange,
        rates::RequestKind,
        requests::Unmatched,
        storage::{StorageDone, StorageJob},
    },
    trie::{PrunedRange, verify_range_nodes},
    wire::{AccountData, AccountRange, ByteCodes, SnapMessage, StorageRanges, TrieNodes},
};

impl Syncer {
    pub(super) fn on_response(&mut self, now: Instant, peer: PeerId, message: SnapMessage) {
        if self.phase == crate::sync::Phase::Done || !self.peers.contains(peer) {
            return;
        }
        let size = message.encoded_len() as u64;
        let (id, kind) = match &message {
            SnapMessage::AccountRange(m) => (m.request_id, RequestKind::AccountRange),
            SnapMessage::StorageRanges(m) => (m.request_id, RequestKind::StorageRanges),
            SnapMessage::ByteCodes(m) => (m.request_id, RequestKind::ByteCodes),
            SnapMessage::TrieNodes(m) => (m.request_id, RequestKind::TrieNodes),
            SnapMessage::BlockAccessLists(m) => (m.request_id, RequestKind::BlockAccessLists),
            // Requests are the host's server's business, not the syncer's.
            _ => return,
        };
        let request = match self.requests.take(peer, id, kind) {
            Ok(request) => request,
            Err(Unmatched::UnknownId)
                if self.expired.get(&peer).is_some_and(|ids| ids.contains(&id)) =>
            {
                return; // a late answer to a request that already timed out
            }
            Err(Unmatched::WrongKind) => {
                return self.penalize(peer, Misbehaviour::WrongResponseKind(id));
            }
            Err(Unmatched::UnknownId | Unmatched::WrongPeer) => {
                return self.penalize(peer, Misbehaviour::Unsolicited(id));
            }
        };
        let elapsed = now.saturating_duration_since(request.sent_at);
        if self.is_stale(&request.work) {
            // Asked for a root the sync left: the answer is of no use, and no fault of the peer
            // (nor a measure of it).
            return self.give_back(request.work);
        }
        let work = request.work.clone();
        let outcome = match (request.work, message) {
            (Work::Accounts { task, .. }, SnapMessage::AccountRange(m)) => {
                self.on_accounts(task, m, size)
            }
            (Work::Storage { jobs, .. }, SnapMessage::StorageRanges(m)) => {
                self.on_storage(StorageWork::Small(jobs), m, size)
            }
            (Work::Chunk(chunk), SnapMessage::StorageRanges(m)) => {
                self.on_storage(StorageWork::Chunk(chunk), m, size)
            }
            (Work::Codes(hashes), SnapMessage::ByteCodes(m)) => self.on_codes(hashes, m, size),
            (Work::Heal { items, .. }, SnapMessage::TrieNodes(m)) => {
                self.on_trie_nodes(items, m, size)
            }
            (Work::Bals(wants), SnapMessage::BlockAccessLists(m)) => self.on_bals(peer, &wants, &m),
            (Work::Probe { .. }, SnapMessage::AccountRange(m)) => self.on_probe(&m),
            (_, message) => Err(Misbehaviour::UnexpectedMessage(message.id())),
        };
        match outcome {
            Ok(Processed::Delivered(items)) => self.peers.record(peer, kind, elapsed, items),
            Ok(Processed::Unavailable) => {
                self.peers.record(peer, kind, elapsed, 0);
                self.peers.mark_unavailable(peer, kind, now);
                self.give_back(work);
            }
            Err(reason) => {
                self.give_back(work);
                self.penalize(peer, reason);
            }
        }
    }

    /// Whether a request was made under a target the sync left (an earlier epoch, even when its
    /// root came back since), or for a chunk whose storage root changed.
    fn is_stale(&self, work: &Work) -> bool {
        match work {
            Work::Accounts { epoch, .. }
            | Work::Storage { epoch, .. }
            | Work::Heal { epoch, .. }
            | Work::Probe { epoch } => *epoch != self.epoch,
            Work::Chunk(chunk) => !self.storage.chunk_is_current(chunk),
            Work::Codes(_) | Work::Bals(_) => false,
        }
    }

    fn on_accounts(
        &mut self,
        task_index: usize,
        response: AccountRange,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        let Some(task) = self.accounts.get(task_index) else { return Ok(Processed::Delivered(0)) };
        if response.accounts.is_empty() && response.proof.is_empty() {
            return Ok(Processed::Unavailable);
        }
        let origin = task.next;
        let last = task.last;
        let root = self.target.root;
        let keys: Vec<B256> = response.accounts.iter().map(|a| a.hash).collect();
        let values: Vec<Vec<u8>> =
            response.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
        let (mut more, nodes) = verify_range_nodes(root, origin, &keys, &values, &response.proof)
            .map_err(Misbehaviour::BadRangeProof)?;
        // Keep the verified leaf encodings and trie nodes: the trie generator takes them as
        // they are.
        let mut accounts: Vec<(AccountData, Vec<u8>)> = Vec::with_capacity(values.len());
        for (account, leaf) in response.accounts.into_iter().zip(values) {
            if account.hash > last {
                more = false;
                break;
            }
            if account.hash == last {
                more = false;
            }
            accounts.push((account, leaf));
        }
        // The range proven to hold exactly these accounts: chunked storage of any other account
        // in it belongs to an account that no longer exists.
        let covered_to = if more { accounts.last().map_or(origin, |(a, _)| a.hash) } else { last };
        let present: Vec<B256> = accounts.iter().map(|(a, _)| a.hash).collect();
        let covered = HashRange { first: origin, last: covered_to };
        // Storage written for accounts that are gone (or now have none) must go with them.
        let mut orphans = self.storage.abandon_missing(covered, &present);
        orphans.extend(accounts.iter().filter_map(|(AccountData { hash, account }, _)| {
            (!has_storage(account) && self.storage.forget(hash)).then_some(*hash)
        }));
        for owner in orphans {
            self.batch.prune(PrunedRange::subtree(owner, Nibbles::new()));
        }
        let mut held = Vec::with_capacity(accounts.len());
        let mut to_check = Vec::new();
        for (AccountData { hash, account }, leaf) in accounts {
            let code = has_code(&account)
                && match self.codes.want(account.code_hash) {
                    Need::Known => false,
                    Need::Pending => true,
                    Need::Check => {
                        to_check.push(account.code_hash);
                        true
                    }
                };
            let (storage, chunked) = if has_storage(&account) {
                let job =
                    StorageJob { account: hash, root: account.storage_root, state_root: root };
                match self.storage.want(job) {
                    Some(done) => (false, done.chunked),
                    None => (true, false),
                }
            } else {
                (false, false)
            };
            let waiting = Waiting { code, storage, chunked };
            held.push(HeldAccount { hash, account, leaf, waiting });
        }
        self.ask_codes(to_check);
        self.counters.account_bytes += size;
        let task = &mut self.accounts[task_index];
        task.in_flight = false;
        task.hold(held, more, nodes);
        self.forward(task_index);
        Ok(Processed::Delivered(size))
    }

    /// A storage response, for a batch of small contracts or for one chunk of a large one.
    fn on_storage(
        &mut self,
        work: StorageWork,
        response: StorageRanges,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        if response.slots.is_empty() && response.proof.is_empty() {
            return Ok(Processed::Unavailable);
        }
        let before = self.batch.storage.len();
        let (slots, proof) = (response.slots, &response.proof);
        let done = match work {
            StorageWork::Small(jobs) => {
                self.storage.on_small_response(jobs, slots, proof, &mut self.batch)?
            }
            StorageWork::Chunk(chunk) => self
                .storage
                .on_chunk_response(&chunk, slots, proof, &mut self.batch)?
                .into_iter()
                .collect(),
        };
        self.counters.slots += (self.batch.storage.len() - before) as u64;
        self.counters.slot_bytes += size;
        self.storage_done(&done);
        Ok(Processed::Delivered(size))
    }

    fn on_codes(
        &mut self,
        hashes: Vec<B256>,
        response: ByteCodes,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        if response.codes.is_empty() {
            return Ok(Processed::Unavailable);
        }
        let delivery = self.codes.deliver(&hashes, response.codes)?;
        let items = delivery.delivered.len() as u64;
        let arrived: Vec<B256> = delivery.delivered.iter().map(|(hash, _)| *hash).collect();
        self.counters.codes += items;
        self.counters.code_bytes += size;
        self.batch.codes.extend(delivery.delivered);
        self.codes_arrived(&arrived);
        Ok(Processed::Delivered(items))
    }

    fn on_trie_nodes(
        &mut self,
        items: Vec<HealItem>,
        response: TrieNodes,
        size: u64,
    ) -> Result<Processed, Misbehaviour> {
        let outcome = self.heal(|healer, ctx| healer.on_nodes(items, response.nodes, ctx))?;
        Ok(match outcome {
            NodesOutcome::Delivered(nodes) => {
                self.counters.node_bytes += size;
                Processed::Delivered(nodes)
            }
            NodesOutcome::Unavailable => Processed::Unavailable,
        })
    }

    /// The store answered a lookup. Unknown ids (answers to a lookup of an earlier run or an
    /// abandoned heal walk) are ignored.
    pub(super) fn on_lookup(&mut self, id: LookupId, answer: LookupAnswer) {
        match answer {
            LookupAnswer::Codes(held) => {
                // Held codes release their accounts; the others are fetched from peers.
                let Some(hashes) = self.lookups.remove(&id.0) else { return };
                let known: Vec<B256> = hashes
                    .iter()
                    .enumerate()
                    .filter(|&(index, hash)| {
                        self.codes.checked(*hash, held.get(index).copied().unwrap_or(false))
                    })
                    .map(|(_, hash)| *hash)
                    .collect();
                self.codes_arrived(&known);
            }
            LookupAnswer::Nodes(held) => {
                self.heal(|healer, ctx| healer.on_lookup(id.0, &held, ctx))
            }
            LookupAnswer::Accounts(accounts) => self.on_accounts_read(id, accounts),
            LookupAnswer::Flat(entries) => self.on_flat_read(id, entries),
        }
    }

    /// These codes are stored now: accounts waiting for them may be written.
    pub(super) fn codes_arrived(&mut self, arrived: &[B256]) {
        if arrived.is_empty() {
            return;
        }
        for index in 0..self.accounts.len() {
            self.accounts[index].codes_arrived(arrived);
            self.forward(index);
        }
        self.heal(|healer, ctx| healer.codes_arrived(arrived, ctx));
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

    /// Storage of these accounts completed: release them in their tasks.
    fn storage_done(&mut self, done: &[StorageDone]) {
        for completion in done {
            let Some(index) = self
                .accounts
                .iter()
                .position(|task| !task.done && task.remaining().contains(&completion.account))
            else {
                continue;
            };
            self.accounts[index].update_held_account(&completion.account, |held| {
                if held.waiting.storage {
                    held.waiting.storage = false;
                    held.waiting.chunked = completion.chunked;
                }
            });
            self.forward(index);
        }
    }

    fn forward(&mut self, index: usize) {
        let written = self.accounts[index].forward(&mut self.batch);
        for account in &written {
            self.storage.forget_completed(account);
        }
        self.counters.accounts += written.len() as u64;
    }
}
