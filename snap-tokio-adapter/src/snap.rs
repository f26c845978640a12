//! The `snap` sub-protocol on a connection: version negotiation and the per-connection
//! tracker that admits a response only if it answers an outstanding request of the right
//! kind and is no larger than that request allows, checked **before** decoding.
//!
//! The tracker keeps no clock: request timeouts belong to whoever asked (the core's
//! `Syncer`), which forgives late answers. When the tracker is full, its oldest request (one
//! its owner has given up on) is forgotten; an answer to a request forgotten recently is
//! dropped quietly, never counted against the peer. Memory stays bounded by the in-flight
//! limit and the size of the forgotten ring.

use std::collections::{HashMap, VecDeque};

use alloy_primitives::Bytes;

use snap_core::wire::{DecodeError, Limits, MessageId, SnapMessage, SnapVersion};

use crate::eth::request_id_of;

/// Slack a response may take beyond its request's byte budget: servers send at least one
/// item however small the budget (a contract code, a trie node, a block access list) and
/// add proofs on top of it (at most 128 nodes).
pub const RESPONSE_SLACK: u64 = 512 * 1024;

/// Slack a `BlockAccessLists` reply may take beyond its request's byte budget. geth and reth
/// add lists until the budget is passed, so their replies exceed it by up to one whole list
/// (ours never exceed it but by a first list larger than the budget). A block's list is bounded
/// by its gas: about 1 to 2 MiB at a 60M gas limit; this leaves room for limits a few times
/// higher. The message bound ([`Limits::max_message_bytes`]) still applies on top.
pub const BAL_RESPONSE_SLACK: u64 = 4 * 1024 * 1024;

/// The snap version for a capability version number.
pub const fn snap_version(number: u32) -> Option<SnapVersion> {
    match number {
        1 => Some(SnapVersion::V1),
        2 => Some(SnapVersion::V2),
        _ => None,
    }
}

/// Why a snap message from the peer is refused; each means the peer is dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// We already have a request with this id in flight.
    #[error("request id {0} is already in flight")]
    Collision(u64),
    /// A request message given where a response was expected (or vice versa).
    #[error("message {0:?} is not of the expected direction")]
    WrongDirection(MessageId),
    /// A message id this version does not have.
    #[error("message id {0:#x} is not a snap message of the negotiated version")]
    UnknownMessage(u8),
    /// A response without readable request id.
    #[error("response without a request id")]
    NoRequestId,
    /// A response no outstanding or recently forgotten request asked for.
    #[error("unsolicited response {kind:?} with id {request_id}")]
    Unsolicited {
        /// The response's id.
        request_id: u64,
        /// Its message kind.
        kind: MessageId,
    },
    /// A response of another kind than its request's.
    #[error("response {got:?} to a request expecting {expected:?}")]
    WrongKind {
        /// Expected response kind.
        expected: MessageId,
        /// Received kind.
        got: MessageId,
    },
    /// A response larger than its request allows.
    #[error("response of {len} bytes exceeds its request's bound of {max}")]
    Oversized {
        /// Response size.
        len: usize,
        /// Bound.
        max: usize,
    },
    /// More items than were asked for.
    #[error("{got} items for a request of {max}")]
    TooManyItems {
        /// Items received.
        got: usize,
        /// Items asked.
        max: usize,
    },
    /// The response does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// What the tracker remembers of a request in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRequest {
    /// The response kind that must answer it.
    pub response: MessageId,
    /// The largest acceptable response, in bytes.
    pub max_bytes: usize,
    /// The most items (codes, nodes, slot lists, access lists) the response may carry.
    pub max_items: usize,
}

/// Request ids remembered after they were forgotten, so that late answers to them are
/// dropped quietly.
pub const FORGOTTEN_RING: usize = 1024;

/// What became of a response the tracker was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// It answers an outstanding request: decoded and checked.
    Response(SnapMessage),
    /// It answers a request forgotten recently: dropped without decoding.
    Late(u64),
}

/// The snap requests in flight on one connection.
#[derive(Clone, Debug)]
pub struct SnapTracker {
    version: SnapVersion,
    limits: Limits,
    max_in_flight: usize,
    in_flight: HashMap<u64, PendingRequest>,
    /// Ids in flight, oldest first.
    order: VecDeque<u64>,
    /// Ids forgotten, oldest first (at most [`FORGOTTEN_RING`]).
    forgotten: VecDeque<u64>,
}

