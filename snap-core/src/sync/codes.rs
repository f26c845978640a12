//! Bytecodes: deduplicated across the whole sync (not per task), requested in batches, matched
//! to the request in order and verified by keccak.

use std::collections::{BTreeSet, VecDeque};

use alloy_primitives::{B256, Bytes, keccak256};

use super::contract::Misbehaviour;

/// Codes still to fetch, codes in flight, and a bounded memory of codes already stored.
#[derive(Clone, Debug)]
pub(crate) struct CodeQueue {
    /// Asked of the host's store, not yet answered.
    checking: BTreeSet<B256>,
    wanted: BTreeSet<B256>,
    in_flight: BTreeSet<B256>,
    known: BTreeSet<B256>,
    known_order: VecDeque<B256>,
    known_capacity: usize,
}

/// What an account's code needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// The code is stored: nothing to wait for.
    Known,
    /// The code is already being checked or fetched: wait for it.
    Pending,
    /// Nobody knows yet: ask the store, and wait.
    Check,
}

/// The outcome of matching a `ByteCodes` response to its request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CodeDelivery {
    /// Verified codes, in request order.
    pub(crate) delivered: Vec<(B256, Bytes)>,
    /// Requested hashes the response skipped.
    pub(crate) missing: Vec<B256>,
}

impl CodeQueue {
    /// An empty queue remembering at most `known_capacity` stored codes.
    pub(crate) fn new(known_capacity: usize) -> Self {
        Self {
            checking: BTreeSet::new(),
            wanted: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            known: BTreeSet::new(),
            known_order: VecDeque::new(),
            known_capacity,
        }
    }

    /// Registers that an account needs code `hash`.
    pub(crate) fn want(&mut self, hash: B256) -> Need {
        if self.known.contains(&hash) {
            return Need::Known;
        }
        if self.checking.contains(&hash)
            || self.wanted.contains(&hash)
            || self.in_flight.contains(&hash)
        {
            return Need::Pending;
        }
        self.checking.insert(hash);
        Need::Check
    }

    /// The store answered whether it holds `hash`: held codes become known, others are wanted
    /// from peers. Returns whether the code is now known (its accounts may go on).
    pub(crate) fn checked(&mut self, hash: B256, stored: bool) -> bool {
        if !self.checking.remove(&hash) {
            return self.known.contains(&hash);
        }
        if stored {
            self.remember(hash);
            return true;
        }
        self.wanted.insert(hash);
        false
    }

