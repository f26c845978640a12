//! Splitting the 2^256 hash space into ranges: account tasks, and the chunks of a large storage
//! trie sized by the density of what was already fetched.

use alloy_primitives::{B256, U256, U512};

/// An inclusive range of 32-byte hashes, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HashRange {
    /// First hash of the range (inclusive).
    pub first: B256,
    /// Last hash of the range (inclusive).
    pub last: B256,
}

impl HashRange {
    /// The whole key space, `0x00..00..=0xff..ff`.
    pub const FULL: Self = Self { first: B256::ZERO, last: B256::repeat_byte(0xff) };

    /// Whether `hash` lies in the range.
    pub fn contains(&self, hash: &B256) -> bool {
        self.first <= *hash && *hash <= self.last
    }

    /// Splits `first..=MAX` into `count` consecutive ranges of equal width (the last one may be
    /// narrower), rounding the width up so the ranges always reach the end of the key space.
    ///
    /// A `count` of zero is treated as one. Never yields more ranges than there are hashes left.
    pub fn split_from(first: B256, count: usize) -> Vec<Self> {
        let start = U256::from_be_bytes(first.0);
        // Hashes from `start` to MAX inclusive: MAX - start + 1, which overflows only for start 0.
        let remaining = U256::MAX - start;
        let count = U256::from(count.max(1));
        let count = count.min(remaining.saturating_add(U256::from(1)));
        // ceil(hashes / count) = (hashes - 1) / count + 1, and hashes - 1 = remaining: no overflow.
        let step = remaining / count + U256::from(1);
        let mut ranges = Vec::new();
        let mut next = start;
        loop {
            let last = next.saturating_add(step - U256::from(1));
            ranges.push(Self { first: B256::from(next), last: B256::from(last) });
            if last == U256::MAX {
                return ranges;
            }
            next = last + U256::from(1);
        }
    }
}

/// The hash right after `hash`, or `None` for the maximum hash.
pub(crate) fn next_hash(hash: &B256) -> Option<B256> {
    U256::from_be_bytes(hash.0).checked_add(U256::from(1)).map(B256::from)
}

/// The width of `first..=last` as a fraction of the whole key space.
pub(crate) fn fraction_of_space(first: &B256, last: &B256) -> f64 {
    let first = U256::from_be_bytes(first.0);
    let last = U256::from_be_bytes(last.0);
    let width: f64 = last.saturating_sub(first).into();
    width / 2f64.powi(256)
}

/// Estimates how many keys lie after `last_key`, given that `fetched` keys were found in
/// `0..=last_key`, assuming keys (hashes) are spread uniformly.
///
/// Returns `None` when no estimate can be made: `last_key` is zero, or the estimate does not fit
/// in a `u64`.
pub(crate) fn estimate_remaining(fetched: u64, last_key: &B256) -> Option<u64> {
    let last = U256::from_be_bytes(last_key.0);
    if last.is_zero() {
        return None;
    }
    // fetched * MAX / last - fetched, with a 512-bit intermediate so nothing overflows.
    let total = U512::from(fetched) * U512::from(U256::MAX) / U512::from(last);
    let remaining = total - U512::from(fetched);
    u64::try_from(remaining).ok()
}

