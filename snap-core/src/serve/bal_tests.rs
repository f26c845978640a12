//! Property tests of `GetBlockAccessLists` serving: the reply is a prefix of the positional
//! answer, bounded by the entry cap and the clamped byte budget (the first entry excepted),
//! and as long as those bounds allow.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes};
use proptest::prelude::*;

use super::*;
use crate::wire::{GetBlockAccessLists, SnapMessage};

/// Bytes an entry takes in the reply's list: the list itself, or `0x80` when unavailable.
fn entry_bytes(bal: &Bytes) -> u64 {
    bal.len().max(1) as u64
}

proptest! {
    #[test]
    fn replies_are_bounded_prefixes_of_the_positional_answer(
        sizes in proptest::collection::vec(proptest::option::of(1usize..4_000), 0..80),
        budget in 0u64..40_000,
        soft in 1u64..40_000,
        max_lookups in 1usize..64,
    ) {
        // Block i has a list of sizes[i] bytes (None: not stored).
        let hash = |i: usize| B256::from(alloy_primitives::U256::from(i + 1).to_be_bytes::<32>());
        let bals: BTreeMap<B256, Bytes> = sizes
            .iter()
            .enumerate()
            .filter_map(|(i, size)| size.map(|n| (hash(i), Bytes::from(vec![0xc0; n]))))
            .collect();
        let request = GetBlockAccessLists {
            request_id: 5,
            block_hashes: (0..sizes.len()).map(hash).collect(),
            response_bytes: budget,
        };
        let limits = ServeLimits {
            soft_response_limit: soft,
            max_access_list_lookups: max_lookups,
            ..ServeLimits::default()
        };
        let reply = block_access_lists(&request, &bals, &limits);
        prop_assert_eq!(reply.request_id, 5);
        let full: Vec<Bytes> = request
            .block_hashes
            .iter()
            .map(|h| bals.get(h).cloned().unwrap_or_default())
            .collect();
        let n = reply.access_lists.len();
        // Positional: a prefix of the full answer, truncated from the tail only.
        prop_assert_eq!(&reply.access_lists[..], &full[..n]);
        // Entry cap, and at least one entry for a non-empty request.
        prop_assert!(n <= max_lookups);
        prop_assert_eq!(n == 0, full.is_empty());
        // Byte bound: the clamped budget, or the first entry alone when that is larger.
        let clamped = budget.min(soft);
        let used: u64 = reply.access_lists.iter().map(entry_bytes).sum();
        let first = reply.access_lists.first().map_or(0, entry_bytes);
        prop_assert!(used <= clamped.max(first), "{} bytes for a budget of {}", used, clamped);
        // As long as allowed: a shorter reply stopped at the cap or because the next entry
        // would not fit.
        if n < full.len() && n < max_lookups {
            prop_assert!(used + entry_bytes(&full[n]) > clamped);
        }
        // Encoded, the reply stays within the bound plus the message's own framing (two list
        // headers and the request id, each at most 9 bytes): entries go in as they are.
        let wire = SnapMessage::BlockAccessLists(reply).to_vec();
        prop_assert!(wire.len() as u64 <= clamped.max(first) + 27);
    }
}
