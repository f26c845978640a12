//! Building blocks of the `Syncer` state machine: key-space ranges, per-peer rate estimates and
//! the persisted progress record.
//! The machine itself comes with the sync issue; these parts are complete and tested on their own.

mod progress;
mod range;
mod rates;
mod requests;
mod rng;

pub use progress::{
    Counters, PROGRESS_VERSION, ProgressDecodeError, ProgressRecord, RangeCursor,
    StorageTaskRecord, Target,
};
pub use range::{HashRange, estimate_remaining, next_hash, plan_chunks};
pub use rates::{RateConfig, RateTracker, RequestKind};
pub use requests::{InFlight, RequestTable, Unmatched};

/// A peer as the host identifies it: opaque to the core, chosen by the host, never reused for
/// another connection while the core may still know the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);