/// Plans the chunks for the rest of a large storage trie: the range after `last_key` split into
/// as many chunks as the estimated remaining keys justify, at most `max_chunks`, with each chunk
/// expected to hold at least `min_keys_per_chunk` keys. Without an estimate, `max_chunks` chunks.
///
/// Returns no chunks when `last_key` is the maximum hash.
pub(crate) fn plan_chunks(
    fetched: u64,
    last_key: &B256,
    max_chunks: usize,
    min_keys_per_chunk: u64,
) -> Vec<HashRange> {
    let Some(first) = next_hash(last_key) else { return Vec::new() };
    let chunks = match estimate_remaining(fetched, last_key) {
        Some(estimate) => {
            let wanted = estimate / min_keys_per_chunk.max(1) + 1;
            usize::try_from(wanted).unwrap_or(usize::MAX).min(max_chunks)
        }
        None => max_chunks,
    };
    HashRange::split_from(first, chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hash(hex: &str) -> B256 {
        hex.parse().unwrap()
    }

    #[test]
    fn sixteen_account_tasks_cover_the_space_by_first_nibble() {
        let ranges = HashRange::split_from(B256::ZERO, 16);
        assert_eq!(ranges.len(), 16);
        for (i, range) in ranges.iter().enumerate() {
            let mut first = [0u8; 32];
            first[0] = (i as u8) << 4;
            let mut last = [0xffu8; 32];
            last[0] = ((i as u8) << 4) | 0x0f;
            assert_eq!(range.first, B256::from(first));
            assert_eq!(range.last, B256::from(last));
        }
    }

    #[test]
    fn tail_of_the_space_rounds_up() {
        // 16 hashes left (..f0 to ..ff) in 3 chunks: widths 6, 6, 4.
        let first = hash("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0");
        let ranges = HashRange::split_from(first, 3);
        let lasts: Vec<u8> = ranges.iter().map(|r| r.last.0[31]).collect();
        assert_eq!(lasts, vec![0xf5, 0xfb, 0xff]);
    }

    #[test]
    fn more_chunks_than_hashes_gives_one_range_per_hash() {
        let first = hash("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffd");
        let ranges = HashRange::split_from(first, 16);
        assert_eq!(ranges.len(), 3);
        assert!(ranges.iter().all(|r| r.first == r.last));
    }

    #[test]
    fn remaining_estimates_follow_density() {
        let half = hash("0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
        assert_eq!(estimate_remaining(100, &half), Some(100));
        let sixteenth = hash("0x0fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
        assert_eq!(estimate_remaining(100, &sixteenth), Some(1500));
        let sixteenth_up =
            hash("0x1000000000000000000000000000000000000000000000000000000000000000");
        assert_eq!(estimate_remaining(100, &sixteenth_up), Some(1499));
        let fifteen_sixteenths =
            hash("0xf000000000000000000000000000000000000000000000000000000000000000");
        assert_eq!(estimate_remaining(100, &fifteen_sixteenths), Some(6));
        assert_eq!(
            estimate_remaining(
                1,
                &hash("0x0000000000000000000000000000000000000000000000000000000000000001")
            ),
            None
        );
        assert_eq!(estimate_remaining(100, &B256::ZERO), None);
        assert_eq!(estimate_remaining(u64::MAX, &sixteenth), None, "overflow gives no estimate");
    }

    #[test]
    fn chunk_plan_is_sized_by_density() {
        let sixteenth = hash("0x0fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
        // 1500 keys expected; at least 500 per chunk -> 4 chunks (1500/500 + 1).
        let plan = plan_chunks(100, &sixteenth, 16, 500);
        assert_eq!(plan.len(), 4);
        assert_eq!(plan[0].first, next_hash(&sixteenth).unwrap());
        // Dense storage is capped at max_chunks; the end of the space yields nothing.
        assert_eq!(plan_chunks(1_000_000, &sixteenth, 16, 500).len(), 16);
        assert!(plan_chunks(5, &HashRange::FULL.last, 16, 1).is_empty());
    }

    proptest! {
        #[test]
        fn split_ranges_are_consecutive_and_cover_the_rest(first in any::<[u8; 32]>(), count in 0usize..40) {
            let first = B256::from(first);
            let ranges = HashRange::split_from(first, count);
            prop_assert!(!ranges.is_empty() && ranges.len() <= count.max(1));
            prop_assert_eq!(ranges[0].first, first);
            prop_assert_eq!(ranges.last().unwrap().last, HashRange::FULL.last);
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].first <= pair[0].last);
                prop_assert_eq!(next_hash(&pair[0].last), Some(pair[1].first));
            }
            // Equal widths except the last, which is never wider.
            let width = |r: &HashRange| U256::from_be_bytes(r.last.0) - U256::from_be_bytes(r.first.0);
            if ranges.len() > 1 {
                let w0 = width(&ranges[0]);
                prop_assert!(ranges[..ranges.len() - 1].iter().all(|r| width(r) == w0));
                prop_assert!(width(ranges.last().unwrap()) <= w0);
            }
        }
    }
}
