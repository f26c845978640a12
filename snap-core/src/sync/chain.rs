//! The headers a sync follows: a window of linked blocks from the sync's base (the first target
//! it downloaded against) to the chain's tip, with what each block commits to. It detects
//! reorgs by parent hash and says which blocks they orphaned.

use alloy_primitives::B256;
use alloy_rlp::{RlpDecodable, RlpEncodable};

use super::contract::Header;

/// One block of the window as the progress record keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct BlockRecord {
    /// The block hash.
    pub hash: B256,
    /// Its state root.
    pub state_root: B256,
    /// Its BAL commitment, zero when the header has none.
    pub bal_hash: B256,
}

impl BlockRecord {
    /// The record of `header`'s block.
    pub(crate) fn of(header: &Header) -> Self {
        Self {
            hash: header.hash,
            state_root: header.state_root,
            bal_hash: header.bal_hash.unwrap_or(B256::ZERO),
        }
    }

    /// The BAL commitment, if the header has one.
    pub fn bal_hash(&self) -> Option<B256> {
        (self.bal_hash != B256::ZERO).then_some(self.bal_hash)
    }
}

/// What inserting a header did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The header extends the window's tip.
    Extended,
    /// The window already holds it, or it is older than the window: nothing changed.
    Known,
    /// The header's parent is not in the window (a gap, or an unknown branch): ignored.
    Unlinked,
    /// The header replaces the window's blocks from its number on: a reorg. The window now ends
    /// at the header; `orphaned` are the replaced blocks with their numbers.
    Reorg { ancestor: u64, orphaned: Vec<(u64, BlockRecord)> },
    /// The header's parent is the base's parent or older: the base itself is orphaned.
    BelowBase,
}

/// Linked blocks `base..=tip`; `blocks[0]` is the base.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderWindow {
    base: u64,
    blocks: Vec<BlockRecord>,
}

impl HeaderWindow {
    pub(crate) fn from_record(base: u64, blocks: Vec<BlockRecord>) -> Self {
        Self { base, blocks }
    }

    /// Starts the window at `header` (the sync's first target).
    pub(crate) fn starting_at(header: &Header) -> Self {
        Self { base: header.number, blocks: vec![BlockRecord::of(header)] }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub(crate) const fn base(&self) -> u64 {
        self.base
    }

    pub(crate) fn blocks(&self) -> &[BlockRecord] {
        &self.blocks
    }

    /// The newest block's number.
    pub(crate) fn tip(&self) -> Option<u64> {
        (!self.blocks.is_empty()).then(|| self.base + self.blocks.len() as u64 - 1)
    }

    pub(crate) fn get(&self, number: u64) -> Option<&BlockRecord> {
        let index = number.checked_sub(self.base)?;
        self.blocks.get(usize::try_from(index).ok()?)
    }

    /// Whether every block after the base up to `number` commits to a BAL.
    pub(crate) fn has_bals_through(&self, number: u64) -> bool {
        self.tip().is_some_and(|tip| tip >= number)
            && (self.base + 1..=number).all(|n| self.get(n).is_some_and(|b| b.bal_hash().is_some()))
    }

    pub(crate) fn insert(&mut self, header: &Header) -> Inserted {
        let Some(tip) = self.tip() else { return Inserted::Unlinked };
        if header.number <= self.base {
            return if self.get(header.number).is_some_and(|b| b.hash == header.hash) {
                Inserted::Known
            } else if header.number == self.base {
                Inserted::BelowBase
            } else {
                Inserted::Known
            };
        }
        if self.get(header.number).is_some_and(|b| b.hash == header.hash) {
            return Inserted::Known;
        }
        let Some(parent) = self.get(header.number - 1) else { return Inserted::Unlinked };
        if parent.hash != header.parent_hash {
            // A branch forking at or below the parent's height: it arrives from its first block
            // on, so an unknown parent at the base's height means the base is orphaned.
            return if header.number - 1 == self.base {
                Inserted::BelowBase
            } else {
                Inserted::Unlinked
            };
        }
        if header.number == tip + 1 {
            self.blocks.push(BlockRecord::of(header));
            return Inserted::Extended;
        }
        let keep = (header.number - self.base) as usize;
        let orphaned = self
            .blocks
            .drain(keep..)
            .enumerate()
            .map(|(offset, block)| (header.number + offset as u64, block))
            .collect();
        self.blocks.push(BlockRecord::of(header));
        Inserted::Reorg { ancestor: header.number - 1, orphaned }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(number: u64, fork: u8, parent: B256) -> Header {
        Header {
            number,
            hash: {
                let mut hash = B256::repeat_byte(fork);
                hash[31] = number as u8;
                hash
            },
            parent_hash: parent,
            state_root: B256::repeat_byte(number as u8),
            bal_hash: Some(B256::repeat_byte(0xba)),
        }
    }

    fn chain(from: u64, to: u64, fork: u8, parent: B256) -> Vec<Header> {
        let mut parent = parent;
        (from..=to)
            .map(|n| {
                let h = header(n, fork, parent);
                parent = h.hash;
                h
            })
            .collect()
    }

    #[test]
    fn extends_ignores_gaps_and_reports_reorgs_with_their_orphans() {
        let main = chain(10, 20, 1, B256::ZERO);
        let mut window = HeaderWindow::starting_at(&main[0]);
        for h in &main[1..6] {
            assert_eq!(window.insert(h), Inserted::Extended);
        }
        assert_eq!(window.insert(&main[3]), Inserted::Known);
        assert_eq!(window.insert(&main[8]), Inserted::Unlinked);
        assert_eq!(window.tip(), Some(15));
        // A branch from block 12 replaces 13..=15.
        let branch = chain(13, 16, 2, main[2].hash);
        match window.insert(&branch[0]) {
            Inserted::Reorg { ancestor, orphaned } => {
                assert_eq!(ancestor, 12);
                assert_eq!(orphaned.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![13, 14, 15]);
                assert_eq!(orphaned[0].1.hash, main[3].hash);
            }
            other => panic!("{other:?}"),
        }
        for h in &branch[1..] {
            assert_eq!(window.insert(h), Inserted::Extended);
        }
        assert_eq!(window.get(16).map(|b| b.hash), Some(branch[3].hash));
        assert!(window.has_bals_through(16));
        // A branch forking below the base orphans the base.
        let deep = chain(10, 11, 3, B256::repeat_byte(9));
        assert_eq!(window.insert(&deep[0]), Inserted::BelowBase);
        assert_eq!(window.insert(&deep[1]), Inserted::BelowBase);
    }
}
