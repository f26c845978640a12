//! Building blocks of the `Syncer` state machine: key-space ranges, per-peer rate estimates and
//! the persisted progress record.
//! The machine itself comes with the sync issue; these parts are complete and tested on their own.

mod progress;
mod range;
mod rates;

pub use progress::{
    Counters, PROGRESS_VERSION, ProgressDecodeError, ProgressRecord, RangeCursor,
    StorageTaskRecord, Target,
};
pub use range::{HashRange, estimate_remaining, next_hash, plan_chunks};
pub use rates::{RateConfig, RateTracker, RequestKind};
