//! The values that cross the `Syncer`'s boundary: inputs, outputs, write batches, misbehaviours
//! and events.

use std::time::Duration;

use alloy_primitives::{B256, Bytes};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;

use super::range::HashRange;
use crate::{
    bal::BalError,
    trie::{
        PrunedRange,
        generate::{NodeChanges, NodeKey},
        proof::ProofError,
    },
    wire::{BalHashMismatch, SnapMessage, SnapVersion},
};

/// A peer as the host identifies it: opaque to the core, chosen by the host, never reused for
/// another connection while the core may still know the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// The state a sync is converging to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct Target {
    /// The state root.
    pub root: B256,
    /// The number of the block whose state root this is.
    pub number: u64,
}

/// A block header as the sync needs it: the host decodes the real header and passes these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The block number.
    pub number: u64,
    /// The block hash.
    pub hash: B256,
    /// The parent block's hash.
    pub parent_hash: B256,
    /// The state root after the block.
    pub state_root: B256,
    /// `block_access_list_hash` (EIP-7928), for blocks after the fork that added it.
    pub bal_hash: Option<B256>,
}

impl Header {
    /// The state this header's block ends in, as a sync target.
    pub const fn target(&self) -> Target {
        Target { root: self.state_root, number: self.number }
    }
}

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
        /// The message: a response. A request message here is the peer's violation
        /// ([`Misbehaviour::UnexpectedMessage`]); a host routes requests to its server.
        message: SnapMessage,
    },
    /// The host applied the write batch with this id, atomically.
    Written(BatchId),
    /// The chain moved: sync this state from now on. Ignored unless its block is at least
    /// `SyncConfig::min_target_step` past the current target's (or the root is the same). The
    /// newest target is held and taken once the current one is `SyncConfig::max_target_lag`
    /// blocks behind it, when the ranges are in, or when catch-up is complete (see
    /// `SyncConfig::finish_within`). Range work verified against the older root is kept and
    /// catch-up repairs the difference.
    NewTarget(Target),
    /// The chain's newest header, or after a reorg the next header of the new branch (from the
    /// first block after the common ancestor on, in order). Headers drive the target like
    /// [`Input::NewTarget`], and carry what snap/2 catch-up needs: block hashes, parent links
    /// (reorgs) and BAL commitments. A header whose parent the sync does not hold is ignored;
    /// the first header given should be the target's own (or start with `Syncer::from_header`).
    Header(Header),
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
    /// Which flat accounts does the store hold for these hashes? (Applying a block access list
    /// needs each changed account's other fields.)
    Accounts(Vec<B256>),
    /// Up to `limit` entries of the flat state from `from` on, in trie order: each flat account
    /// followed by its slots (see [`FlatEntry`]). Fewer than `limit` means the end was reached.
    /// (Rebuilding the tries streams the whole flat state this way.)
    Flat {
        /// Where to start.
        from: FlatCursor,
        /// Most entries to return.
        limit: usize,
    },
}

/// A position in the flat state's trie order: an account hash, and within its storage a slot
/// hash (`None`: start with the account itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlatCursor {
    /// The first account hash to report.
    pub account: B256,
    /// `Some(slot)`: skip the account entry and start with its slots from `slot` on.
    pub slot: Option<B256>,
}

/// One entry of the flat state, as [`Lookup::Flat`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlatEntry {
    /// A flat account.
    Account(B256, TrieAccount),
    /// A slot of the account reported last: `(account hash, slot hash, RLP-encoded value)`.
    Slot(B256, B256, Bytes),
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
    /// For each hash asked, in order, the flat account held (`None`: none). A missing entry
    /// counts as `None`.
    Accounts(Vec<Option<TrieAccount>>),
    /// The entries asked for by [`Lookup::Flat`], in order.
    Flat(Vec<FlatEntry>),
}

/// The id of a write batch, increasing from 1 within one `Syncer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u64);

/// Verified data to store, with the progress record that covers it. The host applies a batch
/// atomically (all of it or none), in the order batches are handed out, and acknowledges it with
/// [`Input::Written`].
///
/// Within a batch, deletions come first: clearing the tries, the pruned ranges, then the node
/// deletions; then every write. (A batch never writes what it deletes, but a later batch may write into a range an
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
    /// Delete every stored trie node, of the account trie and of every storage trie, before
    /// anything else in the batch; flat entries and codes stay. (Rebuilding the tries from the
    /// flat state starts this way.)
    pub clear_tries: bool,
    /// The encoded progress record (`ProgressRecord::encode_versioned`) describing the sync
    /// once this batch and all before it are applied.
    pub progress: Bytes,
}

impl WriteBatch {
    /// A rough size of the batch in bytes, for batching and memory accounting.
    pub fn estimated_bytes(&self) -> usize {
        self.fixed_bytes()
            + self.storage.iter().map(slot_bytes).sum::<usize>()
            + self.codes.iter().map(code_bytes).sum::<usize>()
            + self.nodes.writes.iter().map(node_bytes).sum::<usize>()
    }

