//! The headers the selector knows: the trusted chain (contiguous, linked by parent hash) and
//! the candidates peers sent, with who vouched for each. A candidate becomes trusted when
//! enough peers vouch for it, when it is an anchor, or when it links by parent hash down from
//! a trusted header to the trusted chain.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::B256;
use smallvec::SmallVec;

use crate::sync::{Header, PeerId};

/// A header some peer sent, and the peers that sent it as part of their chain.
#[derive(Clone, Debug)]
struct Candidate {
    header: Header,
    voters: SmallVec<[PeerId; 4]>,
    /// Sent as an ancestor of a hash asked for (kept without votes, for linking).
    lineage: bool,
    /// The reply it last came in (a counter): the bound on unvoted candidates drops the
    /// longest unseen first, so that branches a reorg left behind make room for the one being
    /// linked.
    seen: u64,
}

/// Why a trusted header could not be linked to the trusted chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unlinked {
    /// The header with this hash (and number) is needed to continue down.
    Missing { hash: B256, number: u64 },
    /// The branch forks below what the trusted chain still holds (or is too long to follow).
    TooDeep,
}

/// What a splice replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Replaced {
    /// The last block both branches share.
    pub(crate) ancestor: u64,
    /// Trusted blocks the new branch replaced.
    pub(crate) depth: u64,
}

/// The trusted chain and the candidates.
#[derive(Clone, Debug, Default)]
pub(crate) struct Headers {
    trusted: BTreeMap<u64, Header>,
    candidates: HashMap<B256, Candidate>,
    votes: HashMap<PeerId, Vec<B256>>,
    /// Most candidates kept without votes. (Voted ones are bounded by the peers: each peer's
    /// votes are its latest reply only.)
    max_lineage: usize,
    /// Counts replies, for `Candidate::seen`.
    received: u64,
}

impl Headers {
    pub(crate) fn new(max_lineage: usize) -> Self {
        Self { max_lineage: max_lineage.max(1), ..Self::default() }
    }

    pub(crate) fn tip(&self) -> Option<&Header> {
        self.trusted.values().next_back()
    }

    pub(crate) fn lowest(&self) -> Option<&Header> {
        self.trusted.values().next()
    }

    pub(crate) fn trusted(&self, number: u64) -> Option<&Header> {
        self.trusted.get(&number)
    }

    pub(crate) fn is_trusted(&self, hash: B256) -> bool {
        self.trusted.values().any(|header| header.hash == hash)
    }

    /// A header known by hash, trusted or not.
    pub(crate) fn find(&self, hash: B256) -> Option<&Header> {
        self.candidates
            .get(&hash)
            .map(|c| &c.header)
            .or_else(|| self.trusted.values().rev().find(|h| h.hash == hash))
    }

    /// Starts the trusted chain with `headers` (ascending, linked), dropping what it held.
    pub(crate) fn reset(&mut self, headers: impl IntoIterator<Item = Header>) {
        self.trusted = headers.into_iter().map(|h| (h.number, h)).collect();
    }

    /// Replaces what `peer` vouched for with `headers` (its latest reply).
    pub(crate) fn vote(&mut self, peer: PeerId, headers: &[Header]) {
        self.forget_votes(peer);
        self.received += 1;
        for header in headers {
            let Some(candidate) = self.receive(header) else { continue };
            if !candidate.voters.contains(&peer) {
                candidate.voters.push(peer);
            }
        }
        self.votes.insert(peer, headers.iter().map(|h| h.hash).collect());
    }

    /// Headers known to be linked to a trusted hash (a reply to a request by that hash):
    /// kept without votes, for linking.
    pub(crate) fn add_lineage(&mut self, headers: &[Header]) {
        self.received += 1;
        for header in headers {
            if let Some(candidate) = self.receive(header) {
                candidate.lineage = true;
            }
        }
        self.bound_lineage();
    }

    /// The candidate for `header` (created unvoted if new), marked as seen in the current
    /// reply; `None` when another header is known under its hash (see [`Self::conflicts`]).
    fn receive(&mut self, header: &Header) -> Option<&mut Candidate> {
        if self.conflicts(header) {
            return None;
        }
        let seen = self.received;
        let candidate = self.candidates.entry(header.hash).or_insert_with(|| Candidate {
            header: *header,
            voters: SmallVec::new(),
            lineage: false,
            seen,
        });
        candidate.seen = seen;
        Some(candidate)
    }

    /// Whether another header is known under `header`'s hash. Hosts compute hashes from the
    /// headers received, so this means a host that does not: the hash is then useless as a
    /// pin, and both are dropped.
    fn conflicts(&mut self, header: &Header) -> bool {
        let conflict = self.candidates.get(&header.hash).is_some_and(|c| c.header != *header);
        if conflict {
            self.candidates.remove(&header.hash);
        }
        conflict
    }

    /// Drops `peer`'s votes (it went away).
    pub(crate) fn forget_votes(&mut self, peer: PeerId) {
        for hash in self.votes.remove(&peer).unwrap_or_default() {
            if let Some(candidate) = self.candidates.get_mut(&hash) {
                candidate.voters.retain(|voter| *voter != peer);
                if candidate.voters.is_empty() && !candidate.lineage {
                    self.candidates.remove(&hash);
                }
            }
        }
    }

