//! The Kademlia table: nodes whose endpoint answered our Ping, in buckets by the log distance
//! between keccak256 hashes of node ids, each bucket bounded with a bounded replacement list.

use std::{net::IpAddr, time::Instant};

use alloy_primitives::{B256, keccak256};

use super::wire::NodeRecord;
use crate::rlpx::NodeId;

/// Nodes per bucket (Kademlia's k, as geth).
pub const BUCKET_SIZE: usize = 16;
/// Replacements kept per bucket.
pub const MAX_REPLACEMENTS: usize = 10;
/// Buckets: the closest distances share the first one, as geth (most are always empty).
pub const BUCKETS: usize = 17;
/// Log distances at or below this land in bucket 0.
const BUCKET_MIN_DISTANCE: usize = 256 - BUCKETS;
/// Nodes of one /24 (IPv4) or /64 (IPv6) per bucket, except on loopback and LANs.
pub const MAX_PER_SUBNET_IN_BUCKET: usize = 2;

/// A node in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableEntry {
    /// The node.
    pub record: NodeRecord,
    /// keccak256 of its id.
    pub hash: B256,
    /// When its endpoint last answered.
    pub last_seen: Instant,
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    /// Most recently seen first.
    entries: Vec<TableEntry>,
    /// Most recent first.
    replacements: Vec<TableEntry>,
}

/// What [`Table::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// A new entry.
    Added,
    /// An existing entry, moved to the front with its new endpoint.
    Updated,
    /// The bucket is full: kept as a replacement.
    Replacement,
    /// Our own id, or too many of its subnet in the bucket.
    Refused,
}

/// The log distance between two hashes: 256 minus the leading zero bits of their xor.
pub fn log_distance(a: &B256, b: &B256) -> usize {
    let mut zeros = 0;
    for (x, y) in a.iter().zip(b.iter()) {
        let byte = x ^ y;
        if byte == 0 {
            zeros += 8;
        } else {
            zeros += byte.leading_zeros() as usize;
            break;
        }
    }
    256 - zeros
}

