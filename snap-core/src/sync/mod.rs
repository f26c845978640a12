//! The `Syncer` state machine and its parts.
//!
//! [`Syncer`] downloads the state for a [`Target`] from untrusted peers. The host feeds it
//! [`Input`]s with the current time, drains [`Output`]s with `poll_output` until `None`, and
//! calls `handle_timeout` at the instant `poll_timeout` returns. Every [`WriteBatch`] carries
//! only verified data and the encoded [`ProgressRecord`] that covers it; the host applies each
//! atomically and acknowledges it, and `Syncer::resume` continues from the last applied record.

mod accounts;
mod catchup;
mod chain;
mod codes;
mod config;
mod contract;
mod flat;
mod heal;
mod machine;
mod memory_store;
mod peers;
mod progress;
mod range;
mod rates;
mod report;
mod requests;
pub(crate) mod rng;
mod storage;

pub use catchup::{
    apply::{Applied, accounts_to_read, apply_blocks},
    rebuild::{Rebuilt, TrieRebuild},
};
pub use chain::{BlockRecord, Header};
pub use config::{CatchUpMode, SyncConfig};
pub use contract::{
    BatchId, FlatCursor, FlatEntry, Input, Lookup, LookupAnswer, LookupId, Misbehaviour, NodeQuery,
    Output, Phase, RestartReason, SyncEvent, WriteBatch,
};
pub use flat::{FlatSource, cursor_after, read_flat};
pub use machine::Syncer;
pub use memory_store::MemoryStore;
pub use progress::{
    CatchUpRecord, CatchUpStrategy, Counters, PROGRESS_VERSION, ProgressDecodeError,
    ProgressRecord, RangeCursor, StorageTaskRecord, Target,
};
pub use range::{HashRange, estimate_remaining, fraction_of_space, next_hash, plan_chunks};
pub use rates::{RateConfig, RateTracker, RequestKind};
pub use report::ProgressReport;
pub use requests::{InFlight, RequestTable, Unmatched};

/// A peer as the host identifies it: opaque to the core, chosen by the host, never reused for
/// another connection while the core may still know the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// The one base instant the core's tests measure virtual time from (the core itself never reads
/// the clock).
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}
