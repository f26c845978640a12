//! Choosing and following the sync target from peers' headers.
//!
//! With no root given, the pivot is the block `offset` (64) below the best head the peers
//! announce, clamped at genesis. Its state root is probed with a one-account `GetAccountRange`
//! before the sync starts: a node that keeps only its head state (like a test chain's) answers
//! empty for older roots, and the pivot then falls back to the head itself. While the sync
//! runs, peers are asked for headers past the best known head; a pivot that moved becomes a
//! new target (the core ignores steps below its `min_target_step`).

use std::collections::HashMap;

use alloy_primitives::B256;
use snap_core::{
    sync::{PeerId, Target},
    wire::{GetAccountRange, SnapMessage},
};
use snap_tokio_adapter::eth::{BlockHeaders, BlockId, GetBlockHeaders};

/// Headers asked for at once when following the chain.
const FOLLOW_HEADERS: u64 = 192;
/// Probe request ids live far above the ids the core picks for its own requests.
const PROBE_IDS: u64 = 1 << 62;

/// How the target is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetChoice {
    /// From the peers' heads, `offset` blocks back, following the chain.
    Peers {
        /// Blocks below the head.
        offset: u64,
    },
    /// The state root of the block with this hash (fixed).
    BlockHash(B256),
    /// This state root (fixed; no headers needed).
    Root(B256),
}

/// What the pivot logic wants the driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PivotAction {
    /// Send this header request to the peer.
    Headers(PeerId, GetBlockHeaders),
    /// Send this snap probe to the peer.
    Probe(PeerId, SnapMessage),
    /// The initial target is chosen.
    Start(Target),
    /// The chain moved: sync this target from now on.
    Move(Target),
    /// No peer serves the candidate states; trying again with the next head.
    Unserved(Target),
}

#[derive(Clone, Copy, Debug)]
enum Purpose {
    Head,
    Pivot { head: Target },
    Exact,
    Follow,
    Moved,
}

/// The pivot's state (see the module docs).
#[derive(Debug)]
pub struct Pivot {
    choice: TargetChoice,
    best_head: Option<u64>,
    started: Option<Target>,
    announced: u64,
    next_id: u64,
    headers: HashMap<u64, Purpose>,
    probes: HashMap<u64, (Target, Option<Target>)>,
}

fn target_of(headers: &BlockHeaders) -> Option<Target> {
    headers.headers.first().map(|h| Target { root: h.header.state_root, number: h.header.number })
}

impl Pivot {
    /// A pivot chosen by `choice`; `resumed` is the target of a sync continued from the store.
    pub fn new(choice: TargetChoice, resumed: Option<Target>) -> Self {
        let started = resumed.or(match choice {
            TargetChoice::Root(root) => Some(Target { root, number: 0 }),
            _ => None,
        });
        Self {
            choice,
            best_head: None,
            announced: started.map_or(0, |t| t.number),
            started,
            next_id: 1,
            headers: HashMap::new(),
            probes: HashMap::new(),
        }
    }

    /// The initial target, once chosen.
    pub const fn started(&self) -> Option<Target> {
        self.started
    }

    fn request(
        &mut self,
        peer: PeerId,
        start: BlockId,
        limit: u64,
        purpose: Purpose,
    ) -> PivotAction {
        let request_id = self.next_id;
        self.next_id += 1;
        self.headers.insert(request_id, purpose);
        PivotAction::Headers(
            peer,
            GetBlockHeaders { request_id, start, limit, skip: 0, reverse: false },
        )
    }

    fn probe(&mut self, peer: PeerId, candidate: Target, fallback: Option<Target>) -> PivotAction {
        let request_id = PROBE_IDS + self.next_id;
        self.next_id += 1;
        self.probes.insert(request_id, (candidate, fallback));
        PivotAction::Probe(
            peer,
            SnapMessage::GetAccountRange(GetAccountRange {
                request_id,
                root: candidate.root,
                origin: B256::ZERO,
                limit: B256::repeat_byte(0xff),
                response_bytes: 1,
            }),
        )
    }

