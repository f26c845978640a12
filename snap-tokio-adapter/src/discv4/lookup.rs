//! One iterative Kademlia lookup: ask the closest known nodes for nodes closer to a target,
//! `ALPHA` at a time, until the closest `BUCKET_SIZE` have all been asked.

use alloy_primitives::{B256, B512, keccak256};

use super::{table::BUCKET_SIZE, wire::NodeRecord};
use crate::rlpx::NodeId;

/// FindNode requests in flight per lookup.
pub const ALPHA: usize = 3;

/// A lookup in progress.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// The FindNode target.
    pub target: B512,
    target_hash: B256,
    /// The closest nodes seen, closest first, with whether each was asked.
    closest: Vec<(B256, NodeRecord, bool)>,
    /// Requests in flight.
    pub in_flight: usize,
}

impl Lookup {
    /// A lookup for `target`, seeded with the table's closest nodes.
    pub fn new(target: B512, seeds: impl IntoIterator<Item = NodeRecord>) -> Self {
        let mut lookup =
            Self { target, target_hash: keccak256(target), closest: Vec::new(), in_flight: 0 };
        for seed in seeds {
            lookup.offer(seed);
        }
        lookup
    }

    /// Considers a node found; kept if among the closest `BUCKET_SIZE`.
    pub fn offer(&mut self, record: NodeRecord) {
        if self.closest.iter().any(|(_, r, _)| r.id == record.id) {
            return;
        }
        let distance = keccak256(record.id) ^ self.target_hash;
        let position = self.closest.partition_point(|(d, _, _)| *d < distance);
        if position >= BUCKET_SIZE {
            return;
        }
        self.closest.insert(position, (distance, record, false));
        self.closest.truncate(BUCKET_SIZE);
    }

    /// The next node to ask, marked asked; `None` when `ALPHA` are in flight or none is left.
    pub fn next_to_ask(&mut self) -> Option<NodeRecord> {
        if self.in_flight >= ALPHA {
            return None;
        }
        let (_, record, asked) = self.closest.iter_mut().find(|(_, _, asked)| !*asked)?;
        *asked = true;
        self.in_flight += 1;
        Some(*record)
    }

    /// A request of this lookup ended (answered or timed out).
    pub fn request_done(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Whether nothing is in flight and every close node was asked.
    pub fn is_done(&self) -> bool {
        self.in_flight == 0 && self.closest.iter().all(|(_, _, asked)| *asked)
    }

    /// Whether `id` is among the nodes this lookup asked.
    pub fn asked(&self, id: &NodeId) -> bool {
        self.closest.iter().any(|(_, r, asked)| *asked && r.id == *id)
    }
}
