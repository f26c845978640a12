//! Two hosts for `snap-core` beside the tokio adapter, to show that the core runs inside any
//! runtime (see `docs/EMBEDDING.md`):
//!
//! - [`pipeline::SnapSyncStage`]: a synchronous stage of a staged-sync client (reth's pipeline
//!   model). `execute` runs the `Syncer` until the state is complete or a budget is spent and
//!   returns; the next call continues from the progress committed with the data.
//! - [`actors::ActorSystem`]: one owner actor holds the `Syncer` (no shared mutable state),
//!   per-peer worker actors do the IO, a supervisor restarts crashed workers (the core sees a
//!   peer go and a new one come), and a controller receives progress.
//!
//! Both use plain threads and channels: blocking peer clients ([`peer::BlockingPeer`]) on
//! worker threads ([`workers`]), and the core's reference store
//! (`snap_core::sync::host::MemoryStore`) as the database. No async runtime is involved.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod actors;
pub mod peer;
pub mod pipeline;
pub mod workers;

use alloy_primitives::B256;

/// A block header as the hosts see it: what a consensus header stream delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The block number.
    pub number: u64,
    /// The block's state root.
    pub state_root: B256,
}

impl Header {
    /// The sync target this header names.
    pub const fn target(&self) -> snap_core::sync::Target {
        snap_core::sync::Target { root: self.state_root, number: self.number }
    }
}