    /// A peer finished its handshake announcing `head_hash`.
    pub fn on_ready(&mut self, peer: PeerId, head_hash: B256) -> Vec<PivotAction> {
        match self.choice {
            TargetChoice::Peers { .. } => {
                vec![self.request(peer, BlockId::Hash(head_hash), 1, Purpose::Head)]
            }
            TargetChoice::BlockHash(hash) if self.started.is_none() && self.headers.is_empty() => {
                vec![self.request(peer, BlockId::Hash(hash), 1, Purpose::Exact)]
            }
            _ => Vec::new(),
        }
    }

    /// Time to look for new heads: one request to each of `peers`.
    pub fn on_follow_tick(&mut self, peers: &[PeerId]) -> Vec<PivotAction> {
        let (TargetChoice::Peers { .. }, Some(best)) = (self.choice, self.best_head) else {
            return Vec::new();
        };
        if self.started.is_none() {
            // Not started yet (no peer served the last candidates): try the newest head again.
            if !self.probes.is_empty() {
                return Vec::new();
            }
            let start = BlockId::Number(best);
            return peers
                .iter()
                .map(|peer| self.request(*peer, start, FOLLOW_HEADERS, Purpose::Head))
                .collect();
        }
        let start = BlockId::Number(best.saturating_add(1));
        peers
            .iter()
            .map(|peer| self.request(*peer, start, FOLLOW_HEADERS, Purpose::Follow))
            .collect()
    }

    /// Whether `id` is one of our header requests.
    pub fn owns_headers(&self, id: u64) -> bool {
        self.headers.contains_key(&id)
    }

    /// Whether `id` is one of our probes.
    pub fn owns_probe(&self, id: u64) -> bool {
        self.probes.contains_key(&id)
    }

    /// A verified header reply (or a timeout: `None`) for request `id` from `peer`.
    pub fn on_headers(
        &mut self,
        peer: PeerId,
        id: u64,
        reply: Option<&BlockHeaders>,
    ) -> Vec<PivotAction> {
        let Some(purpose) = self.headers.remove(&id) else { return Vec::new() };
        let offset = match self.choice {
            TargetChoice::Peers { offset } => offset,
            _ => 0,
        };
        let Some(reply) = reply else { return Vec::new() };
        match purpose {
            Purpose::Exact => match target_of(reply) {
                Some(target) if self.started.is_none() => {
                    self.started = Some(target);
                    self.announced = target.number;
                    vec![PivotAction::Start(target)]
                }
                _ => Vec::new(),
            },
            Purpose::Head | Purpose::Follow => {
                let Some(last) = reply.headers.last() else { return Vec::new() };
                let head = Target { root: last.header.state_root, number: last.header.number };
                if self.best_head.is_some_and(|best| best >= head.number) && self.started.is_some()
                {
                    return Vec::new();
                }
                self.best_head = Some(self.best_head.map_or(head.number, |b| b.max(head.number)));
                let pivot = head.number.saturating_sub(offset);
                if self.started.is_none() {
                    if !self.probes.is_empty() {
                        return Vec::new();
                    }
                    if pivot == head.number {
                        return vec![self.probe(peer, head, None)];
                    }
                    return vec![self.request(
                        peer,
                        BlockId::Number(pivot),
                        1,
                        Purpose::Pivot { head },
                    )];
                }
                if pivot > self.announced {
                    self.announced = pivot;
                    return vec![self.request(peer, BlockId::Number(pivot), 1, Purpose::Moved)];
                }
                Vec::new()
            }
            Purpose::Pivot { head } => match target_of(reply) {
                Some(pivot) if self.started.is_none() => vec![self.probe(peer, pivot, Some(head))],
                _ => Vec::new(),
            },
            Purpose::Moved => target_of(reply).map(PivotAction::Move).into_iter().collect(),
        }
    }

