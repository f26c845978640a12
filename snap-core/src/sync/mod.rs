//! Building blocks of the `Syncer` state machine: key-space ranges and per-peer rate estimates.
//! The machine itself comes with the sync issue; these parts are complete and tested on their own.

mod range;
mod rates;

pub use range::{HashRange, estimate_remaining, next_hash, plan_chunks};
pub use rates::{RateConfig, RateTracker, RequestKind};
