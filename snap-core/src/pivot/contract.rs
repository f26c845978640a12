//! The values that cross the [`PivotSelector`](super::PivotSelector)'s boundary: its
//! configuration, what anchors trust, inputs, outputs and events.

use std::time::Duration;

use alloy_primitives::B256;

use crate::{
    sync::{Header, PeerId, Target},
    wire::{AccountRange, GetAccountRange},
};

/// What the sync's target is anchored to: the one source of trust for it. A target only ever
/// comes from here, never from what a single peer claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// Exactly this state root, chosen by the user. No headers are needed or followed.
    Root(B256),
    /// The state of the block with this hash, chosen by the user. Its header is fetched from
    /// any peer that has it (a header is pinned by its hash), then kept: no following.
    BlockHash(B256),
    /// A consensus client's fork choice ([`PivotInput::ConsensusHead`]): its head and finalized
    /// blocks are trusted, and so is every header linked to them by parent hash. The target
    /// follows the head, `PivotConfig::offset` blocks behind it.
    Consensus,
    /// The peers: a header is trusted when `PivotConfig::quorum` distinct peers sent it, or
    /// when it links by parent hash to a trusted one. The target follows the trusted tip,
    /// `PivotConfig::offset` blocks behind it. (A quorum of 1 trusts any single peer: test
    /// networks only.)
    Peers,
}

impl Anchor {
    /// Whether the target follows the chain (`false`: it is fixed once chosen).
    pub const fn follows(&self) -> bool {
        matches!(self, Self::Consensus | Self::Peers)
    }
}

/// How the selector behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PivotConfig {
    /// Blocks between the trusted tip and the target (geth and reth pick head - 64, within
    /// the 128 recent states peers keep, and below the reorgs a chain sees).
    pub offset: u64,
    /// Distinct peers that must send the same header before it is trusted in
    /// [`Anchor::Peers`] mode. At least 1; anything below 2 lets one peer choose the target.
    pub quorum: usize,
    /// How often peers are asked for newer headers, and a stalled step is tried again.
    pub follow_interval: Duration,
    /// How long a header request or probe may take before it counts as failed.
    pub request_timeout: Duration,
    /// Most headers asked in one request (geth serves up to 1024 and asks for 192).
    pub max_headers: u64,
    /// How deep below the trusted tip a competing branch may fork and still replace it.
    pub reorg_depth: u64,
    /// Most headers fetched to link a new consensus head back to the trusted chain; a head
    /// further ahead re-anchors the sync at it ([`PivotOutput::Jump`]).
    pub max_backfill: u64,
    /// Byte budget of a probe (`GetAccountRange` from the zero hash).
    pub probe_bytes: u64,
    /// Seeds request ids (different from the `Syncer`'s, so the two never collide).
    pub seed: u64,
}

impl Default for PivotConfig {
    fn default() -> Self {
        Self {
            offset: 64,
            quorum: 2,
            follow_interval: Duration::from_secs(12),
            request_timeout: Duration::from_secs(10),
            max_headers: 192,
            reorg_depth: 64,
            max_backfill: 8192,
            probe_bytes: 4096,
            seed: 0x0070_6976_6f74,
        }
    }
}

/// Where a header request starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderStart {
    /// The block with this hash.
    Hash(B256),
    /// The block with this number (on the peer's canonical chain).
    Number(u64),
}

/// An eth `GetBlockHeaders` request, without skip: consecutive blocks, ascending or (with
/// `reverse`) descending from `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeaderRequest {
    /// Echoed in the reply.
    pub id: u64,
    /// The first block.
    pub start: HeaderStart,
    /// Most headers to return.
    pub limit: u64,
    /// Descending from `start`.
    pub reverse: bool,
}

