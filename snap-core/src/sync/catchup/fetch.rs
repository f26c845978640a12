//! Fetching block access lists: which blocks are wanted, which peer said it lacks which, and
//! verifying every list against its header's commitment before it is kept.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{B256, Bytes};

use crate::{
    bal::{self, BlockDiff},
    sync::contract::{Misbehaviour, PeerId},
    wire::verify_bal,
};

/// A block whose access list is asked for: its hash and its header's BAL commitment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BalWant {
    pub(crate) block: B256,
    pub(crate) commitment: B256,
}

#[derive(Debug)]
enum State {
    Queued,
    InFlight,
    Fetched(BlockDiff),
}

#[derive(Debug)]
struct Entry {
    commitment: B256,
    /// Orders requests: canonical blocks by number, orphaned ones first.
    priority: u64,
    state: State,
    /// Peers that answered this block with an empty entry.
    lacking: BTreeSet<PeerId>,
}

/// What one `BlockAccessLists` answer delivered.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Lists verified and kept.
    pub(crate) lists: u64,
    /// Their bytes.
    pub(crate) bytes: u64,
    /// Entries the peer said it lacks.
    pub(crate) lacking: u64,
}

/// The wanted access lists, by block hash.
#[derive(Debug, Default)]
pub(crate) struct BalFetcher {
    entries: BTreeMap<B256, Entry>,
}

impl BalFetcher {
    /// Wants `want` (kept if already wanted). Lower `priority` is asked first.
    pub(crate) fn want(&mut self, want: BalWant, priority: u64) {
        self.entries.entry(want.block).or_insert(Entry {
            commitment: want.commitment,
            priority,
            state: State::Queued,
            lacking: BTreeSet::new(),
        });
    }

    /// Forgets every block but those `keep` says are still wanted.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&B256) -> bool) {
        self.entries.retain(|block, _| keep(block));
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Whether anything is waiting to be asked for.
    pub(crate) fn has_queued(&self) -> bool {
        self.entries.values().any(|entry| matches!(entry.state, State::Queued))
    }

