//! Serving while syncing: what a syncing node answers its peers with.
//!
//! Until its state is complete and verified, a syncing node answers every snap request with
//! the empty reply ("unavailable", as geth does for state it does not hold) and header requests
//! from the trusted headers its pivot choice collected ([`HeldHeaders`]). Once the sync is done
//! and verified, the host hands it the finished store ([`LiveServer::serve_state`]) and the same
//! sessions are served the state from then on, without a restart or a reconnect.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use alloy_primitives::{B256, Bytes, keccak256};
use snap_core::{serve::ServeError, wire::SnapMessage};
use snap_tokio_adapter::{
    eth::{BlockId, GetBlockHeaders, MAX_HEADERS},
    server::{Server, empty_snap_response},
};

/// Trusted headers held by the syncing node, by number, as raw RLP: at most `capacity`, the
/// lowest numbers dropped first. A header that replaces the one held at its number (a reorg)
/// drops every held header above it, so the held headers stay one branch.
#[derive(Debug)]
pub struct HeldHeaders {
    inner: Mutex<Held>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Held {
    by_number: BTreeMap<u64, (B256, Bytes)>,
    by_hash: HashMap<B256, u64>,
}

impl Held {
    fn remove_from(&mut self, number: u64) {
        for (_, (hash, _)) in self.by_number.split_off(&number) {
            self.by_hash.remove(&hash);
        }
    }
}

/// Headers a syncing node holds by default (about 0.6 MiB of RLP).
pub const HELD_HEADERS: usize = 1024;

impl HeldHeaders {
    /// At most `capacity` headers (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { inner: Mutex::new(Held::default()), capacity: capacity.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // A panic elsewhere while holding the lock leaves consistent maps (every change is
        // made whole before the guard drops), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `raw`, the RLP of the trusted header `number` with hash `hash`. Bytes that do not
    /// hash to `hash` are not held (the caller's bookkeeping is wrong, not the peer's).
    pub fn hold(&self, number: u64, hash: B256, raw: Bytes) -> bool {
        if keccak256(&raw) != hash {
            return false;
        }
        let mut held = self.lock();
        match held.by_number.get(&number) {
            Some((held_hash, _)) if *held_hash == hash => return true,
            // Another header at this number: the trusted chain reorganised.
            Some(_) => held.remove_from(number),
            None => {}
        }
        held.by_number.insert(number, (hash, raw));
        held.by_hash.insert(hash, number);
        while held.by_number.len() > self.capacity {
            let Some((_, (hash, _))) = held.by_number.pop_first() else { break };
            held.by_hash.remove(&hash);
        }
        true
    }

    /// Headers held.
    pub fn len(&self) -> usize {
        self.lock().by_number.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw headers answering `request`, up to the first one not held.
    pub fn serve(&self, request: &GetBlockHeaders) -> Vec<Bytes> {
        let held = self.lock();
        let first = match request.start {
            BlockId::Hash(hash) => held.by_hash.get(&hash).copied(),
            BlockId::Number(number) => Some(number),
        };
        let Some(first) = first else { return Vec::new() };
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX).min(MAX_HEADERS);
        let Some(stride) = request.skip.checked_add(1) else { return Vec::new() };
        let mut out = Vec::new();
        let mut number = first;
        while out.len() < limit {
            let Some((_, raw)) = held.by_number.get(&number) else { break };
            out.push(raw.clone());
            let next = if request.reverse {
                number.checked_sub(stride)
            } else {
                number.checked_add(stride)
            };
            let Some(next) = next else { break };
            number = next;
        }
        out
    }
}

/// Headers received from peers and not yet trusted, by hash, so the ones the pivot choice
/// comes to trust can be held as they were sent: at most `capacity`, the oldest dropped first.
#[derive(Debug)]
pub struct RecentHeaders {
    raw: HashMap<B256, (u64, Bytes)>,
    order: VecDeque<B256>,
    capacity: usize,
}

impl RecentHeaders {
    /// At most `capacity` headers (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { raw: HashMap::new(), order: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// A peer sent header `number` with hash `hash` as `raw`.
    pub fn received(&mut self, number: u64, hash: B256, raw: Bytes) {
        if self.raw.contains_key(&hash) {
            return;
        }
        while self.raw.len() >= self.capacity {
            let Some(old) = self.order.pop_front() else { break };
            self.raw.remove(&old);
        }
        self.raw.insert(hash, (number, raw));
        self.order.push_back(hash);
    }

    /// The header with hash `hash`, if it was received lately: its number and RLP.
    pub fn get(&self, hash: &B256) -> Option<&(u64, Bytes)> {
        self.raw.get(hash)
    }

    /// Headers remembered.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// The server of a syncing node: empty snap replies and held headers until
/// [`serve_state`](Self::serve_state) hands it a complete state, then that state.
#[derive(Debug)]
pub struct LiveServer {
    headers: Arc<HeldHeaders>,
    state: RwLock<Option<Arc<dyn Server>>>,
}

impl LiveServer {
    /// A server answering headers from `headers` and no state yet.
    pub fn new(headers: Arc<HeldHeaders>) -> Self {
        Self { headers, state: RwLock::new(None) }
    }

    /// From now on snap requests are answered by `state` (a complete, verified state).
    pub fn serve_state(&self, state: Arc<dyn Server>) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Some(state);
    }

