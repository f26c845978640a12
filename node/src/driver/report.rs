//! What the driver reports: its events while it runs, how a sync ended, and why it failed.

use std::time::Duration;

use snap_core::{
    pivot::WaitReason,
    sync::{Counters, ProgressDecodeError, SyncEvent, Target},
};
use snap_store::StoreError;
use snap_tokio_adapter::{connection::WrongNetwork, enode::Enode};

/// Something the driver reports while it runs (for progress display and logs).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DriverEvent {
    /// A peer finished its handshake.
    PeerReady {
        /// The peer.
        enode: Enode,
        /// Its client name.
        client: String,
        /// Whether it speaks snap.
        snap: bool,
    },
    /// A peer's session ended.
    PeerGone {
        /// The peer.
        enode: Enode,
        /// Why, in words.
        reason: String,
    },
    /// A peer was dropped for breaking the protocol, and banned.
    Misbehaved {
        /// The peer.
        enode: Enode,
        /// What it did.
        reason: String,
    },
    /// A peer that speaks snap served nothing of what it was asked; it was disconnected and is
    /// kept out for a while, so its slot goes to another.
    Useless {
        /// The peer.
        enode: Enode,
        /// For how long it is kept out.
        kept_out: Duration,
    },
    /// A peer is on another chain; it is not dialled again.
    WrongNetwork {
        /// The peer.
        enode: Enode,
        /// What it is on against what we are on, and what to pass to sync from it.
        reason: String,
    },
    /// The sync continues from the store's progress record.
    Resumed(Target),
    /// No peer serves this candidate pivot's state.
    Unserved(Target),
    /// No target yet, and why.
    Waiting(WaitReason),
    /// The trusted chain reorganised: the blocks after `ancestor` were replaced.
    Reorg {
        /// The last block both branches share.
        ancestor: u64,
        /// Blocks replaced.
        depth: u64,
    },
    /// The sync started on this target.
    Started(Target),
    /// An event of the core.
    Sync(SyncEvent),
}

/// How a sync ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncOutcome {
    /// The target synced (or being synced when interrupted).
    pub target: Option<Target>,
    /// Totals written.
    pub counters: Counters,
    /// Whether the core reported `Done`.
    pub done: bool,
    /// Time spent.
    pub elapsed: Duration,
}

/// Why the driver failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The store's progress record does not decode.
    #[error("progress record: {0}")]
    Progress(#[from] ProgressDecodeError),
    /// The writer thread died.
    #[error(transparent)]
    Writer(#[from] crate::writer::DriverJoinError),
    /// Nothing to sync from.
    #[error("no peers: pass --peer ENODE, or --bootnodes for discovery")]
    NoPeers,
    /// Every peer given is on another chain.
    #[error("no peer is on our network: {0}")]
    NoPeerOnOurNetwork(String),
}

/// What to tell a user whose peer is on another chain.
pub fn wrong_network_advice(wrong: &WrongNetwork) -> String {
    let hint = if wrong.theirs.genesis != wrong.ours.genesis {
        "pass --chain with that network's name or genesis.json to sync from it".to_owned()
    } else if wrong.theirs.network_id != wrong.ours.network_id {
        format!("pass --network-id {} to sync from it", wrong.theirs.network_id)
    } else {
        "its fork schedule differs from ours: check --chain".to_owned()
    };
    format!("{wrong}; {hint}")
}