    /// Up to `count` queued blocks `peer` has not said it lacks, most urgent first; they are
    /// in flight from now on.
    pub(crate) fn take_for(&mut self, peer: PeerId, count: usize) -> Vec<BalWant> {
        let mut picked: Vec<(u64, B256)> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Queued) && !e.lacking.contains(&peer))
            .map(|(block, e)| (e.priority, *block))
            .collect();
        picked.sort_unstable();
        picked.truncate(count);
        picked
            .into_iter()
            .map(|(_, block)| {
                let entry = self.entries.get_mut(&block).expect("picked above");
                entry.state = State::InFlight;
                BalWant { block, commitment: entry.commitment }
            })
            .collect()
    }

    /// A request failed or was dropped: its blocks may be asked again.
    pub(crate) fn give_back(&mut self, wants: &[BalWant]) {
        for want in wants {
            if let Some(entry) = self.entries.get_mut(&want.block)
                && matches!(entry.state, State::InFlight)
            {
                entry.state = State::Queued;
            }
        }
    }

    /// Takes `peer`'s answer to a request for `wants`. Every list is verified against its
    /// commitment and decoded before any is kept: one bad list rejects the answer. Empty
    /// entries mark the peer as lacking that block; blocks past the answer's end go back.
    pub(crate) fn on_answer(
        &mut self,
        peer: PeerId,
        wants: &[BalWant],
        lists: &[Bytes],
    ) -> Result<Delivery, Misbehaviour> {
        if lists.len() > wants.len() {
            return Err(Misbehaviour::TooManyItems { got: lists.len(), requested: wants.len() });
        }
        let mut decoded = Vec::with_capacity(lists.len());
        for (want, list) in wants.iter().zip(lists) {
            if list.is_empty() {
                decoded.push(None);
                continue;
            }
            verify_bal(list, &want.commitment).map_err(Misbehaviour::BadBal)?;
            let bal = bal::decode(list).map_err(Misbehaviour::InvalidBal)?;
            decoded.push(Some((BlockDiff::of_canonical(&bal), list.len() as u64)));
        }
        let mut delivery = Delivery::default();
        for (index, want) in wants.iter().enumerate() {
            let Some(entry) = self.entries.get_mut(&want.block) else { continue };
            if !matches!(entry.state, State::InFlight) {
                continue;
            }
            match decoded.get_mut(index) {
                Some(Some(_)) => {
                    let (diff, bytes) = decoded[index].take().expect("matched above");
                    entry.state = State::Fetched(diff);
                    delivery.lists += 1;
                    delivery.bytes += bytes;
                }
                Some(None) => {
                    entry.state = State::Queued;
                    entry.lacking.insert(peer);
                    delivery.lacking += 1;
                }
                None => entry.state = State::Queued,
            }
        }
        Ok(delivery)
    }

    /// The fetched list of `block`, if it is in.
    pub(crate) fn fetched(&self, block: &B256) -> Option<&BlockDiff> {
        match &self.entries.get(block)?.state {
            State::Fetched(diff) => Some(diff),
            _ => None,
        }
    }

    /// Forgets `block` (applied).
    pub(crate) fn remove(&mut self, block: &B256) {
        self.entries.remove(block);
    }

    /// Whether every peer in `peers` (at least one) said it lacks a wanted, unfetched block.
    pub(crate) fn lacked_by_all(&self, block: &B256, peers: &[PeerId]) -> bool {
        self.entries.get(block).is_some_and(|entry| {
            !matches!(entry.state, State::Fetched(_))
                && !peers.is_empty()
                && peers.iter().all(|peer| entry.lacking.contains(peer))
        })
    }

    /// Forgets that peers lacked blocks (after a while, or when they may have caught up).
    pub(crate) fn forget_lacking(&mut self) {
        for entry in self.entries.values_mut() {
            entry.lacking.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::keccak256;

    use super::*;
    use crate::bal::{AccountChanges, BalanceChange, BlockAccessIndex};

    fn list(byte: u8) -> Bytes {
        let mut account = AccountChanges::new(alloy_primitives::Address::repeat_byte(byte));
        let balance = alloy_primitives::U256::from(byte);
        account.balance_changes.push(BalanceChange::new(BlockAccessIndex::new(1), balance));
        Bytes::from(bal::encode(&[account]))
    }

    #[test]
    fn verifies_before_keeping_and_tracks_who_lacks_what() {
        let lists: Vec<Bytes> = (1..=3).map(list).collect();
        let wants: Vec<BalWant> = lists
            .iter()
            .enumerate()
            .map(|(i, l)| BalWant { block: B256::repeat_byte(i as u8), commitment: keccak256(l) })
            .collect();
        let mut fetcher = BalFetcher::default();
        for (i, want) in wants.iter().enumerate() {
            fetcher.want(*want, i as u64);
        }
        let (a, b) = (PeerId(1), PeerId(2));
        assert_eq!(fetcher.take_for(a, 3), wants);
        // A swapped pair fails its commitments: nothing is kept.
        let swapped = vec![lists[1].clone(), lists[0].clone()];
        assert!(matches!(fetcher.on_answer(a, &wants, &swapped), Err(Misbehaviour::BadBal(_))));
        assert!(fetcher.fetched(&wants[0].block).is_none());
        fetcher.give_back(&wants);
        // Positional: one list, one empty entry, the third cut off.
        let taken = fetcher.take_for(a, 3);
        let answer = vec![lists[0].clone(), Bytes::new()];
        let delivery = fetcher.on_answer(a, &taken, &answer).unwrap();
        assert_eq!((delivery.lists, delivery.lacking), (1, 1));
        assert!(fetcher.fetched(&wants[0].block).is_some());
        // `a` is not asked again for the block it lacks; `b` is.
        assert_eq!(fetcher.take_for(a, 3), vec![wants[2]]);
        assert!(fetcher.lacked_by_all(&wants[1].block, &[a]));
        assert!(!fetcher.lacked_by_all(&wants[1].block, &[a, b]));
        assert_eq!(fetcher.take_for(b, 3), vec![wants[1]]);
        assert!(matches!(
            fetcher.on_answer(b, &[wants[1]], &[lists[1].clone(), lists[2].clone()]),
            Err(Misbehaviour::TooManyItems { got: 2, requested: 1 })
        ));
    }
}