impl SnapTracker {
    /// An empty tracker for the negotiated `version`.
    pub fn new(version: SnapVersion, limits: Limits, max_in_flight: usize) -> Self {
        Self {
            version,
            limits,
            max_in_flight: max_in_flight.max(1),
            in_flight: HashMap::new(),
            order: VecDeque::new(),
            forgotten: VecDeque::new(),
        }
    }

    /// The negotiated version.
    pub const fn version(&self) -> SnapVersion {
        self.version
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Records an outgoing request. When the tracker is full, the oldest request is forgotten
    /// to make room (its owner, which keeps fewer requests in flight than the tracker holds,
    /// has given up on it).
    pub fn track(&mut self, request: &SnapMessage) -> Result<(), TrackError> {
        let id = request.id();
        let response = id.response().ok_or(TrackError::WrongDirection(id))?;
        if !self.version.supports(id) {
            return Err(TrackError::UnknownMessage(id as u8));
        }
        let request_id = request.request_id();
        if self.in_flight.contains_key(&request_id) {
            return Err(TrackError::Collision(request_id));
        }
        let mut slack = RESPONSE_SLACK;
        let (budget, max_items) = match request {
            SnapMessage::GetAccountRange(r) => (r.response_bytes, usize::MAX),
            SnapMessage::GetStorageRanges(r) => {
                (r.response_bytes.saturating_add(r.response_bytes / 8), r.account_hashes.len())
            }
            SnapMessage::GetByteCodes(r) => (r.response_bytes, r.hashes.len()),
            SnapMessage::GetTrieNodes(r) => (
                r.response_bytes,
                r.paths.iter().map(|set| set.0.len().saturating_sub(1).max(1)).sum(),
            ),
            SnapMessage::GetBlockAccessLists(r) => {
                slack = BAL_RESPONSE_SLACK;
                (r.response_bytes, r.block_hashes.len())
            }
            _ => return Err(TrackError::WrongDirection(id)),
        };
        let max_bytes = usize::try_from(budget.saturating_add(slack))
            .unwrap_or(usize::MAX)
            .min(self.limits.max_message_bytes);
        while self.in_flight.len() >= self.max_in_flight {
            let Some(oldest) = self.order.front().copied() else { break };
            self.forget(oldest);
        }
        self.in_flight.insert(request_id, PendingRequest { response, max_bytes, max_items });
        self.order.push_back(request_id);
        Ok(())
    }

    /// Forgets a request its owner gave up on; a late answer to it is dropped quietly.
    pub fn forget(&mut self, request_id: u64) {
        if self.in_flight.remove(&request_id).is_none() {
            return;
        }
        self.order.retain(|id| *id != request_id);
        if self.forgotten.len() >= FORGOTTEN_RING {
            self.forgotten.pop_front();
        }
        self.forgotten.push_back(request_id);
    }

    /// Admits and decodes a response (`relative_id` after the capability offset). Kind,
    /// request id and size are checked before decoding; the item count after. An answer to a
    /// request forgotten recently is [`Admitted::Late`], not decoded.
    pub fn on_response(&mut self, relative_id: u8, data: &Bytes) -> Result<Admitted, TrackError> {
        let kind = MessageId::from_u8(relative_id)
            .filter(|id| self.version.supports(*id))
            .ok_or(TrackError::UnknownMessage(relative_id))?;
        if kind.is_request() {
            return Err(TrackError::WrongDirection(kind));
        }
        let request_id = request_id_of(data).ok_or(TrackError::NoRequestId)?;
        let Some(pending) = self.in_flight.remove(&request_id) else {
            if let Some(at) = self.forgotten.iter().position(|id| *id == request_id) {
                self.forgotten.remove(at);
                return Ok(Admitted::Late(request_id));
            }
            return Err(TrackError::Unsolicited { request_id, kind });
        };
        self.order.retain(|id| *id != request_id);
        if pending.response != kind {
            return Err(TrackError::WrongKind { expected: pending.response, got: kind });
        }
        if data.len() > pending.max_bytes {
            return Err(TrackError::Oversized { len: data.len(), max: pending.max_bytes });
        }
        let message = SnapMessage::decode_shared(self.version, relative_id, data, &self.limits)?;
        let items = match &message {
            SnapMessage::StorageRanges(m) => m.slots.len(),
            SnapMessage::ByteCodes(m) => m.codes.len(),
            SnapMessage::TrieNodes(m) => m.nodes.len(),
            SnapMessage::BlockAccessLists(m) => m.access_lists.len(),
            _ => 0,
        };
        if items > pending.max_items {
            return Err(TrackError::TooManyItems { got: items, max: pending.max_items });
        }
        Ok(Admitted::Response(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;
    use snap_core::wire::{ByteCodes, GetAccountRange, GetByteCodes, TrieNodes};

    fn codes_request(id: u64, hashes: usize, bytes: u64) -> SnapMessage {
        SnapMessage::GetByteCodes(GetByteCodes {
            request_id: id,
            hashes: vec![B256::repeat_byte(1); hashes],
            response_bytes: bytes,
        })
    }

    fn codes_response(id: u64, codes: Vec<Bytes>) -> Vec<u8> {
        SnapMessage::ByteCodes(ByteCodes { request_id: id, codes }).to_vec()
    }

    #[test]
    fn responses_must_match_an_outstanding_request_of_their_kind() {
        let mut tracker = SnapTracker::new(SnapVersion::V1, Limits::default(), 8);
        tracker.track(&codes_request(5, 2, 1000)).expect("tracked");
        assert_eq!(tracker.track(&codes_request(5, 1, 1)), Err(TrackError::Collision(5)));
        // Unknown id: unsolicited, and the outstanding request is untouched.
        assert_eq!(
            tracker.on_response(0x05, &Bytes::from(codes_response(6, vec![]))),
            Err(TrackError::Unsolicited { request_id: 6, kind: MessageId::ByteCodes })
        );
        assert_eq!(tracker.len(), 1);
        // Right id, wrong kind.
        let nodes = SnapMessage::TrieNodes(TrieNodes { request_id: 5, nodes: vec![] }).to_vec();
        assert_eq!(
            tracker.on_response(0x07, &Bytes::from(nodes)),
            Err(TrackError::WrongKind {
                expected: MessageId::ByteCodes,
                got: MessageId::TrieNodes
            })
        );
        // A request id is answered once.
        tracker.track(&codes_request(7, 2, 1000)).expect("tracked");
        let reply = codes_response(7, vec![Bytes::from_static(b"code")]);
        assert!(matches!(
            tracker.on_response(0x05, &Bytes::from(reply.clone())),
            Ok(Admitted::Response(SnapMessage::ByteCodes(_)))
        ));
        assert!(matches!(
            tracker.on_response(0x05, &Bytes::from(reply.clone())),
            Err(TrackError::Unsolicited { .. })
        ));
        // Requests are not responses.
        assert_eq!(
            tracker.on_response(0x04, &Bytes::from(reply.clone())),
            Err(TrackError::WrongDirection(MessageId::GetByteCodes))
        );
        // snap/2 messages do not exist on snap/1.
        assert_eq!(
            tracker.on_response(0x09, &Bytes::from(reply)),
            Err(TrackError::UnknownMessage(9))
        );
    }

    #[test]
    fn oversized_responses_are_refused_before_decoding() {
        let mut tracker = SnapTracker::new(SnapVersion::V1, Limits::default(), 8);
        tracker.track(&codes_request(1, 1, 100)).expect("tracked");
        // Garbage after a valid request id and list header: refused on size, not on decoding.
        let max = 100 + RESPONSE_SLACK as usize;
        let mut oversized = vec![0xfa];
        oversized.extend(u32::try_from(max + 10).expect("fits").to_be_bytes()[1..].iter());
        oversized.push(0x01);
        oversized.resize(max + 14, 0xff);
        assert_eq!(
            tracker.on_response(0x05, &Bytes::from(oversized.clone())),
            Err(TrackError::Oversized { len: max + 14, max })
        );
        tracker.track(&codes_request(2, 1, 100)).expect("tracked");
        let two = codes_response(2, vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        assert_eq!(
            tracker.on_response(0x05, &Bytes::from(two)),
            Err(TrackError::TooManyItems { got: 2, max: 1 })
        );
    }

    #[test]
    fn access_list_replies_may_pass_their_budget_by_one_list_and_no_more() {
        use snap_core::wire::{BlockAccessLists, GetBlockAccessLists};
        let budget = 2 * 1024 * 1024;
        let request = |id| {
            SnapMessage::GetBlockAccessLists(GetBlockAccessLists {
                request_id: id,
                block_hashes: vec![B256::repeat_byte(1), B256::repeat_byte(2)],
                response_bytes: budget,
            })
        };
        // One RLP list of `len` payload bytes, as a BAL entry is carried.
        let list = |len: usize| {
            let mut bal = Vec::with_capacity(len + 4);
            alloy_rlp::Header { list: true, payload_length: len }.encode(&mut bal);
            bal.resize(bal.len() + len, 0x80);
            Bytes::from(bal)
        };
        let reply = |id, access_lists| {
            SnapMessage::BlockAccessLists(BlockAccessLists { request_id: id, access_lists })
                .to_vec()
        };
        let mut tracker = SnapTracker::new(SnapVersion::V2, Limits::default(), 8);
        // geth's and reth's way: a list under the budget, then one that crosses it by 3 MiB.
        tracker.track(&request(1)).expect("tracked");
        let crossing = reply(1, vec![list(1024 * 1024), list(3 * 1024 * 1024)]);
        assert!(crossing.len() as u64 > budget + RESPONSE_SLACK);
        assert!(matches!(
            tracker.on_response(0x09, &Bytes::from(crossing)),
            Ok(Admitted::Response(_))
        ));
        // Past the budget plus the slack: refused on size, before decoding.
        tracker.track(&request(2)).expect("tracked");
        let max = (budget + BAL_RESPONSE_SLACK) as usize;
        let huge = reply(2, vec![list(max)]);
        assert_eq!(
            tracker.on_response(0x09, &Bytes::from(huge.clone())),
            Err(TrackError::Oversized { len: huge.len(), max })
        );
        // More entries than blocks asked.
        tracker.track(&request(3)).expect("tracked");
        let three = reply(3, vec![list(1), Bytes::new(), list(1)]);
        assert_eq!(
            tracker.on_response(0x09, &Bytes::from(three)),
            Err(TrackError::TooManyItems { got: 3, max: 2 })
        );
        // Access lists do not exist on snap/1.
        let mut v1 = SnapTracker::new(SnapVersion::V1, Limits::default(), 8);
        assert_eq!(v1.track(&request(4)), Err(TrackError::UnknownMessage(0x08)));
    }

    #[test]
    fn a_full_tracker_forgets_its_oldest_request_and_drops_late_answers_quietly() {
        let mut tracker = SnapTracker::new(SnapVersion::V2, Limits::default(), 2);
        let account_request = |id| {
            SnapMessage::GetAccountRange(GetAccountRange {
                request_id: id,
                root: B256::ZERO,
                origin: B256::ZERO,
                limit: B256::repeat_byte(0xff),
                response_bytes: 1000,
            })
        };
        tracker.track(&account_request(1)).expect("tracked");
        tracker.track(&account_request(2)).expect("tracked");
        // Full: request 1, the oldest, is forgotten to make room.
        tracker.track(&account_request(3)).expect("tracked");
        assert_eq!(tracker.len(), 2);
        let reply = |id| {
            SnapMessage::AccountRange(snap_core::wire::AccountRange {
                request_id: id,
                accounts: vec![],
                proof: vec![],
            })
            .to_vec()
            .into()
        };
        // Its late answer is dropped quietly, once; a second copy is unsolicited.
        assert_eq!(tracker.on_response(0x01, &reply(1)), Ok(Admitted::Late(1)));
        assert!(matches!(
            tracker.on_response(0x01, &reply(1)),
            Err(TrackError::Unsolicited { request_id: 1, .. })
        ));
        // The owner may forget a request itself.
        tracker.forget(2);
        assert_eq!(tracker.on_response(0x01, &reply(2)), Ok(Admitted::Late(2)));
        assert!(matches!(tracker.on_response(0x01, &reply(3)), Ok(Admitted::Response(_))));
        assert!(tracker.is_empty());
        // The forgotten ring is bounded.
        for id in 10..10 + FORGOTTEN_RING as u64 + 5 {
            tracker.track(&account_request(id)).expect("tracked");
            tracker.forget(id);
        }
        assert_eq!(tracker.forgotten.len(), FORGOTTEN_RING);
        assert!(matches!(
            tracker.on_response(0x01, &reply(10)),
            Err(TrackError::Unsolicited { .. })
        ));
    }
}
