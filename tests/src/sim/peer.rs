//! Simulated peers: the project's server (`snap_core::serve`) over the states of the chain
//! they retain, wrapped by a selectable behaviour that reproduces geth's `sync_test.go` faulty
//! peers and more.

use std::{fmt, str::FromStr, time::Duration};

use alloy_primitives::{B256, Bytes};
use snap_core::{
    serve::{InMemoryState, NoBals, ServeLimits, StateView, serve},
    sync::PeerId,
    wire::TrieNodes,
    wire::{
        AccountRange, ByteCodes, GetAccountRange, GetStorageRanges, MAX_MESSAGE_BYTES, SnapMessage,
        SnapVersion, StorageRanges,
    },
};

use super::{rng::SimRng, view::Retained};

/// How a peer answers. Every behaviour but the first misbehaves in one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behaviour {
    /// Serves the target state faithfully.
    Honest,
    /// Answers every request empty ("state unavailable").
    Empty,
    /// Answers account requests empty, the rest honestly.
    EmptyAccounts,
    /// Answers storage requests empty, the rest honestly.
    EmptyStorage,
    /// Answers bytecode requests empty, the rest honestly.
    EmptyCodes,
    /// Never answers.
    Unresponsive,
    /// Caps every range reply at 500 bytes (geth's "starving"/"capped" peer).
    Starving,
    /// Drops the first proof node of account ranges.
    CorruptAccountProof,
    /// Drops the first proof node of storage ranges.
    CorruptStorageProof,
    /// Sends ranges without proofs.
    NoProof,
    /// Sends the requested hashes instead of the codes.
    CorruptCode,
    /// Sends only the first requested code.
    CappedCode,
    /// Cuts budgets to 3/4 and always proves the last item, even of a complete list.
    ProofHappy,
    /// Leaves out the second account of a range and attaches the proof of every key.
    BloatedProofGap,
    /// Serves another state (same keys, other values) whatever root is asked for.
    WrongRoot,
    /// Sends every reply twice.
    Duplicate,
    /// Sends a reply to a request never made before each real reply.
    Unsolicited,
    /// Answers with the id of the request it received before.
    WrongId,
    /// Drops the connection on some requests instead of answering, then reconnects.
    Disconnect,
    /// Answers with random bytes.
    Garbage,
    /// Answers with a message over the decode size limit.
    Huge,
    /// Flips one to three random bits of every honest reply.
    BitFlip,
    /// Answers honestly, but 2 to 20 seconds late (often past the request's timeout).
    Slow,
    /// Answers with a response of another kind carrying the request's id.
    WrongKind,
    /// Answers trie-node requests empty, the rest honestly.
    EmptyNodes,
    /// Retains only the newest state of the chain: answers empty for every older root.
    ShortMemory,
}

/// What the syncer may do to a peer with a behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// The peer must never be disconnected by the syncer.
    NeverDisconnected,
    /// The peer may or may not be disconnected, depending on what it was asked.
    Either,
    /// The peer is disconnected (by the syncer or, for undecodable bytes, the host) once a
    /// faulty reply of it reaches the syncer. The named scenario tests assert it per behaviour;
    /// a run does not, since a crash or a lost packet can swallow every faulty reply.
    Disconnected,
}

impl Behaviour {
    /// Every behaviour, honest first.
    pub const ALL: [Self; 26] = [
        Self::Honest,
        Self::Empty,
        Self::EmptyAccounts,
        Self::EmptyStorage,
        Self::EmptyCodes,
        Self::Unresponsive,
        Self::Starving,
        Self::CorruptAccountProof,
        Self::CorruptStorageProof,
        Self::NoProof,
        Self::CorruptCode,
        Self::CappedCode,
        Self::ProofHappy,
        Self::BloatedProofGap,
        Self::WrongRoot,
        Self::Duplicate,
        Self::Unsolicited,
        Self::WrongId,
        Self::Disconnect,
        Self::Garbage,
        Self::Huge,
        Self::BitFlip,
        Self::Slow,
        Self::WrongKind,
        Self::EmptyNodes,
        Self::ShortMemory,
    ];