    /// The highest header at least `quorum` peers vouched for that the trusted chain does not
    /// hold yet, at or above `from`.
    pub(crate) fn best_agreed(&self, quorum: usize, from: u64) -> Option<Header> {
        self.candidates
            .values()
            .filter(|c| c.voters.len() >= quorum && c.header.number >= from)
            .filter(|c| self.trusted(c.header.number) != Some(&c.header))
            .max_by_key(|c| (c.header.number, c.header.hash))
            .map(|c| c.header)
    }

    /// The header at `number` at least `quorum` peers vouched for, if one is.
    pub(crate) fn agreed_at(&self, quorum: usize, number: u64) -> Option<Header> {
        self.candidates
            .values()
            .filter(|c| c.voters.len() >= quorum && c.header.number == number)
            .min_by_key(|c| c.header.hash)
            .map(|c| c.header)
    }

    /// The peers that vouched for `hash`.
    pub(crate) fn voters(&self, hash: B256) -> &[PeerId] {
        self.candidates.get(&hash).map_or(&[], |c| &c.voters)
    }

    /// The path from the trusted chain up to the trusted header `top` (ascending, without the
    /// block they share), walking parent hashes through the candidates. At most `max_len`
    /// headers long.
    pub(crate) fn path_to(&self, top: Header, max_len: u64) -> Result<Vec<Header>, Unlinked> {
        if self.trusted(top.number) == Some(&top) {
            return Ok(Vec::new());
        }
        let mut path = vec![top];
        let mut current = top;
        loop {
            let Some(parent_number) = current.number.checked_sub(1) else {
                return Err(Unlinked::TooDeep);
            };
            match self.trusted(parent_number) {
                Some(parent) if parent.hash == current.parent_hash => break,
                _ if self.lowest().is_none_or(|low| parent_number < low.number) => {
                    return Err(Unlinked::TooDeep);
                }
                _ => {}
            }
            if path.len() as u64 >= max_len {
                return Err(Unlinked::TooDeep);
            }
            match self.candidates.get(&current.parent_hash) {
                Some(parent) if parent.header.number == parent_number => {
                    current = parent.header;
                    path.push(current);
                }
                _ => {
                    return Err(Unlinked::Missing {
                        hash: current.parent_hash,
                        number: parent_number,
                    });
                }
            }
        }
        path.reverse();
        Ok(path)
    }

    /// Puts `path` (from [`Self::path_to`]) on the trusted chain, replacing whatever it held
    /// from the path's first block on.
    pub(crate) fn splice(&mut self, path: Vec<Header>) -> Option<Replaced> {
        let first = path.first()?.number;
        let replaced = self.trusted.split_off(&first);
        for header in path {
            self.trusted.insert(header.number, header);
        }
        // The path never starts with a block the chain held (`path_to` stops below it), so
        // anything replaced was another branch.
        let depth = replaced.len() as u64;
        (depth > 0).then(|| Replaced { ancestor: first.saturating_sub(1), depth })
    }

    /// Drops trusted blocks below `number`, and candidates no longer above the trusted chain's
    /// lowest block.
    pub(crate) fn prune_below(&mut self, number: u64) {
        self.trusted = self.trusted.split_off(&number);
        if let Some(low) = self.lowest().map(|h| h.number) {
            self.candidates.retain(|_, c| c.header.number >= low);
            for hashes in self.votes.values_mut() {
                hashes.retain(|hash| self.candidates.contains_key(hash));
            }
        }
    }

    /// Keeps the candidates without votes within bounds: the lowest (oldest) go first.
    /// Keeps at most `max_lineage` unvoted candidates: those of the latest replies, and of a
    /// reply the highest.
    fn bound_lineage(&mut self) {
        let mut kept: Vec<(u64, u64)> = self
            .candidates
            .values()
            .filter(|c| c.voters.is_empty())
            .map(|c| (c.seen, c.header.number))
            .collect();
        if kept.len() <= self.max_lineage {
            return;
        }
        kept.sort_unstable();
        let cut = kept[kept.len() - self.max_lineage];
        self.candidates.retain(|_, c| !c.voters.is_empty() || (c.seen, c.header.number) >= cut);
    }

    pub(crate) fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    pub(crate) fn trusted_count(&self) -> usize {
        self.trusted.len()
    }
}

/// The hashes of the blocks given to the `Syncer`, to tell where a new trusted branch departs
/// from them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Emitted {
    hashes: BTreeMap<u64, B256>,
    keep: usize,
}

impl Emitted {
    pub(crate) fn new(keep: usize) -> Self {
        Self { hashes: BTreeMap::new(), keep: keep.max(1) }
    }

    pub(crate) fn push(&mut self, header: &Header) {
        self.hashes.split_off(&header.number);
        self.hashes.insert(header.number, header.hash);
        while self.hashes.len() > self.keep {
            self.hashes.pop_first();
        }
    }

    pub(crate) fn tip(&self) -> Option<u64> {
        self.hashes.keys().next_back().copied()
    }

    /// The lowest block kept.
    pub(crate) fn lowest(&self) -> Option<u64> {
        self.hashes.keys().next().copied()
    }

    /// The newest emitted block the trusted chain still agrees with (`None`: none of the kept
    /// ones).
    pub(crate) fn last_agreeing(&self, headers: &Headers) -> Option<u64> {
        self.hashes
            .iter()
            .rev()
            .find(|(number, hash)| headers.trusted(**number).is_some_and(|h| h.hash == **hash))
            .map(|(number, _)| *number)
    }
}
