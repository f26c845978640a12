//! What the consensus client tells the node: each forkchoice update as an anchor (head, safe and
//! finalized hashes, with the headers of those blocks when their payloads were delivered), and
//! the headers of recently delivered payloads.
//!
//! Memory is bounded whatever the consensus client sends: the anchor channel is a
//! [`tokio::sync::watch`] (it holds one value; a slow reader skips to the newest, never queues),
//! and the delivered headers are a fixed-size cache ([`PAYLOAD_CACHE`] entries, oldest evicted).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use alloy_primitives::B256;
use snap_core::sync::Header;
use tokio::sync::watch;

/// How many delivered payload headers are kept (about 25 minutes of 12 s slots: the head and,
/// once the chain finalizes normally, the finalized block two epochs back are both in it).
pub const PAYLOAD_CACHE: usize = 128;

/// A block header the consensus client delivered with `engine_newPayload`, its block hash
/// recomputed from the payload's fields (and the sidecar's beacon root and requests) and found
/// equal to the one the payload claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadHeader {
    /// Number, hash, parent hash, state root (and BAL hash, for payloads that carry one: none of
    /// the `engine_newPayloadV1..V4` payloads does).
    pub header: Header,
    /// The block's timestamp (seconds since the epoch).
    pub timestamp: u64,
}

/// One forkchoice update from the consensus client: the chain it follows, as trusted anchors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkchoiceAnchor {
    /// Which update this is: 1 for the first, then one more for each (a reader that skipped
    /// updates sees a gap; one that sees the same number again is looking at the same update,
    /// perhaps with a header filled in since).
    pub seq: u64,
    /// The head block's hash.
    pub head: B256,
    /// The safe block's hash (`None`: the consensus client sent the zero hash).
    pub safe: Option<B256>,
    /// The finalized block's hash (`None`: the zero hash, nothing finalized yet).
    pub finalized: Option<B256>,
    /// When the update arrived.
    pub received_at: Instant,
    /// The head's header, when its payload was delivered (before or after the update).
    pub head_header: Option<PayloadHeader>,
    /// The safe block's header, when its payload was delivered.
    pub safe_header: Option<PayloadHeader>,
    /// The finalized block's header, when its payload was delivered.
    pub finalized_header: Option<PayloadHeader>,
}

impl ForkchoiceAnchor {
    /// Fills the headers this anchor lacks from `cache`; says whether any was filled.
    fn fill(&mut self, cache: &PayloadCache) -> bool {
        let mut filled = false;
        let mut fill = |slot: &mut Option<PayloadHeader>, hash: Option<B256>| {
            if slot.is_none()
                && let Some(header) = hash.and_then(|hash| cache.get(hash))
            {
                *slot = Some(header);
                filled = true;
            }
        };
        fill(&mut self.head_header, Some(self.head));
        fill(&mut self.safe_header, self.safe);
        fill(&mut self.finalized_header, self.finalized);
        filled
    }
}

/// The last [`PAYLOAD_CACHE`] delivered headers by hash.
#[derive(Debug, Default)]
struct PayloadCache {
    order: VecDeque<B256>,
    by_hash: HashMap<B256, PayloadHeader>,
}

impl PayloadCache {
    fn get(&self, hash: B256) -> Option<PayloadHeader> {
        self.by_hash.get(&hash).copied()
    }