/// Whether `ip` is loopback or a private/link-local LAN address (where subnet limits do not
/// apply, and whose addresses only a LAN peer may relay).
pub fn is_lan(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn subnet(ip: &IpAddr) -> [u8; 8] {
    let mut key = [0u8; 8];
    match ip {
        IpAddr::V4(v4) => key[..3].copy_from_slice(&v4.octets()[..3]),
        IpAddr::V6(v6) => key.copy_from_slice(&v6.octets()[..8]),
    }
    key
}

/// The table. Holds at most `BUCKETS * (BUCKET_SIZE + MAX_REPLACEMENTS)` nodes.
#[derive(Clone, Debug)]
pub struct Table {
    local: B256,
    buckets: Vec<Bucket>,
}

impl Table {
    /// An empty table around `local`.
    pub fn new(local: &NodeId) -> Self {
        Self { local: keccak256(local), buckets: vec![Bucket::default(); BUCKETS] }
    }

    fn bucket_index(&self, hash: &B256) -> usize {
        log_distance(&self.local, hash).saturating_sub(BUCKET_MIN_DISTANCE + 1)
    }

    /// Nodes in the buckets (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Whether no node is in the buckets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nodes in the replacement lists.
    pub fn replacements(&self) -> usize {
        self.buckets.iter().map(|b| b.replacements.len()).sum()
    }

    /// The entry of `id`, if in a bucket.
    pub fn get(&self, id: &NodeId) -> Option<&TableEntry> {
        let hash = keccak256(id);
        self.buckets[self.bucket_index(&hash)].entries.iter().find(|e| e.record.id == *id)
    }

    /// Every node in the buckets.
    pub fn iter(&self) -> impl Iterator<Item = &TableEntry> {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// Adds or refreshes a node whose endpoint just answered.
    pub fn insert(&mut self, record: NodeRecord, now: Instant) -> Inserted {
        let hash = keccak256(record.id);
        if hash == self.local {
            return Inserted::Refused;
        }
        let index = self.bucket_index(&hash);
        let bucket = &mut self.buckets[index];
        let entry = TableEntry { record, hash, last_seen: now };
        if let Some(position) = bucket.entries.iter().position(|e| e.record.id == record.id) {
            bucket.entries.remove(position);
            bucket.entries.insert(0, entry);
            return Inserted::Updated;
        }
        if let Some(ip) = record.endpoint.ip.filter(|ip| !is_lan(ip)) {
            let same = bucket
                .entries
                .iter()
                .filter(|e| e.record.endpoint.ip.is_some_and(|other| subnet(&other) == subnet(&ip)))
                .count();
            if same >= MAX_PER_SUBNET_IN_BUCKET {
                return Inserted::Refused;
            }
        }
        if bucket.entries.len() < BUCKET_SIZE {
            bucket.replacements.retain(|e| e.record.id != record.id);
            bucket.entries.insert(0, entry);
            return Inserted::Added;
        }
        bucket.replacements.retain(|e| e.record.id != record.id);
        bucket.replacements.insert(0, entry);
        bucket.replacements.truncate(MAX_REPLACEMENTS);
        Inserted::Replacement
    }

    /// Removes a node that failed its liveness check; the freshest replacement takes its
    /// place. Returns the replacement promoted, if any.
    pub fn remove(&mut self, id: &NodeId) -> Option<NodeRecord> {
        let hash = keccak256(id);
        let index = self.bucket_index(&hash);
        let bucket = &mut self.buckets[index];
        let position = bucket.entries.iter().position(|e| e.record.id == *id)?;
        bucket.entries.remove(position);
        if bucket.replacements.is_empty() {
            return None;
        }
        let promoted = bucket.replacements.remove(0);
        bucket.entries.push(promoted);
        Some(promoted.record)
    }

    /// The least recently seen node of the `pick`-th non-empty bucket (modulo their count):
    /// the next one to check for liveness.
    pub fn stalest(&self, pick: usize) -> Option<NodeRecord> {
        let filled: Vec<&Bucket> = self.buckets.iter().filter(|b| !b.entries.is_empty()).collect();
        if filled.is_empty() {
            return None;
        }
        filled[pick % filled.len()].entries.last().map(|e| e.record)
    }

    /// The `count` nodes closest to `target` (a keccak256 hash), closest first.
    pub fn closest(&self, target: &B256, count: usize) -> Vec<NodeRecord> {
        let mut all: Vec<(B256, NodeRecord)> =
            self.iter().map(|e| (e.hash ^ *target, e.record)).collect();
        all.sort_unstable_by_key(|(distance, _)| *distance);
        all.into_iter().take(count).map(|(_, record)| record).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use alloy_primitives::B512;
    use proptest::prelude::*;

    use super::*;
    use crate::discv4::wire::Endpoint;

    fn record(id: B512, addr: SocketAddr) -> NodeRecord {
        NodeRecord {
            endpoint: Endpoint { ip: Some(addr.ip()), udp: addr.port(), tcp: addr.port() },
            id,
        }
    }

    fn id(seed: u64) -> B512 {
        let mut bytes = [0u8; 64];
        for (i, chunk) in bytes.chunks_mut(32).enumerate() {
            chunk.copy_from_slice(
                keccak256([&seed.to_be_bytes()[..], &[i as u8]].concat()).as_slice(),
            );
        }
        B512::from(bytes)
    }

    #[test]
    fn log_distance_counts_differing_bits() {
        let zero = B256::ZERO;
        assert_eq!(log_distance(&zero, &zero), 0);
        let mut one = B256::ZERO;
        one[31] = 1;
        assert_eq!(log_distance(&zero, &one), 1);
        let mut top = B256::ZERO;
        top[0] = 0x80;
        assert_eq!(log_distance(&zero, &top), 256);
        top[0] = 0x01;
        assert_eq!(log_distance(&zero, &top), 249);
    }

    #[test]
    fn full_buckets_keep_replacements_and_promote_them() {
        let local = id(0);
        let mut table = Table::new(&local);
        let now = Instant::now();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        // Nodes at the largest distance (bucket 16) are half of all ids: fill it.
        let mut in_last = Vec::new();
        let mut seed = 1;
        while in_last.len() < BUCKET_SIZE + 3 {
            let candidate = id(seed);
            seed += 1;
            if table.bucket_index(&keccak256(candidate)) == BUCKETS - 1 {
                in_last.push(candidate);
            }
        }
        for (i, node) in in_last.iter().enumerate() {
            let want = if i < BUCKET_SIZE { Inserted::Added } else { Inserted::Replacement };
            assert_eq!(table.insert(record(*node, addr), now), want);
        }
        assert_eq!(table.insert(record(in_last[0], addr), now), Inserted::Updated);
        assert_eq!(table.replacements(), 3);
        // The stalest node of that bucket is the first one added after in_last[0] was moved.
        let stale = table.stalest(0).unwrap();
        assert_eq!(stale.id, in_last[1]);
        let promoted = table.remove(&stale.id).unwrap();
        assert_eq!(promoted.id, in_last[BUCKET_SIZE + 2], "the freshest replacement");
        assert!(table.get(&stale.id).is_none());
        assert_eq!(table.insert(record(local, addr), now), Inserted::Refused);
    }

    #[test]
    fn a_public_subnet_fills_at_most_two_places_per_bucket() {
        let mut table = Table::new(&id(0));
        let now = Instant::now();
        let mut added = 0;
        for seed in 1..200 {
            let addr = SocketAddr::from((Ipv4Addr::new(8, 8, 8, (seed % 250) as u8), 30303));
            if table.insert(record(id(seed), addr), now) == Inserted::Added {
                added += 1;
            }
        }
        assert!(added <= MAX_PER_SUBNET_IN_BUCKET * BUCKETS, "{added}");
        assert!(table.buckets.iter().all(|b| b.entries.len() <= MAX_PER_SUBNET_IN_BUCKET));
    }

    #[test]
    fn closest_orders_by_xor_distance() {
        let mut table = Table::new(&id(0));
        let now = Instant::now();
        let addr: SocketAddr = "10.0.0.1:1".parse().unwrap();
        for seed in 1..100 {
            table.insert(record(id(seed), addr), now);
        }
        let target = keccak256(b"target");
        let closest = table.closest(&target, 16);
        assert_eq!(closest.len(), 16.min(table.len()));
        let distances: Vec<B256> = closest.iter().map(|r| keccak256(r.id) ^ target).collect();
        assert!(distances.windows(2).all(|w| w[0] < w[1]));
        let worst = distances.last().unwrap();
        let better_left_out = table
            .iter()
            .filter(|e| !closest.contains(&e.record))
            .any(|e| (e.hash ^ target) < *worst);
        assert!(!better_left_out);
    }

    proptest! {
        /// Whatever nodes arrive, the table stays within its bounds.
        #[test]
        fn a_flood_of_nodes_stays_bounded(seeds in proptest::collection::vec(any::<u64>(), 1..3000)) {
            let mut table = Table::new(&id(0));
            let now = Instant::now();
            for seed in seeds {
                let addr = SocketAddr::from((Ipv4Addr::from(seed as u32), 30303));
                table.insert(record(id(seed), addr), now);
            }
            prop_assert!(table.len() <= BUCKETS * BUCKET_SIZE);
            prop_assert!(table.replacements() <= BUCKETS * MAX_REPLACEMENTS);
        }
    }
}