    /// The behaviour's command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Honest => "honest",
            Self::Empty => "empty",
            Self::EmptyAccounts => "empty-accounts",
            Self::EmptyStorage => "empty-storage",
            Self::EmptyCodes => "empty-codes",
            Self::Unresponsive => "unresponsive",
            Self::Starving => "starving",
            Self::CorruptAccountProof => "corrupt-account-proof",
            Self::CorruptStorageProof => "corrupt-storage-proof",
            Self::NoProof => "no-proof",
            Self::CorruptCode => "corrupt-code",
            Self::CappedCode => "capped-code",
            Self::ProofHappy => "proof-happy",
            Self::BloatedProofGap => "bloated-proof-gap",
            Self::WrongRoot => "wrong-root",
            Self::Duplicate => "duplicate",
            Self::Unsolicited => "unsolicited",
            Self::WrongId => "wrong-id",
            Self::Disconnect => "disconnect",
            Self::Garbage => "garbage",
            Self::Huge => "huge",
            Self::BitFlip => "bit-flip",
            Self::Slow => "slow",
            Self::WrongKind => "wrong-kind",
            Self::EmptyNodes => "empty-nodes",
            Self::ShortMemory => "short-memory",
        }
    }

    /// Whether the peer answers trie-node requests faithfully (for the states it holds) and is
    /// never disconnected.
    pub const fn serves_trie_nodes(self) -> bool {
        matches!(
            self,
            Self::Honest
                | Self::EmptyAccounts
                | Self::EmptyStorage
                | Self::EmptyCodes
                | Self::Starving
                | Self::CappedCode
                | Self::ProofHappy
                | Self::ShortMemory
        )
    }

    /// What the syncer may do to such a peer.
    pub const fn expectation(self) -> Expectation {
        match self {
            Self::Honest
            | Self::Empty
            | Self::EmptyAccounts
            | Self::EmptyStorage
            | Self::EmptyCodes
            | Self::Unresponsive
            | Self::Starving
            | Self::CappedCode
            | Self::ProofHappy
            | Self::Disconnect
            | Self::Slow
            | Self::EmptyNodes
            | Self::ShortMemory => Expectation::NeverDisconnected,
            Self::CorruptStorageProof
            | Self::NoProof
            | Self::WrongId
            | Self::BloatedProofGap
            | Self::WrongRoot
            | Self::BitFlip => Expectation::Either,
            Self::CorruptAccountProof
            | Self::CorruptCode
            | Self::Duplicate
            | Self::Unsolicited
            | Self::Garbage
            | Self::Huge
            | Self::WrongKind => Expectation::Disconnected,
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Behaviour {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|behaviour| behaviour.name() == name)
            .ok_or_else(|| format!("unknown peer behaviour {name:?}"))
    }
}

/// One thing a peer does in answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Send these bytes as message `id`, `delay` after the request arrived.
    Message {
        /// The message id.
        id: u8,
        /// The encoded message (or anything else).
        bytes: Vec<u8>,
        /// Extra delay before sending.
        delay: Duration,
    },
    /// Drop the connection.
    Disconnect,
}

/// What happened to a peer during a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Requests it received.
    pub requests: u64,
    /// Of which `GetAccountRange`, `GetStorageRanges`, `GetByteCodes`, `GetTrieNodes`.
    pub by_kind: [u64; 4],
    /// Messages it sent.
    pub replies: u64,
    /// Times the syncer disconnected it, and the first reason.
    pub syncer_disconnects: u64,
    /// The first reason the syncer gave.
    pub first_reason: Option<String>,
    /// Times the host disconnected it for a message that did not decode.
    pub decode_disconnects: u64,
    /// Times it dropped the connection itself.
    pub own_disconnects: u64,
    /// Requests for a state root it did not hold (answered empty).
    pub unknown_roots: u64,
    /// The snap version it speaks (1 or 2).
    pub version: u8,
}

