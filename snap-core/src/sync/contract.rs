//! The values that cross the `Syncer`'s boundary: inputs, outputs, write batches, misbehaviours
//! and events.

use alloy_primitives::{B256, Bytes};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;

use super::{
    PeerId,
    progress::{Counters, Target},
    report::ProgressReport,
};
use crate::{
    trie::{PrunedRange, generate::NodeChanges, proof::ProofError},
    wire::{SnapMessage, SnapVersion},
};

/// Something that happened outside the core. Each comes with `now` through
/// `Syncer::handle_input`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A peer speaking snap connected.
    PeerConnected {
        /// The host's id for it.
        peer: PeerId,
        /// The snap versions both sides negotiated (at least one).
        versions: Vec<SnapVersion>,
    },
    /// A peer went away; its requests in flight go to others.
    PeerDisconnected {
        /// The host's id for it.
        peer: PeerId,
    },
    /// A decoded snap message arrived from a peer.
    Response {
        /// The sender.
        peer: PeerId,
        /// The message (a response; a request here is a violation).
        message: SnapMessage,
    },
    /// The host applied the write batch with this id, atomically.
    Written(BatchId),
    /// The chain moved: sync this state from now on. Ignored unless its block is at least
    /// `SyncConfig::min_target_step` past the current target's (or the root is the same). Range
    /// downloads continue from their cursors against the new root; healing restarts from it.
    NewTarget(Target),
    /// The host's answer to an [`Output::Lookup`].
    LookupDone {
        /// The id of the lookup answered.
        id: LookupId,
        /// What the store holds.
        answer: LookupAnswer,
    },
}

/// The id of a lookup, echoed in its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupId(pub u64);

/// A question about what the host has stored: the core keeps no storage handle, so it asks.
///
/// The host answers from its store after applying every batch handed out before the lookup
/// (batches and lookups form one ordered queue).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lookup {
    /// Which of these bytecodes does the store hold? (Codes are shared by many accounts and
    /// survive restarts; asking avoids downloading one twice.)
    Codes(Vec<B256>),
    /// Which of these trie nodes does the store hold exactly: a node at that owner and path
    /// whose keccak hash is the one given? (Healing skips every subtree already stored.)
    Nodes(Vec<NodeQuery>),
}

/// One trie node asked about in [`Lookup::Nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeQuery {
    /// The account hash owning a storage trie, or `B256::ZERO` for the account trie.
    pub owner: B256,
    /// The node's path from its trie's root.
    pub path: Nibbles,
    /// The keccak hash the stored node must have.
    pub hash: B256,
}

/// The host's answer to a [`Lookup`], read from what it has applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LookupAnswer {
    /// For each hash asked, in order, whether the store holds that bytecode. A missing entry
    /// counts as "not held".
    Codes(Vec<bool>),
    /// For each node asked, in order, whether the store holds exactly that node at that path.
    /// A missing entry counts as "not held".
    Nodes(Vec<bool>),
}

/// The id of a write batch, increasing from 1 within one `Syncer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u64);

/// Verified data to store, with the progress record that covers it. The host applies a batch
/// atomically (all of it or none), in the order batches are handed out, and acknowledges it with
/// [`Input::Written`].
///
/// Within a batch, deletions come first: the pruned ranges, then the node deletions; then every
/// write. (A batch never writes what it deletes, but a later batch may write into a range an
/// earlier one pruned.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The batch's id.
    pub id: BatchId,
    /// Flat accounts by hash.
    pub accounts: Vec<(B256, TrieAccount)>,
    /// Flat storage slots: `(account hash, slot hash, RLP-encoded value)`.
    pub storage: Vec<(B256, B256, Bytes)>,
    /// Bytecodes by hash, each verified against its hash.
    pub codes: Vec<(B256, Bytes)>,
    /// Trie nodes to write and delete, keyed by owner and path.
    pub nodes: NodeChanges,
    /// Ranges of trie paths whose nodes and flat entries are to be deleted (see
    /// [`PrunedRange`]): what is no longer part of the state. A range of the account trie also
    /// deletes the storage of every account hash in it (flat account or not).
    pub pruned: Vec<PrunedRange>,
    /// The encoded progress record (`ProgressRecord::encode_versioned`) describing the sync
    /// once this batch and all before it are applied.
    pub progress: Bytes,
}

impl WriteBatch {
    /// A rough size of the batch in bytes, for batching and memory accounting.
    pub fn estimated_bytes(&self) -> usize {
        self.accounts.len() * 120
            + self.storage.iter().map(|(_, _, value)| 64 + value.len()).sum::<usize>()
            + self.codes.iter().map(|(_, code)| 32 + code.len()).sum::<usize>()
            + self.nodes.writes.iter().map(|(_, node)| 40 + node.len()).sum::<usize>()
            + self.nodes.deletes.len() * 40
            + self.pruned.len() * 80
            + self.progress.len()
    }