    /// An empty batch with room for a quarter more entries of each kind than this one holds
    /// (batches end at a size, so their counts vary a little).
    pub(crate) fn empty_like(&self) -> Self {
        let room = |len: usize| len + len / 4;
        Self {
            accounts: Vec::with_capacity(room(self.accounts.len())),
            storage: Vec::with_capacity(room(self.storage.len())),
            codes: Vec::with_capacity(room(self.codes.len())),
            nodes: NodeChanges {
                writes: Vec::with_capacity(room(self.nodes.writes.len())),
                deletes: Vec::with_capacity(room(self.nodes.deletes.len())),
            },
            ..Self::default()
        }
    }

    /// The part of [`estimated_bytes`](Self::estimated_bytes) that needs no sum.
    pub(super) fn fixed_bytes(&self) -> usize {
        self.accounts.len() * 120
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

    /// Empties the batch, keeping its lists' buffers: give a batch applied back to
    /// [`Syncer::recycle_batch`](crate::sync::Syncer::recycle_batch) cleared (on the thread
    /// that applied it, which then also drops the data it held).
    pub fn clear(&mut self) {
        self.accounts.clear();
        self.storage.clear();
        self.codes.clear();
        self.nodes.clear();
        self.pruned.clear();
        self.clear_tries = false;
        self.progress = Bytes::new();
    }

    /// Whether the batch carries no data (it may still carry a progress record).
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.storage.is_empty()
            && self.codes.is_empty()
            && self.nodes.writes.is_empty()
            && self.nodes.deletes.is_empty()
            && self.pruned.is_empty()
            && !self.clear_tries
    }
}

pub(super) fn slot_bytes((_, _, value): &(B256, B256, Bytes)) -> usize {
    64 + value.len()
}

pub(super) fn code_bytes((_, code): &(B256, Bytes)) -> usize {
    32 + code.len()
}

pub(super) fn node_bytes((_, node): &(NodeKey, Bytes)) -> usize {
    40 + node.len()
}

/// A peer broke the protocol. Each variant is a reason to penalize the peer and stop using it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// A response whose request id matches nothing in flight to this peer (never asked, already
    /// answered, or asked of another peer; a late answer to a recently timed-out request is
    /// dropped quietly).
    #[error("unsolicited response (request id {0})")]
    Unsolicited(u64),
    /// A response of another kind than the request with that id.
    #[error("response kind does not match request {0}")]
    WrongResponseKind(u64),
    /// The peer sent a request message where a response to the core's request was due (the
    /// host passed it as [`Input::Response`]). Requests to this node are the host's server's
    /// business and never reach the core; one that does is the peer answering a request with a
    /// request.
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
    /// A block access list that does not hash to its header's commitment.
    #[error("{0}")]
    BadBal(BalHashMismatch),
    /// A block access list that matches its commitment but is not a valid list. (No valid chain
    /// has one; the peer serves a header chain the host should not trust either.)
    #[error("invalid block access list: {0}")]
    InvalidBal(BalError),
}

/// The phases of a sync, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Downloading account ranges, storage and bytecodes.
    Ranges,
    /// snap/1 catch-up: walking the target trie from its root, fetching every node the store
    /// lacks, repairing the flat state under each, and fetching missing bytecodes.
    Healing,
    /// snap/2 catch-up: fetching the block access lists of every block since the first target
    /// (and of blocks a reorg orphaned) and applying them to the flat state in block order.
    Applying,
    /// snap/2 catch-up: rebuilding every trie from the flat state and checking the root against
    /// the target header. The target is frozen meanwhile.
    Rebuilding,
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
    /// The catch-up strategy was chosen (once per sync, when the ranges are in).
    Strategy(CatchUpStrategy),
    /// A reorg replaced blocks the sync had used.
    Reorg {
        /// The common ancestor's number.
        ancestor: u64,
        /// How many blocks it orphaned.
        orphaned: usize,
    },
    /// The sync threw its state away and started over at `target`.
    Restarted {
        /// The new target.
        target: Target,
        /// Why.
        reason: RestartReason,
    },
    /// The tries rebuilt from the flat state do not hash to the target's root. The account
    /// ranges that disagree with the root node the peers prove are downloaded again; nothing is
    /// accepted until the root matches.
    RootMismatch {
        /// The target's root.
        expected: B256,
        /// The root of the rebuilt tries.
        computed: B256,
        /// The account-hash ranges whose subtries differ.
        ranges: Vec<HashRange>,
    },
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

/// Why a sync started over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestartReason {
    /// A reorg orphaned blocks whose access lists no connected peer has: what those blocks
    /// changed cannot be undone.
    OrphanedBalsUnavailable,
    /// A reorg orphaned the sync's first target, below every block whose changes it knows.
    BaseOrphaned,
    /// No connected snap/2 peer has the access list of the next block to apply any more, and
    /// that block is far behind the chain's tip (past the peers' retention): the sync cannot
    /// catch up from where it is.
    BalsExpired,
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