/// A simulated peer.
#[derive(Debug)]
pub struct Peer {
    /// Its id.
    pub id: PeerId,
    /// How it answers.
    pub behaviour: Behaviour,
    /// The snap version it speaks.
    pub version: SnapVersion,
    /// What happened to it.
    pub stats: PeerStats,
    previous_id: Option<u64>,
    rng: SimRng,
}

/// The byte budget a starving peer serves at most.
const STARVING_BYTES: u64 = 500;

impl Peer {
    /// A peer with this behaviour; `seed` drives its random choices.
    pub fn new(id: PeerId, behaviour: Behaviour, version: SnapVersion, seed: u64) -> Self {
        Self {
            id,
            behaviour,
            version,
            stats: PeerStats {
                version: if version == SnapVersion::V1 { 1 } else { 2 },
                ..PeerStats::default()
            },
            previous_id: None,
            rng: SimRng::derive(seed, &format!("peer-{}", id.0)),
        }
    }

    /// The peer's answer to `request` (already decoded from the wire). `retained` is the set of
    /// states the chain's peers hold (newest last), `history` every state the chain had so far
    /// (whose codes are served), `other` the state a wrong-root peer serves.
    pub fn answer(
        &mut self,
        request: &SnapMessage,
        retained: &[&InMemoryState],
        history: &[&InMemoryState],
        other: Option<&InMemoryState>,
    ) -> Vec<Reply> {
        let newest = &retained[retained.len().saturating_sub(1)..];
        let states = if self.behaviour == Behaviour::ShortMemory { newest } else { retained };
        let view = Retained::with_codes(states, history);
        self.stats.requests += 1;
        match request {
            SnapMessage::GetAccountRange(_) => self.stats.by_kind[0] += 1,
            SnapMessage::GetStorageRanges(_) => self.stats.by_kind[1] += 1,
            SnapMessage::GetByteCodes(_) => self.stats.by_kind[2] += 1,
            SnapMessage::GetTrieNodes(_) => self.stats.by_kind[3] += 1,
            _ => {}
        }
        let asked_root = match request {
            SnapMessage::GetAccountRange(m) => Some(m.root),
            SnapMessage::GetStorageRanges(m) => Some(m.root),
            SnapMessage::GetTrieNodes(m) => Some(m.root),
            _ => None,
        };
        if asked_root.is_some_and(|root| !view.has_root(&root)) {
            self.stats.unknown_roots += 1;
        }
        let request_id = request.request_id();
        let previous = self.previous_id.replace(request_id);
        let limits = ServeLimits::default();
        let behaviour = self.behaviour;
        let replies = match behaviour {
            Behaviour::Unresponsive => Vec::new(),
            Behaviour::Disconnect if self.rng.chance(0.3) => vec![Reply::Disconnect],
            Behaviour::Garbage => {
                let len = self.rng.between(0, 300) as usize;
                let bytes = self.rng.bytes(len);
                vec![self.raw(request, bytes)]
            }
            Behaviour::Huge => vec![self.raw(request, vec![0xc0; MAX_MESSAGE_BYTES + 1])],
            Behaviour::WrongKind => {
                let reply = match request {
                    SnapMessage::GetByteCodes(_) => SnapMessage::AccountRange(AccountRange {
                        request_id,
                        ..AccountRange::default()
                    }),
                    _ => SnapMessage::ByteCodes(ByteCodes { request_id, ..ByteCodes::default() }),
                };
                vec![self.encode(&reply)]
            }
            Behaviour::WrongRoot => match other {
                Some(other) => {
                    let request = reroot(request, other.root());
                    self.served(&request, other, &limits)
                        .into_iter()
                        .map(|m| self.encode(&m))
                        .collect()
                }
                None => Vec::new(),
            },
            _ => {
                let request = self.adjust_request(request);
                let Some(mut reply) = self.served(&request, &view, &limits) else {
                    return Vec::new();
                };
                self.corrupt(&request, &mut reply, &view);
                let mut replies = Vec::new();
                if behaviour == Behaviour::Unsolicited {
                    let stray = SnapMessage::AccountRange(AccountRange {
                        request_id: self.rng.next_u64() | 1,
                        ..AccountRange::default()
                    });
                    replies.push(self.encode(&stray));
                }
                if behaviour == Behaviour::WrongId {
                    set_request_id(&mut reply, previous.unwrap_or(request_id ^ 1));
                }
                let mut encoded = self.encode(&reply);
                if let Reply::Message { bytes, delay, .. } = &mut encoded {
                    if behaviour == Behaviour::BitFlip && !bytes.is_empty() {
                        for _ in 0..self.rng.between(1, 3) {
                            let bit = self.rng.below(bytes.len() as u64 * 8);
                            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
                        }
                    }
                    if behaviour == Behaviour::Slow {
                        *delay = Duration::from_millis(self.rng.between(2_000, 20_000));
                    }
                }
                replies.push(encoded);
                if behaviour == Behaviour::Duplicate {
                    let mut again = self.encode(&reply);
                    if let Reply::Message { delay, .. } = &mut again {
                        *delay = Duration::from_millis(1);
                    }
                    replies.push(again);
                }
                replies
            }
        };
        self.stats.replies +=
            replies.iter().filter(|reply| matches!(reply, Reply::Message { .. })).count() as u64;
        replies
    }