    /// Prunes `range`, dropping what this batch already writes in it: deletions apply before
    /// writes, so a write queued earlier would otherwise survive its own deletion.
    pub(crate) fn prune(&mut self, range: PrunedRange) {
        let owner = range.owner;
        if owner == B256::ZERO {
            self.accounts.retain(|(hash, _)| !range.contains_key(hash));
            self.storage.retain(|(account, _, _)| !range.contains_key(account));
            self.nodes.writes.retain(|(key, _)| {
                if key.owner == B256::ZERO {
                    !range.contains(&key.path)
                } else {
                    !range.contains_key(&key.owner)
                }
            });
        } else {
            self.storage
                .retain(|(account, slot, _)| *account != owner || !range.contains_key(slot));
            self.nodes.writes.retain(|(key, _)| key.owner != owner || !range.contains(&key.path));
        }
        self.pruned.push(range);
    }

    /// Whether the batch carries no data (it may still carry a progress record).
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.storage.is_empty()
            && self.codes.is_empty()
            && self.nodes.writes.is_empty()
            && self.nodes.deletes.is_empty()
            && self.pruned.is_empty()
    }
}

/// A peer broke the protocol. Each variant is a reason to penalize the peer and stop using it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// A response whose request id matches nothing in flight to this peer (never asked, already
    /// answered, timed out or asked of another peer).
    #[error("unsolicited response (request id {0})")]
    Unsolicited(u64),
    /// A response of another kind than the request with that id.
    #[error("response kind does not match request {0}")]
    WrongResponseKind(u64),
    /// The peer sent a request message where a response was expected, or a message of a
    /// version it did not negotiate. (Requests are answered by the host's server, not the core.)
    #[error("unexpected message {0:?}")]
    UnexpectedMessage(crate::wire::MessageId),
    /// A range failed its Merkle proof.
    #[error("range proof rejected: {0}")]
    BadRangeProof(ProofError),
    /// A storage response carried more slot lists than accounts requested.
    #[error("{got} storage lists for {requested} requested accounts")]
    TooManyStorageLists {
        /// Lists received.
        got: usize,
        /// Accounts requested.
        requested: usize,
    },
    /// A bytecode that matches no requested hash (or breaks the request order).
    #[error("unrequested or out-of-order bytecode")]
    UnrequestedCode,
    /// A trie node that matches no requested hash (or breaks the request order).
    #[error("unrequested or out-of-order trie node")]
    UnrequestedNode,
    /// A trie node with the requested hash that is not a valid node of a secure trie.
    #[error("invalid trie node: {0}")]
    BadTrieNode(ProofError),
    /// More items than were asked for.
    #[error("{got} items for {requested} requested")]
    TooManyItems {
        /// Items received.
        got: usize,
        /// Items requested.
        requested: usize,
    },
}

/// The phases of a sync, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Downloading account ranges, storage and bytecodes.
    Ranges,
    /// Walking the target trie from its root: fetching every node the store lacks, repairing
    /// the flat state under each, and fetching missing bytecodes.
    Healing,
    /// Everything downloaded; waiting for the last batches to be acknowledged.
    Flushing,
    /// The state is complete and stored.
    Done,
}

/// Something the host may want to show or log.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncEvent {
    /// The sync entered a new phase.
    Phase(Phase),
    /// The sync follows a new target from now on.
    NewTarget(Target),
    /// Periodic progress.
    Progress(ProgressReport),
    /// Nothing advanced for the configured stall time; what the sync is waiting on.
    Stalled {
        /// Peers connected and usable for the current target.
        usable_peers: usize,
        /// Requests in flight.
        in_flight: usize,
    },
    /// The state for the target is completely downloaded and every batch acknowledged.
    Done {
        /// The target reached.
        target: Target,
        /// Final totals.
        counters: Counters,
    },
}

/// Something the core wants done. Drained with `Syncer::poll_output` until `None`.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send a request to a peer.
    Send {
        /// The receiver.
        peer: PeerId,
        /// The request.
        message: SnapMessage,
    },
    /// Apply a batch atomically, then report [`Input::Written`].
    Write(WriteBatch),
    /// Answer a question about the store with [`Input::LookupDone`]. The sync waits for the
    /// answer (it stalls without one).
    Lookup {
        /// The id to answer with.
        id: LookupId,
        /// The question.
        lookup: Lookup,
    },
    /// A peer broke the protocol: penalize it and disconnect. The core already stopped using it.
    Disconnect {
        /// The peer.
        peer: PeerId,
        /// What it did.
        reason: Misbehaviour,
    },
    /// Something to show or log.
    Event(SyncEvent),
}