/// Something the selector is told. Each comes with `now` through
/// [`PivotSelector::handle_input`](super::PivotSelector::handle_input).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PivotInput {
    /// A peer finished its handshake.
    PeerReady {
        /// The host's id for it (one id per remote node: the agreement of two ids must be the
        /// agreement of two nodes).
        peer: PeerId,
        /// The head hash its Status announced (a claim, used only to ask for that header).
        head: B256,
        /// Whether it speaks snap (only such peers are probed).
        snap: bool,
    },
    /// A peer went away; its requests count as failed.
    PeerGone {
        /// The peer.
        peer: PeerId,
    },
    /// A reply to [`PivotOutput::GetHeaders`]. The host must have computed each header's
    /// `hash` from the header it received (keccak of its RLP), never taken it from the peer.
    Headers {
        /// The sender.
        peer: PeerId,
        /// The request it answers.
        id: u64,
        /// The headers, in the order received. Empty: the peer does not have them.
        headers: Vec<Header>,
    },
    /// A request failed at the host (the peer refused it, or the connection dropped it).
    Failed {
        /// The peer.
        peer: PeerId,
        /// The request.
        id: u64,
    },
    /// A reply to [`PivotOutput::Probe`].
    Probe {
        /// The sender.
        peer: PeerId,
        /// The reply (its `request_id` matches the probe's).
        reply: AccountRange,
    },
    /// A consensus client's fork choice (Engine API `forkchoiceUpdated`): both hashes are
    /// trusted. `finalized` is zero before the first finalized block.
    ConsensusHead {
        /// The head block's hash.
        head: B256,
        /// The finalized block's hash (or zero).
        finalized: B256,
    },
    /// A header the consensus client delivered itself (an execution payload), with its hash
    /// computed by the host. Not trusted by itself: it saves a fetch when a fork choice later
    /// names it.
    ConsensusHeader(Header),
}

/// Something the selector wants done, or reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PivotOutput {
    /// Send this header request to `peer`; answer with [`PivotInput::Headers`] (or
    /// [`PivotInput::Failed`]).
    GetHeaders {
        /// The peer.
        peer: PeerId,
        /// The request.
        request: HeaderRequest,
    },
    /// Send this `GetAccountRange` to `peer` to learn whether it serves a candidate's state;
    /// answer with [`PivotInput::Probe`] (or [`PivotInput::Failed`]).
    Probe {
        /// The peer.
        peer: PeerId,
        /// The request.
        request: GetAccountRange,
    },
    /// Start the sync on this target (`Syncer::from_header` with the header when there is
    /// one, `Syncer::new` otherwise). Given once.
    Start {
        /// The target.
        target: Target,
        /// Its header (`None` for [`Anchor::Root`]).
        header: Option<Header>,
    },
    /// The next anchored header after the start, in chain order (after a reorg, the new
    /// branch from its first block): give it to the `Syncer` as `Input::Header`.
    Header(Header),
    /// The chain moved further than headers can be linked: give the `Syncer`
    /// `Input::NewTarget(header.target())`, then keep following from this header.
    Jump(Header),
    /// The peer broke the protocol provably: disconnect it.
    Penalize {
        /// The peer.
        peer: PeerId,
        /// What it did.
        reason: PivotMisbehaviour,
    },
    /// Something worth showing.
    Event(PivotEvent),
}

/// A provable protocol violation by a peer (disagreeing with other peers is not one: it may
/// be on another branch).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PivotMisbehaviour {
    /// A header reply that is not what was asked: wrong first block, too many headers, or
    /// headers that are not consecutive blocks linked by parent hash.
    #[error("header reply does not answer its request: {0}")]
    BadHeaders(&'static str),
    /// A probe reply whose accounts or proof do not verify against the root asked for.
    #[error("probe reply does not verify against root {root}")]
    BadProof {
        /// The root probed.
        root: B256,
    },
}

/// Why no target can be chosen yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// Fewer peers have answered with their head than the quorum needs.
    TooFewPeers {
        /// Peers whose head is known.
        have: usize,
        /// Peers needed.
        need: usize,
    },
    /// Peers answered, but not `quorum` of them sent the same header.
    NoAgreement,
    /// No fork choice from the consensus client yet.
    NoConsensusHead,
    /// No peer has sent the anchored block's header yet.
    HeaderUnknown,
    /// No snap peer to probe the candidate's state with.
    NoSnapPeer,
}

/// What the selector reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PivotEvent {
    /// No target yet, and why.
    Waiting(WaitReason),
    /// Every probed peer answered that it does not serve this candidate's state.
    Unserved(Target),
    /// Trusted headers replaced the ones after `ancestor` (a reorg of `depth` blocks).
    Reorg {
        /// The last block both branches share.
        ancestor: u64,
        /// Blocks replaced.
        depth: u64,
    },
}