    fn served<S: StateView + ?Sized>(
        &self,
        request: &SnapMessage,
        state: &S,
        limits: &ServeLimits,
    ) -> Option<SnapMessage> {
        serve(request, state, &NoBals, limits).ok()
    }

    fn encode(&self, message: &SnapMessage) -> Reply {
        Reply::Message { id: message.id() as u8, bytes: message.to_vec(), delay: Duration::ZERO }
    }

    /// Raw bytes under the id of the response `request` expects.
    fn raw(&self, request: &SnapMessage, bytes: Vec<u8>) -> Reply {
        let id = request.id().response().map_or(0x01, |id| id as u8);
        Reply::Message { id, bytes, delay: Duration::ZERO }
    }

    /// The request as the behaviour serves it (smaller budgets, or nothing).
    fn adjust_request(&self, request: &SnapMessage) -> SnapMessage {
        let mut request = request.clone();
        match (&mut request, self.behaviour) {
            (SnapMessage::GetAccountRange(m), Behaviour::Starving) => {
                m.response_bytes = m.response_bytes.min(STARVING_BYTES);
            }
            (SnapMessage::GetStorageRanges(m), Behaviour::Starving) => {
                m.response_bytes = m.response_bytes.min(STARVING_BYTES);
            }
            (SnapMessage::GetAccountRange(m), Behaviour::ProofHappy) => {
                m.response_bytes = m.response_bytes * 3 / 4;
            }
            (SnapMessage::GetStorageRanges(m), Behaviour::ProofHappy) => {
                m.response_bytes = m.response_bytes * 3 / 4;
            }
            _ => {}
        }
        request
    }