    /// The reply to probe `id`: a peer serving the root sends an account or a proof.
    pub fn on_probe(
        &mut self,
        peer: PeerId,
        id: u64,
        reply: Option<&SnapMessage>,
    ) -> Vec<PivotAction> {
        let Some((candidate, fallback)) = self.probes.remove(&id) else { return Vec::new() };
        let served = matches!(reply, Some(SnapMessage::AccountRange(range))
            if !range.accounts.is_empty() || !range.proof.is_empty());
        if self.started.is_some() {
            return Vec::new();
        }
        if served {
            self.started = Some(candidate);
            self.announced = candidate.number;
            return vec![PivotAction::Start(candidate)];
        }
        match fallback {
            Some(head) => vec![self.probe(peer, head, None)],
            None => {
                // The next follow tick tries the newest head again.
                vec![PivotAction::Unserved(candidate)]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_consensus::Header;
    use snap_core::wire::{AccountData, AccountRange};
    use snap_tokio_adapter::eth::ReceivedHeader;

    use super::*;

    const PEER: PeerId = PeerId(1);

    fn root(number: u64) -> B256 {
        B256::with_last_byte(number as u8) | B256::left_padding_from(&number.to_be_bytes())
    }

    fn target(number: u64) -> Target {
        Target { root: root(number), number }
    }

    fn reply(request_id: u64, numbers: impl IntoIterator<Item = u64>) -> BlockHeaders {
        let headers = numbers
            .into_iter()
            .map(|number| {
                let header = Header { number, state_root: root(number), ..Header::default() };
                ReceivedHeader { hash: header.hash_slow(), header }
            })
            .collect();
        BlockHeaders { request_id, headers }
    }

    /// The single header request among `actions`: its id and request.
    fn headers(actions: &[PivotAction]) -> (u64, GetBlockHeaders) {
        match actions {
            [PivotAction::Headers(PEER, request)] => (request.request_id, *request),
            other => panic!("expected one header request, got {other:?}"),
        }
    }

    fn probe(actions: &[PivotAction]) -> (u64, B256) {
        match actions {
            [PivotAction::Probe(PEER, SnapMessage::GetAccountRange(request))] => {
                (request.request_id, request.root)
            }
            other => panic!("expected one probe, got {other:?}"),
        }
    }

    fn served(request_id: u64) -> SnapMessage {
        SnapMessage::AccountRange(AccountRange {
            request_id,
            accounts: vec![AccountData { hash: B256::ZERO, account: Default::default() }],
            proof: vec![],
        })
    }

    fn unserved(request_id: u64) -> SnapMessage {
        SnapMessage::AccountRange(AccountRange { request_id, accounts: vec![], proof: vec![] })
    }

    #[test]
    fn pivot_is_head_minus_offset_when_served_and_follows_the_chain() {
        let mut pivot = Pivot::new(TargetChoice::Peers { offset: 64 }, None);
        let head_hash = B256::repeat_byte(7);
        let (id, request) = headers(&pivot.on_ready(PEER, head_hash));
        assert_eq!(request.start, BlockId::Hash(head_hash));
        let (id, request) = headers(&pivot.on_headers(PEER, id, Some(&reply(id, [1000]))));
        assert_eq!(request.start, BlockId::Number(936));
        let (probe_id, probed) = probe(&pivot.on_headers(PEER, id, Some(&reply(id, [936]))));
        assert_eq!(probed, root(936));
        assert!(pivot.owns_probe(probe_id) && !pivot.owns_headers(probe_id));
        assert_eq!(
            pivot.on_probe(PEER, probe_id, Some(&served(probe_id))),
            vec![PivotAction::Start(target(936))]
        );
        assert_eq!(pivot.started(), Some(target(936)));

        // Following: newer headers past the best head move the pivot along.
        let (id, request) = headers(&pivot.on_follow_tick(&[PEER]));
        assert_eq!((request.start, request.limit), (BlockId::Number(1001), FOLLOW_HEADERS));
        let (id, request) = headers(&pivot.on_headers(PEER, id, Some(&reply(id, 1001..=1100))));
        assert_eq!(request.start, BlockId::Number(1036));
        assert_eq!(
            pivot.on_headers(PEER, id, Some(&reply(id, [1036]))),
            vec![PivotAction::Move(target(1036))]
        );
        // Nothing newer: nothing to do; a timed-out request changes nothing.
        let (id, _) = headers(&pivot.on_follow_tick(&[PEER]));
        assert!(pivot.on_headers(PEER, id, Some(&reply(id, []))).is_empty());
        let (id, _) = headers(&pivot.on_follow_tick(&[PEER]));
        assert!(pivot.on_headers(PEER, id, None).is_empty());
    }

    #[test]
    fn an_unserved_pivot_falls_back_to_the_head_and_short_chains_clamp_at_genesis() {
        let mut pivot = Pivot::new(TargetChoice::Peers { offset: 64 }, None);
        let (id, _) = headers(&pivot.on_ready(PEER, B256::repeat_byte(1)));
        // A 40-block chain: the pivot clamps at genesis.
        let (id, request) = headers(&pivot.on_headers(PEER, id, Some(&reply(id, [40]))));
        assert_eq!(request.start, BlockId::Number(0));
        let (probe_id, probed) = probe(&pivot.on_headers(PEER, id, Some(&reply(id, [0]))));
        assert_eq!(probed, root(0));
        // Genesis state not served (a node keeping only its head state): the head is probed.
        let (probe_id, probed) = probe(&pivot.on_probe(PEER, probe_id, Some(&unserved(probe_id))));
        assert_eq!(probed, root(40));
        // Not served either: reported, and the next follow tick asks for the head again.
        assert_eq!(pivot.on_probe(PEER, probe_id, None), vec![PivotAction::Unserved(target(40))]);
        assert_eq!(pivot.started(), None);
        let (id, request) = headers(&pivot.on_follow_tick(&[PEER]));
        assert_eq!(request.start, BlockId::Number(40));
        let (id, _) = headers(&pivot.on_headers(PEER, id, Some(&reply(id, [40]))));
        let (probe_id, _) = probe(&pivot.on_headers(PEER, id, Some(&reply(id, [0]))));
        let (probe_id, _) = probe(&pivot.on_probe(PEER, probe_id, Some(&unserved(probe_id))));
        assert_eq!(
            pivot.on_probe(PEER, probe_id, Some(&served(probe_id))),
            vec![PivotAction::Start(target(40))]
        );
    }

    #[test]
    fn fixed_roots_need_no_headers_and_block_hashes_one() {
        let fixed = B256::repeat_byte(9);
        let mut pivot = Pivot::new(TargetChoice::Root(fixed), None);
        assert_eq!(pivot.started(), Some(Target { root: fixed, number: 0 }));
        assert!(pivot.on_ready(PEER, B256::ZERO).is_empty());
        assert!(pivot.on_follow_tick(&[PEER]).is_empty());

        let hash = B256::repeat_byte(3);
        let mut pivot = Pivot::new(TargetChoice::BlockHash(hash), None);
        let (id, request) = headers(&pivot.on_ready(PEER, B256::ZERO));
        assert_eq!(request.start, BlockId::Hash(hash));
        assert_eq!(
            pivot.on_headers(PEER, id, Some(&reply(id, [77]))),
            vec![PivotAction::Start(target(77))]
        );

        // A resumed sync keeps its target whatever the choice.
        let pivot = Pivot::new(TargetChoice::Root(fixed), Some(target(5)));
        assert_eq!(pivot.started(), Some(target(5)));
    }
}
