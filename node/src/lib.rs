//! The `snap` node: a driver that owns one `snap_core::sync::Syncer`, feeds it from devp2p
//! sessions (`snap-tokio-adapter`), writes its batches to an embedded crash-safe store
//! (`snap-store`) on a blocking writer thread, and picks and follows the pivot from the peers'
//! headers; plus what the command-line tool needs around it (networks, serving a store, a
//! generated demo state, metrics).
//!
//! The binary `snap` (in `src/main.rs`) is a thin command-line layer over this library, so
//! tests can run the same driver in-process.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod demo_state;
pub mod driver;
pub mod engine;
pub mod identity;
pub mod metrics;
pub mod network;
pub mod pivot;
pub mod serving;
pub mod store_server;
pub mod writer;

pub use driver::{
    DriverConfig, DriverError, DriverEvent, SyncOutcome, TargetChoice, run_sync, run_sync_serving,
};
pub use network::Network;