    /// Whether a complete state is being served.
    pub fn serves_state(&self) -> bool {
        self.state.read().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// The headers held.
    pub fn headers(&self) -> &Arc<HeldHeaders> {
        &self.headers
    }
}

impl Server for LiveServer {
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner).clone();
        match state {
            Some(state) => state.snap(request),
            None => empty_snap_response(request).ok_or(ServeError::NotARequest(request.id())),
        }
    }

    fn headers(&self, request: &GetBlockHeaders) -> Vec<Bytes> {
        self.headers.serve(request)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A header-like RLP blob for `number` on branch `branch`.
    fn raw(number: u64, branch: u8) -> (B256, Bytes) {
        let bytes = Bytes::from(alloy_rlp::encode(vec![number, u64::from(branch)]));
        (keccak256(&bytes), bytes)
    }

    fn request(start: BlockId, limit: u64, skip: u64, reverse: bool) -> GetBlockHeaders {
        GetBlockHeaders { request_id: 1, start, limit, skip, reverse }
    }

    proptest! {
        /// Whatever is held and asked, a reply is the held headers along the request's walk,
        /// stopping at the first one missing, never longer than asked or than MAX_HEADERS.
        #[test]
        fn replies_follow_the_request_walk(
            numbers in proptest::collection::btree_set(0u64..200, 0..120),
            start in 0u64..220,
            limit in 0u64..300,
            skip in 0u64..5,
            reverse: bool,
        ) {
            let held = HeldHeaders::new(1024);
            for &n in &numbers {
                let (hash, bytes) = raw(n, 0);
                prop_assert!(held.hold(n, hash, bytes));
            }
            let reply = held.serve(&request(BlockId::Number(start), limit, skip, reverse));
            let mut expected = Vec::new();
            let mut n = Some(start);
            while let Some(number) = n {
                if expected.len() as u64 >= limit || !numbers.contains(&number) {
                    break;
                }
                expected.push(raw(number, 0).1);
                n = if reverse { number.checked_sub(skip + 1) } else { number.checked_add(skip + 1) };
            }
            prop_assert_eq!(reply, expected);
        }
    }

    #[test]
    fn a_reorg_drops_the_old_branch_above_it_and_capacity_drops_the_lowest() {
        let held = HeldHeaders::new(4);
        for n in 10..14 {
            let (hash, bytes) = raw(n, 0);
            held.hold(n, hash, bytes);
        }
        let (old12, _) = raw(12, 0);
        let (new12, bytes) = raw(12, 1);
        assert!(held.hold(12, new12, bytes));
        // 13 was on the old branch; 12 is the new one's.
        assert_eq!(held.len(), 3);
        assert!(held.serve(&request(BlockId::Hash(old12), 1, 0, false)).is_empty());
        assert_eq!(held.serve(&request(BlockId::Hash(new12), 5, 0, false)).len(), 1);
        assert_eq!(held.serve(&request(BlockId::Number(10), 5, 0, false)).len(), 3);
        for n in 13..16 {
            let (hash, bytes) = raw(n, 1);
            held.hold(n, hash, bytes);
        }
        assert_eq!(held.len(), 4);
        assert!(held.serve(&request(BlockId::Number(11), 1, 0, false)).is_empty());
    }

    #[test]
    fn recent_headers_stay_within_capacity_dropping_the_oldest() {
        let mut recent = RecentHeaders::new(3);
        for n in 0..5 {
            let (hash, bytes) = raw(n, 0);
            recent.received(n, hash, bytes.clone());
            // A repeat changes nothing.
            recent.received(n, hash, bytes);
        }
        assert_eq!(recent.len(), 3);
        assert!(recent.get(&raw(1, 0).0).is_none());
        assert_eq!(recent.get(&raw(4, 0).0).map(|(n, _)| *n), Some(4));
    }

    #[test]
    fn bytes_that_do_not_hash_to_the_trusted_hash_are_not_held() {
        let held = HeldHeaders::new(4);
        let (hash, _) = raw(1, 0);
        let (_, other) = raw(1, 1);
        assert!(!held.hold(1, hash, other));
        assert!(held.is_empty());
    }

    #[test]
    fn snap_requests_get_empty_replies_until_a_state_is_served() {
        use snap_core::wire::GetByteCodes;
        let server = LiveServer::new(Arc::new(HeldHeaders::new(4)));
        let ask = SnapMessage::GetByteCodes(GetByteCodes {
            request_id: 7,
            hashes: vec![B256::ZERO],
            response_bytes: 1000,
        });
        assert!(matches!(server.snap(&ask), Ok(SnapMessage::ByteCodes(r)) if r.codes.is_empty()));
        /// Answers every code request with one code.
        #[derive(Debug)]
        struct OneCode;
        impl Server for OneCode {
            fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
                Ok(SnapMessage::ByteCodes(snap_core::wire::ByteCodes {
                    request_id: request.request_id(),
                    codes: vec![Bytes::from_static(b"code")],
                }))
            }
            fn headers(&self, _: &GetBlockHeaders) -> Vec<Bytes> {
                Vec::new()
            }
        }
        server.serve_state(Arc::new(OneCode));
        assert!(server.serves_state());
        assert!(matches!(server.snap(&ask), Ok(SnapMessage::ByteCodes(r)) if r.codes.len() == 1));
    }
}
