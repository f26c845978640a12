//! A synchronous pipeline stage (reth's staged-sync model) that replaces execution for the
//! state: `execute` snap-syncs into hashed-state tables until the state is complete or the
//! budget is spent, and returns.
//!
//! The stage keeps nothing between calls but its configuration: each `execute` resumes the
//! `Syncer` from the progress record committed with the data in the same transaction (or starts
//! fresh on an empty database), connects its peers on worker threads, and follows the newest
//! header of its header stream as the target. Killing the process between two commits loses
//! nothing: the next `execute` continues from the last one.

use std::{
    sync::mpsc::Receiver,
    time::{Duration, Instant},
};

use snap_core::sync::{
    Counters, Input, PeerId, ProgressDecodeError, ProgressRecord, SyncConfig, SyncEvent, Syncer,
    Target, host::MemoryStore,
};

use crate::{Header, peer::BlockingPeer, workers::Owner};

/// The database the stage writes: hashed-state tables (`HashedAccounts`, `HashedStorages`),
/// bytecodes, path-keyed trie nodes, and the stage checkpoint (the progress record), all
/// committed together, one transaction per batch.
#[derive(Debug, Default)]
pub struct Database {
    tables: MemoryStore,
}

impl Database {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tables, read-only.
    pub const fn tables(&self) -> &MemoryStore {
        &self.tables
    }

    /// The stage checkpoint: the progress record of the last committed transaction.
    pub fn checkpoint(&self) -> Result<Option<ProgressRecord>, ProgressDecodeError> {
        self.tables.progress().map(|bytes| ProgressRecord::decode_versioned(bytes)).transpose()
    }
}

/// How much one `execute` may do before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecInput {
    /// Transactions (write batches) after which the call returns (the turn that reaches the
    /// budget finishes first, so a few more may be committed).
    pub max_commits: u64,
    /// Longest time to run.
    pub max_time: Duration,
}

/// What one `execute` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// The state is complete for `target`: the stage is done.
    pub done: bool,
    /// The target followed when the call returned.
    pub target: Target,
    /// Transactions committed by this call.
    pub commits: u64,
    /// Totals of the whole sync as committed (the checkpoint's).
    pub counters: Counters,
}

/// Why `execute` could not run.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// No header has arrived yet: there is no target.
    #[error("no header to sync to")]
    NoTarget,
    /// The committed checkpoint does not decode.
    #[error("bad checkpoint: {0}")]
    Checkpoint(#[from] ProgressDecodeError),
}

/// Snap sync as a pipeline stage.
pub struct SnapSyncStage {
    config: SyncConfig,
    headers: Receiver<Header>,
    latest: Option<Header>,
    connect: Box<dyn FnMut(u64) -> Vec<Box<dyn BlockingPeer>>>,
    /// `execute` calls so far.
    calls: u64,
    /// Connection ids are never reused, across calls too.
    next_peer: u64,
}

impl std::fmt::Debug for SnapSyncStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapSyncStage").field("latest", &self.latest).finish_non_exhaustive()
    }
}

impl SnapSyncStage {
    /// A stage following `headers`, connecting to peers with `connect` (called once per
    /// `execute` with the call's number; it returns blocking clients, one per peer).
    pub fn new(
        config: SyncConfig,
        headers: Receiver<Header>,
        connect: impl FnMut(u64) -> Vec<Box<dyn BlockingPeer>> + 'static,
    ) -> Self {
        Self { config, headers, latest: None, connect: Box::new(connect), calls: 0, next_peer: 0 }
    }

    fn newest_header(&mut self) -> Option<Header> {
        while let Ok(header) = self.headers.try_recv() {
            if self.latest.is_none_or(|latest| header.number > latest.number) {
                self.latest = Some(header);
            }
        }
        self.latest
    }

    /// Runs the sync until the state is complete or `input`'s budget is spent.
    pub fn execute(
        &mut self,
        db: &mut Database,
        input: ExecInput,
    ) -> Result<ExecOutput, StageError> {
        let started = Instant::now();
        if self.latest.is_none() {
            // Wait briefly for the first header: without one there is no target.
            if let Ok(header) = self.headers.recv_timeout(Duration::from_secs(1)) {
                self.latest = Some(header);
            }
        }
        let header = self.newest_header().ok_or(StageError::NoTarget)?;
        let syncer = match db.checkpoint()? {
            Some(record) => Syncer::resume(self.config.clone(), record, started),
            None => Syncer::new(self.config.clone(), header.target(), started),
        };
        let mut owner = Owner::new(syncer, std::mem::take(&mut db.tables));
        owner.input(Input::NewTarget(header.target()));
        self.calls += 1;
        for client in (self.connect)(self.calls) {
            owner.connect(PeerId(self.next_peer), client);
            self.next_peer += 1;
        }
        let mut done = false;
        while owner.batches < input.max_commits && started.elapsed() < input.max_time {
            let turn = owner.turn(Duration::from_millis(100));
            done |= turn.events.iter().any(|event| matches!(event, SyncEvent::Done { .. }));
            if done {
                break;
            }
            if let Some(header) = self.newest_header() {
                owner.input(Input::NewTarget(header.target()));
            }
        }
        let target = owner.syncer.target();
        let commits = owner.batches;
        db.tables = owner.into_store();
        // What is committed is what counts: the checkpoint, not the dropped sync's memory.
        let counters = db.checkpoint()?.map(|record| record.counters).unwrap_or_default();
        Ok(ExecOutput { done, target, commits, counters })
    }
}