    /// Applies the behaviour's corruption to an honest reply.
    fn corrupt(&self, request: &SnapMessage, reply: &mut SnapMessage, state: &Retained<'_>) {
        match (self.behaviour, reply) {
            (Behaviour::Empty | Behaviour::EmptyAccounts, SnapMessage::AccountRange(m)) => {
                *m = AccountRange { request_id: m.request_id, ..AccountRange::default() };
            }
            (Behaviour::Empty | Behaviour::EmptyStorage, SnapMessage::StorageRanges(m)) => {
                *m = StorageRanges { request_id: m.request_id, ..StorageRanges::default() };
            }
            (Behaviour::Empty | Behaviour::EmptyCodes, SnapMessage::ByteCodes(m)) => {
                *m = ByteCodes { request_id: m.request_id, ..ByteCodes::default() };
            }
            (Behaviour::Empty | Behaviour::EmptyNodes, SnapMessage::TrieNodes(m)) => {
                *m = TrieNodes { request_id: m.request_id, ..TrieNodes::default() };
            }
            (Behaviour::CorruptAccountProof, SnapMessage::AccountRange(m))
                if !m.proof.is_empty() =>
            {
                m.proof.remove(0);
            }
            (Behaviour::CorruptStorageProof, SnapMessage::StorageRanges(m))
                if !m.proof.is_empty() =>
            {
                m.proof.remove(0);
            }
            (Behaviour::NoProof, SnapMessage::AccountRange(m)) => m.proof.clear(),
            (Behaviour::NoProof, SnapMessage::StorageRanges(m)) => m.proof.clear(),
            (Behaviour::CorruptCode, SnapMessage::ByteCodes(m)) => {
                if let SnapMessage::GetByteCodes(asked) = request {
                    m.codes = asked
                        .hashes
                        .iter()
                        .take(m.codes.len().max(1))
                        .map(|hash| Bytes::copy_from_slice(hash.as_slice()))
                        .collect();
                }
            }
            (Behaviour::CappedCode, SnapMessage::ByteCodes(m)) => m.codes.truncate(1),
            (Behaviour::ProofHappy, SnapMessage::StorageRanges(m)) => {
                if let SnapMessage::GetStorageRanges(asked) = request {
                    prove_last_list(asked, m, state);
                }
            }
            (Behaviour::BloatedProofGap, SnapMessage::AccountRange(m)) => {
                if let SnapMessage::GetAccountRange(asked) = request {
                    bloat(asked, m, state);
                }
            }
            _ => {}
        }
    }
}

/// Attaches the proof of the origin and of the last slot of the reply's last list, even when
/// that list is complete.
fn prove_last_list(asked: &GetStorageRanges, reply: &mut StorageRanges, state: &Retained<'_>) {
    if !reply.proof.is_empty() || reply.slots.is_empty() {
        return;
    }
    let index = reply.slots.len() - 1;
    let (Some(account), Some(last)) =
        (asked.account_hashes.get(index), reply.slots[index].last().map(|slot| slot.hash))
    else {
        return;
    };
    let origin = if index == 0 { pad(&asked.origin) } else { B256::ZERO };
    let root = asked.root;
    let mut proof = state.prove(&root, Some(account), &origin).unwrap_or_default();
    for node in state.prove(&root, Some(account), &last).unwrap_or_default() {
        if !proof.contains(&node) {
            proof.push(node);
        }
    }
    reply.proof = proof;
}

/// Drops the second account and attaches the proof of every key.
fn bloat(asked: &GetAccountRange, reply: &mut AccountRange, state: &Retained<'_>) {
    if reply.accounts.len() < 2 {
        return;
    }
    reply.accounts.remove(1);
    let root = asked.root;
    let mut proof = state.prove(&root, None, &asked.origin).unwrap_or_default();
    for account in &reply.accounts {
        for node in state.prove(&root, None, &account.hash).unwrap_or_default() {
            if !proof.contains(&node) {
                proof.push(node);
            }
        }
    }
    reply.proof = proof;
}

fn pad(bound: &Bytes) -> B256 {
    let mut out = [0u8; 32];
    let len = bound.len().min(32);
    out[32 - len..].copy_from_slice(&bound[..len]);
    B256::from(out)
}

/// The request asking for `root` instead.
fn reroot(request: &SnapMessage, root: B256) -> SnapMessage {
    let mut request = request.clone();
    match &mut request {
        SnapMessage::GetAccountRange(m) => m.root = root,
        SnapMessage::GetStorageRanges(m) => m.root = root,
        SnapMessage::GetTrieNodes(m) => m.root = root,
        _ => {}
    }
    request
}

fn set_request_id(message: &mut SnapMessage, id: u64) {
    match message {
        SnapMessage::AccountRange(m) => m.request_id = id,
        SnapMessage::StorageRanges(m) => m.request_id = id,
        SnapMessage::ByteCodes(m) => m.request_id = id,
        SnapMessage::TrieNodes(m) => m.request_id = id,
        SnapMessage::BlockAccessLists(m) => m.request_id = id,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for behaviour in Behaviour::ALL {
            assert_eq!(behaviour.name().parse::<Behaviour>(), Ok(behaviour));
        }
        assert!("nonsense".parse::<Behaviour>().is_err());
    }
}