    fn insert(&mut self, header: PayloadHeader) {
        let hash = header.header.hash;
        if self.by_hash.insert(hash, header).is_some() {
            return;
        }
        self.order.push_back(hash);
        while self.order.len() > PAYLOAD_CACHE {
            if let Some(old) = self.order.pop_front() {
                self.by_hash.remove(&old);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Book {
    payloads: PayloadCache,
    updates: u64,
}

/// The server's side: records payloads and forkchoice updates, publishes anchors.
#[derive(Debug)]
pub(crate) struct AnchorPublisher {
    book: Arc<Mutex<Book>>,
    sender: watch::Sender<Option<ForkchoiceAnchor>>,
}

impl AnchorPublisher {
    /// A publisher and the receiver the node reads anchors from.
    pub(crate) fn new() -> (Self, AnchorReceiver) {
        let book = Arc::new(Mutex::new(Book::default()));
        let (sender, receiver) = watch::channel(None);
        (Self { book: book.clone(), sender }, AnchorReceiver { receiver, book })
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a delivered (hash-checked) payload header; when the current anchor names it and
    /// lacked its header, republishes the anchor with it.
    pub(crate) fn payload(&self, header: PayloadHeader) {
        let mut book = self.book();
        book.payloads.insert(header);
        self.sender.send_if_modified(|anchor| match anchor {
            Some(anchor) => anchor.fill(&book.payloads),
            None => false,
        });
    }

    /// The number of the latest anchor's head, when its payload was delivered.
    pub(crate) fn latest_head_number(&self) -> Option<u64> {
        self.sender.borrow().and_then(|anchor| anchor.head_header).map(|h| h.header.number)
    }

    /// Publishes a forkchoice update (`head` non-zero) and returns it.
    pub(crate) fn forkchoice(
        &self,
        head: B256,
        safe: B256,
        finalized: B256,
        received_at: Instant,
    ) -> ForkchoiceAnchor {
        let nonzero = |hash: B256| (!hash.is_zero()).then_some(hash);
        let mut book = self.book();
        book.updates += 1;
        let mut anchor = ForkchoiceAnchor {
            seq: book.updates,
            head,
            safe: nonzero(safe),
            finalized: nonzero(finalized),
            received_at,
            head_header: None,
            safe_header: None,
            finalized_header: None,
        };
        anchor.fill(&book.payloads);
        // Sent under the lock, so anchors are published in `seq` order.
        self.sender.send_replace(Some(anchor));
        anchor
    }
}

/// The node's side of the Engine API: the latest forkchoice anchor and the delivered headers.
///
/// Cloneable; each clone tracks separately which anchor it has seen. Holds one anchor however
/// fast the consensus client sends them: [`next`](Self::next) returns the newest, skipping those
/// that were replaced before it was called.
#[derive(Clone, Debug)]
pub struct AnchorReceiver {
    receiver: watch::Receiver<Option<ForkchoiceAnchor>>,
    book: Arc<Mutex<Book>>,
}

impl AnchorReceiver {
    /// The latest anchor, if the consensus client has sent a forkchoice update yet.
    pub fn latest(&self) -> Option<ForkchoiceAnchor> {
        *self.receiver.borrow()
    }

    /// Waits for an anchor this receiver has not returned yet (a new update, or the current one
    /// with a header filled in) and returns it; `None` once the server is gone.
    pub async fn next(&mut self) -> Option<ForkchoiceAnchor> {
        loop {
            self.receiver.changed().await.ok()?;
            if let Some(anchor) = *self.receiver.borrow_and_update() {
                return Some(anchor);
            }
        }
    }

    /// The header of a recently delivered payload (one of the last [`PAYLOAD_CACHE`]).
    pub fn payload_header(&self, hash: B256) -> Option<PayloadHeader> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner).payloads.get(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u64) -> B256 {
        alloy_primitives::keccak256(n.to_be_bytes())
    }

    fn header(n: u64) -> PayloadHeader {
        PayloadHeader {
            header: Header {
                number: n,
                hash: hash(n),
                parent_hash: hash(n.wrapping_sub(1)),
                state_root: hash(n + 1_000_000),
                bal_hash: None,
            },
            timestamp: n * 12,
        }
    }

    #[test]
    fn the_cache_keeps_the_newest_payloads_only() {
        let mut cache = PayloadCache::default();
        for n in 0..(PAYLOAD_CACHE as u64 + 40) {
            cache.insert(header(n));
            cache.insert(header(n)); // a repeat changes nothing
        }
        assert_eq!(cache.order.len(), PAYLOAD_CACHE);
        assert_eq!(cache.by_hash.len(), PAYLOAD_CACHE);
        assert_eq!(cache.get(header(39).header.hash), None);
        assert_eq!(cache.get(header(40).header.hash), Some(header(40)));
    }

    #[tokio::test]
    async fn a_reader_sees_the_latest_update_and_headers_delivered_later() {
        let (publisher, mut receiver) = AnchorPublisher::new();
        assert_eq!(receiver.latest(), None);
        let now = Instant::now();
        publisher.payload(header(5));
        for n in 1..=5u64 {
            publisher.forkchoice(header(n).header.hash, B256::ZERO, header(1).header.hash, now);
        }
        let anchor = receiver.next().await.unwrap();
        assert_eq!(anchor.seq, 5, "the reader skips to the newest");
        assert_eq!(anchor.head_header, Some(header(5)));
        assert_eq!(anchor.safe, None);
        assert_eq!(anchor.finalized, Some(header(1).header.hash));
        assert_eq!(anchor.finalized_header, None);

        // The finalized block's payload arrives afterwards: the same update, now with it.
        publisher.payload(header(1));
        let filled = receiver.next().await.unwrap();
        assert_eq!((filled.seq, filled.finalized_header), (5, Some(header(1))));
        // A payload nobody names republishes nothing.
        publisher.payload(header(9));
        assert!(!receiver.receiver.has_changed().unwrap());
        assert_eq!(receiver.payload_header(header(9).header.hash), Some(header(9)));
        drop(publisher);
        assert_eq!(receiver.next().await, None);
    }
}