/// How a sync makes its flat state consistent with a moving target once ranges are in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CatchUpStrategy {
    /// Not chosen yet: decided when the ranges are complete.
    #[default]
    Undecided,
    /// snap/1: walk the target trie and fetch what the store lacks with `GetTrieNodes`.
    Heal,
    /// snap/2: apply every block's access list since the base, then rebuild the tries from the
    /// flat state and check the root.
    Bal,
}

/// Totals of what was downloaded and written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct Counters {
    /// Accounts written.
    pub accounts: u64,
    /// Bytes of account data received.
    pub account_bytes: u64,
    /// Storage slots written.
    pub slots: u64,
    /// Bytes of storage data received.
    pub slot_bytes: u64,
    /// Bytecodes written.
    pub codes: u64,
    /// Bytes of bytecode received.
    pub code_bytes: u64,
    /// Trie nodes written by healing.
    pub nodes: u64,
    /// Bytes of trie nodes received by healing.
    pub node_bytes: u64,
    /// Flat accounts written (or rewritten) by healing.
    pub healed_accounts: u64,
    /// Flat storage slots written (or rewritten) by healing.
    pub healed_slots: u64,
    /// Block access lists applied.
    pub bals: u64,
    /// Bytes of block access lists received.
    pub bal_bytes: u64,
    /// Flat accounts written or deleted by applying block access lists.
    pub bal_accounts: u64,
    /// Flat storage slots written or deleted by applying block access lists.
    pub bal_slots: u64,
    /// Leaves hashed by rebuilding the tries from the flat state.
    pub rebuilt_leaves: u64,
}

impl Counters {
    /// Every counter with its name, in declaration order.
    pub const fn named(&self) -> [(&'static str, u64); 15] {
        [
            ("accounts", self.accounts),
            ("account_bytes", self.account_bytes),
            ("slots", self.slots),
            ("slot_bytes", self.slot_bytes),
            ("codes", self.codes),
            ("code_bytes", self.code_bytes),
            ("nodes", self.nodes),
            ("node_bytes", self.node_bytes),
            ("healed_accounts", self.healed_accounts),
            ("healed_slots", self.healed_slots),
            ("bals", self.bals),
            ("bal_bytes", self.bal_bytes),
            ("bal_accounts", self.bal_accounts),
            ("bal_slots", self.bal_slots),
            ("rebuilt_leaves", self.rebuilt_leaves),
        ]
    }

    /// The first counter that is lower here than in `earlier`, with both values: counters only
    /// ever grow, so any is a regression.
    pub fn first_below(&self, earlier: &Self) -> Option<(&'static str, u64, u64)> {
        earlier
            .named()
            .into_iter()
            .zip(self.named())
            .find(|((_, before), (_, now))| now < before)
            .map(|((name, before), (_, now))| (name, before, now))
    }
}

/// A large contract whose storage is still being fetched in chunks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PendingContract {
    /// The account (hash) owning the storage.
    pub account: B256,
    /// Fraction of its storage key space still to fetch, `0.0..=1.0`.
    pub fraction_left: f64,
    /// Estimated slots still to fetch, from the density of those fetched so far. `None` until
    /// measured: after a resume, until its first chunk answer.
    pub slots_left: Option<u64>,
}

/// A snapshot of a sync's progress, emitted periodically as an event.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressReport {
    /// The current phase.
    pub phase: Phase,
    /// Fraction of the range phase's work done, `0.0..=1.0`: accounts and storage slots
    /// written against those still expected (the accounts left from the share of the account
    /// space written, the slots of giant contracts from their density so far). It never goes
    /// back within a range phase: when the estimate of the work grows, it holds until progress
    /// passes it. 1 only once every account range is written (and in the phases after).
    pub fraction_done: f64,
    /// Totals so far (including what earlier runs wrote before a resume).
    pub counters: Counters,
    /// Accounts written per second over the last interval.
    pub accounts_per_second: f64,
    /// Slots written per second over the last interval.
    pub slots_per_second: f64,
    /// Bytes received per second over the last interval.
    pub bytes_per_second: f64,
    /// Estimated time until the range phase completes, once it can be estimated: the
    /// accounts and slots still expected, at the rate this run has written them.
    pub eta: Option<Duration>,
    /// Large contracts still being fetched in chunks (at most five), the most slots left first.
    pub largest_pending_contracts: Vec<PendingContract>,
    /// Bytecodes wanted or in flight.
    pub codes_outstanding: usize,
    /// Peers connected.
    pub peers: usize,
    /// Requests in flight.
    pub in_flight: usize,
    /// Time since this `Syncer` started.
    pub elapsed: Duration,
    /// The target being synced.
    pub target: Target,
    /// Trie nodes healing fetched and holds until their subtrees complete.
    pub heal_pending: usize,
    /// Trie-node paths healing has queued to check or fetch.
    pub heal_queued: usize,
    /// snap/2: blocks whose access lists are still to apply (up to the target).
    pub bals_left: u64,
    /// snap/2: fraction of the account key space the rebuild has read, `0.0..=1.0`.
    pub rebuild_fraction: f64,
}
