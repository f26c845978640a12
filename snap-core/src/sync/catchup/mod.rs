//! Catching the flat state up with a moving target once the ranges are in: the strategy, the
//! header window, and the snap/2 parts (fetching block access lists, applying them in block
//! order, rebuilding the tries from the flat state). The `Syncer` drives them
//! (`machine/catchup.rs`); snap/1 healing lives in `heal/`.

pub(crate) mod apply;
pub(crate) mod fetch;
pub(crate) mod rebuild;

use alloy_primitives::{B256, Bytes};

use super::{
    chain::{BlockRecord, HeaderWindow},
    contract::{CatchUpStrategy, Header},
    progress::CatchUpRecord,
};
use fetch::BalFetcher;
use rebuild::TrieRebuild;

/// An application step waiting for the store's answer about the accounts it changes.
#[derive(Debug)]
pub(crate) struct Applying {
    pub(crate) lookup: u64,
    /// The blocks applied in this step, in order: number and hash.
    pub(crate) blocks: Vec<(u64, B256)>,
    /// The accounts asked about, in order.
    pub(crate) hashes: Vec<B256>,
}

/// A rebuilt root that did not match, waiting for a peer to prove the target's root node.
#[derive(Debug)]
pub(crate) struct Mismatch {
    pub(crate) computed: B256,
    pub(crate) root_node: Option<Bytes>,
    pub(crate) probing: bool,
}

/// The catch-up state of a sync.
#[derive(Debug, Default)]
pub(crate) struct CatchUp {
    pub(crate) strategy: CatchUpStrategy,
    pub(crate) window: HeaderWindow,
    /// The last block whose access list is applied to the flat state.
    pub(crate) applied: u64,
    /// The newest block whose state any stored range was downloaded from.
    pub(crate) highest_taken: u64,
    /// Blocks a reorg orphaned whose access lists are needed to repair what they touched.
    pub(crate) orphaned: Vec<BlockRecord>,
    pub(crate) fetcher: BalFetcher,
    pub(crate) applying: Option<Applying>,
    pub(crate) rebuild: Option<TrieRebuild>,
    pub(crate) mismatch: Option<Mismatch>,
}

impl CatchUp {
    pub(crate) fn from_record(record: &CatchUpRecord) -> Self {
        Self {
            strategy: record.strategy,
            window: HeaderWindow::from_record(record.base, record.blocks.clone()),
            applied: record.applied,
            highest_taken: record.highest_taken,
            orphaned: record.orphaned.clone(),
            ..Self::default()
        }
    }

    /// A fresh catch-up for a sync whose first target is `header`'s block.
    pub(crate) fn starting_at(header: &Header) -> Self {
        Self {
            window: HeaderWindow::starting_at(header),
            applied: header.number,
            highest_taken: header.number,
            ..Self::default()
        }
    }

    pub(crate) fn record(&self) -> CatchUpRecord {
        CatchUpRecord {
            strategy: self.strategy,
            base: self.window.base(),
            blocks: self.window.blocks().to_vec(),
            applied: self.applied,
            highest_taken: self.highest_taken,
            orphaned: self.orphaned.clone(),
        }
    }

    /// Forgets every step in progress (after a reorg or a restart).
    pub(crate) fn abandon_steps(&mut self) {
        self.applying = None;
        self.rebuild = None;
        self.mismatch = None;
    }
}
