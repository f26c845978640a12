//! Handing work to peers: which request goes to which peer, and how large it is.

use std::time::Instant;

use alloy_primitives::Bytes;

use super::{Syncer, Work};
use crate::{
    sync::{
        contract::{Output, PeerId},
        rates::RequestKind,
    },
    wire::{GetAccountRange, GetByteCodes, GetStorageRanges, GetTrieNodes, SnapMessage},
};

impl Syncer {
    /// Hands work to peers with room, best capacity first: account ranges, then storage
    /// chunks and small contracts, then bytecodes.
    pub(super) fn assign(&mut self, now: Instant) {
        let timeout = self.peers.timeout();
        let root = self.target.root;
        // Account ranges.
        for index in 0..self.accounts.len() {
            if !self.accounts[index].wants_request() {
                continue;
            }
            let Some(peer) = self.pick(RequestKind::AccountRange, now) else { break };
            let bytes = self.range_bytes(peer, RequestKind::AccountRange);
            let task = &self.accounts[index];
            let (origin, limit) = (task.next, task.last);
            let Ok(request_id) = self.requests.insert(
                peer,
                RequestKind::AccountRange,
                now,
                timeout,
                Work::Accounts { task: index, epoch: self.epoch },
            ) else {
                break;
            };
            self.accounts[index].in_flight = true;
            self.send(
                peer,
                SnapMessage::GetAccountRange(GetAccountRange {
                    request_id,
                    root,
                    origin,
                    limit,
                    response_bytes: bytes,
                }),
            );
        }
        // Storage: chunks of large contracts first, then batches of small ones.
        while let Some(peer) = self.pick(RequestKind::StorageRanges, now) {
            let bytes = self.range_bytes(peer, RequestKind::StorageRanges);
            let (work, message) = if let Some(chunk) = self.storage.take_chunk() {
                let message = GetStorageRanges {
                    request_id: 0,
                    root: chunk.state_root,
                    account_hashes: vec![chunk.account],
                    origin: Bytes::copy_from_slice(chunk.origin.as_slice()),
                    limit: Bytes::copy_from_slice(chunk.limit.as_slice()),
                    response_bytes: bytes,
                };
                (Work::Chunk(chunk), message)
            } else if self.storage.has_small_work() {
                let count =
                    (bytes / 1024).clamp(1, self.config.max_storage_accounts_per_request as u64);
                let jobs = self.storage.take_small(count as usize);
                let message = GetStorageRanges {
                    request_id: 0,
                    root,
                    account_hashes: jobs.iter().map(|job| job.account).collect(),
                    origin: Bytes::new(),
                    limit: Bytes::new(),
                    response_bytes: bytes,
                };
                (Work::Storage { jobs, epoch: self.epoch }, message)
            } else {
                break;
            };
            match self.requests.insert(peer, RequestKind::StorageRanges, now, timeout, work) {
                Ok(request_id) => {
                    self.send(
                        peer,
                        SnapMessage::GetStorageRanges(GetStorageRanges { request_id, ..message }),
                    );
                }
                Err(work) => {
                    self.give_back(work);
                    break;
                }
            }
        }
        self.assign_healing(now);
        // Bytecodes.
        while self.codes.has_wanted() {
            let Some(peer) = self.pick(RequestKind::ByteCodes, now) else { break };
            let count =
                self.peers
                    .capacity(peer, RequestKind::ByteCodes)
                    .clamp(1, self.config.max_codes_per_request as u64) as usize;
            let hashes = self.codes.take_batch(count);
            match self.requests.insert(
                peer,
                RequestKind::ByteCodes,
                now,
                timeout,
                Work::Codes(hashes.clone()),
            ) {
                Ok(request_id) => self.send(
                    peer,
                    SnapMessage::GetByteCodes(GetByteCodes {
                        request_id,
                        hashes,
                        response_bytes: self.config.max_request_bytes,
                    }),
                ),
                Err(work) => {
                    self.give_back(work);
                    break;
                }
            }
        }
    }

    /// Hands the heal walk's deepest paths to peers serving snap/1, sized by each peer's
    /// measured trie-node rate. Beyond the configured bound on nodes held in memory, one request
    /// at a time finishes the deepest work first.
    pub(super) fn assign_healing(&mut self, now: Instant) {
        let timeout = self.peers.timeout();
        while self.healer.has_fetch() {
            let heavy =
                self.healer.pending() + self.healer.queued() >= self.config.max_heal_pending;
            let healing = self.requests.count_kind(RequestKind::TrieNodes);
            if heavy && healing > 0 {
                break;
            }
            let Some(peer) = self.pick(RequestKind::TrieNodes, now) else { break };
            let count = self
                .peers
                .capacity(peer, RequestKind::TrieNodes)
                .clamp(1, self.config.max_heal_paths_per_request.max(1) as u64);
            let (items, paths) = self.healer.take_fetch(count as usize);
            let root = self.healer.root();
            let work = Work::Heal { items, epoch: self.epoch };
            match self.requests.insert(peer, RequestKind::TrieNodes, now, timeout, work) {
                Ok(request_id) => self.send(
                    peer,
                    SnapMessage::GetTrieNodes(GetTrieNodes {
                        request_id,
                        root,
                        paths,
                        response_bytes: self.config.max_request_bytes,
                    }),
                ),
                Err(work) => {
                    self.give_back(work);
                    break;
                }
            }
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

    fn range_bytes(&self, peer: PeerId, kind: RequestKind) -> u64 {
        self.peers.capacity(peer, kind).clamp(
            self.config.min_request_bytes,
            self.config.max_request_bytes.max(self.config.min_request_bytes),
        )
    }

    pub(super) fn send(&mut self, peer: PeerId, message: SnapMessage) {
        self.outputs.push_back(Output::Send { peer, message });
    }
}