    /// Whether nothing is being checked, wanted or in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.checking.is_empty() && self.wanted.is_empty() && self.in_flight.is_empty()
    }

    /// Whether there is something to request.
    pub(crate) fn has_wanted(&self) -> bool {
        !self.wanted.is_empty()
    }

    /// Codes being checked, wanted or in flight.
    pub(crate) fn outstanding(&self) -> usize {
        self.checking.len() + self.wanted.len() + self.in_flight.len()
    }

    /// Takes up to `count` wanted hashes for one request (lowest hashes first: deterministic).
    pub(crate) fn take_batch(&mut self, count: usize) -> Vec<B256> {
        let batch: Vec<B256> = self.wanted.iter().take(count.max(1)).copied().collect();
        for hash in &batch {
            self.wanted.remove(hash);
            self.in_flight.insert(*hash);
        }
        batch
    }

    /// Gives the hashes of a failed request back.
    pub(crate) fn give_back(&mut self, hashes: &[B256]) {
        for hash in hashes {
            if self.in_flight.remove(hash) && !self.known.contains(hash) {
                self.wanted.insert(*hash);
            }
        }
    }

    /// Matches `codes` to the `requested` hashes: the codes must come in request order, each
    /// hashing to a requested hash after the previous match (gaps are allowed). Verified codes
    /// become known; skipped hashes are wanted again.
    pub(crate) fn deliver(
        &mut self,
        requested: &[B256],
        codes: Vec<Bytes>,
    ) -> Result<CodeDelivery, Misbehaviour> {
        if codes.len() > requested.len() {
            return Err(Misbehaviour::TooManyItems {
                got: codes.len(),
                requested: requested.len(),
            });
        }
        let mut delivered = Vec::with_capacity(codes.len());
        let mut missing = Vec::new();
        let mut position = 0;
        for code in codes {
            let hash = keccak256(&code);
            let offset = requested[position..]
                .iter()
                .position(|wanted| *wanted == hash)
                .ok_or(Misbehaviour::UnrequestedCode)?;
            missing.extend_from_slice(&requested[position..position + offset]);
            position += offset + 1;
            delivered.push((hash, code));
        }
        missing.extend_from_slice(&requested[position..]);
        for (hash, _) in &delivered {
            self.in_flight.remove(hash);
            self.remember(*hash);
        }
        self.give_back(&missing);
        Ok(CodeDelivery { delivered, missing })
    }

    fn remember(&mut self, hash: B256) {
        if self.known_capacity == 0 || !self.known.insert(hash) {
            return;
        }
        self.known_order.push_back(hash);
        while self.known_order.len() > self.known_capacity {
            if let Some(oldest) = self.known_order.pop_front() {
                self.known.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(byte: u8) -> (B256, Bytes) {
        let code = Bytes::from(vec![byte; 3]);
        (keccak256(&code), code)
    }

    #[test]
    fn duplicates_are_fetched_once() {
        let mut queue = CodeQueue::new(16);
        let (hash, blob) = code(1);
        assert_eq!(queue.want(hash), Need::Check);
        assert_eq!(queue.want(hash), Need::Pending, "asked of the store once");
        assert!(!queue.checked(hash, false), "not stored: wanted from peers");
        let batch = queue.take_batch(10);
        assert_eq!(batch, vec![hash]);
        assert_eq!(queue.want(hash), Need::Pending, "in flight: not requested twice");
        assert!(!queue.has_wanted());
        queue.deliver(&batch, vec![blob]).unwrap();
        assert_eq!(queue.want(hash), Need::Known, "stored codes are not wanted again");
        assert!(queue.is_idle());
    }

    #[test]
    fn codes_the_store_holds_are_not_fetched() {
        let mut queue = CodeQueue::new(16);
        let (hash, _) = code(7);
        assert_eq!(queue.want(hash), Need::Check);
        assert!(!queue.is_idle());
        assert!(queue.checked(hash, true));
        assert!(!queue.has_wanted());
        assert!(queue.is_idle());
        assert_eq!(queue.want(hash), Need::Known);
    }

    #[test]
    fn gaps_are_allowed_and_requeued() {
        let mut queue = CodeQueue::new(16);
        let codes: Vec<_> = (1..=4).map(code).collect();
        for (hash, _) in &codes {
            queue.want(*hash);
            queue.checked(*hash, false);
        }
        let mut batch = queue.take_batch(10);
        batch.sort();
        let by_hash = |h: &B256| codes.iter().find(|(c, _)| c == h).unwrap().1.clone();
        let reply = vec![by_hash(&batch[1]), by_hash(&batch[3])];
        let delivery = queue.deliver(&batch, reply).unwrap();
        assert_eq!(delivery.missing, vec![batch[0], batch[2]]);
        assert_eq!(queue.take_batch(10), vec![batch[0], batch[2]]);
    }

    #[test]
    fn out_of_order_unknown_and_surplus_codes_are_violations() {
        let mut queue = CodeQueue::new(16);
        let (a, blob_a) = code(1);
        let (b, blob_b) = code(2);
        for hash in [a, b] {
            queue.want(hash);
            queue.checked(hash, false);
        }
        let batch = vec![a, b];
        let _ = queue.take_batch(10);
        assert_eq!(
            queue.clone().deliver(&batch, vec![blob_b.clone(), blob_a.clone()]),
            Err(Misbehaviour::UnrequestedCode)
        );
        assert_eq!(
            queue.clone().deliver(&batch, vec![code(9).1]),
            Err(Misbehaviour::UnrequestedCode)
        );
        assert!(matches!(
            queue.deliver(&batch, vec![blob_a.clone(), blob_b, blob_a]),
            Err(Misbehaviour::TooManyItems { got: 3, requested: 2 })
        ));
    }

    #[test]
    fn the_known_set_is_bounded() {
        let mut queue = CodeQueue::new(2);
        let codes: Vec<_> = (1..=3).map(code).collect();
        for (hash, blob) in &codes {
            queue.want(*hash);
            queue.checked(*hash, false);
            let batch = queue.take_batch(1);
            queue.deliver(&batch, vec![blob.clone()]).unwrap();
        }
        assert_eq!(queue.want(codes[0].0), Need::Check, "evicted: asked again (harmless)");
        assert_eq!(queue.want(codes[2].0), Need::Known);
    }
}
