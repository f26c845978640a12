//! The `Syncer` state machine, and the contract between it and its host.
//!
//! [`Syncer`] downloads the state for a [`Target`] from untrusted peers. The host feeds it
//! [`Input`]s with the current time, drains [`Output`]s with `poll_output` until `None`, and
//! calls `handle_timeout` at the instant `poll_timeout` returns. Every [`WriteBatch`] carries
//! only verified data and the encoded [`ProgressRecord`] that covers it; the host applies each
//! atomically and acknowledges it, and `Syncer::resume` continues from the last applied record.
//! The crate documentation states the whole contract, with a host loop.
//!
//! This module exports the contract only: the values that cross the boundary, the
//! configuration, the persisted progress record, and [`host`], what a host's store uses to keep
//! the contract. Everything else is the machine's own.

mod accounts;
mod batch_size;
mod catchup;
mod chain;
mod codes;
mod config;
mod contract;
mod estimate;
mod heal;
pub mod host;
mod machine;
mod peers;
mod progress;
mod range;
mod rates;
mod report;
mod requests;
pub(crate) mod rng;
mod storage;

pub use chain::BlockRecord;
pub use config::{CatchUpMode, ConfigError, SyncConfig};
pub use contract::{
    BatchId, CatchUpStrategy, Counters, FlatCursor, FlatEntry, Header, Input, Lookup, LookupAnswer,
    LookupId, Misbehaviour, NodeQuery, Output, PeerId, PendingContract, Phase, ProgressReport,
    RestartReason, SyncEvent, Target, WriteBatch,
};
pub use machine::Syncer;
pub use progress::{
    CatchUpRecord, PROGRESS_VERSION, ProgressDecodeError, ProgressRecord, RangeCursor,
    StorageTaskRecord,
};
pub use range::HashRange;
pub use rates::RateConfig;

/// The one base instant the core's tests measure virtual time from (the core itself never reads
/// the clock).
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}

/// Hosts move the machine between threads (a tokio task, a worker pool): it must stay `Send`.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Syncer>();
    assert_send::<crate::pivot::PivotSelector>();
};
