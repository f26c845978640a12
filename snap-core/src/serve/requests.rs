//! Per-request serving functions for ranges, bytecodes and block access lists.

use alloy_primitives::{B256, Bytes};
use alloy_trie::KECCAK_EMPTY;

use super::{
    ServeLimits,
    view::{BalStore, StateError, StateView},
};
use crate::wire::{
    BlockAccessLists, ByteCodes, GetBlockAccessLists, GetByteCodes, GetStorageRanges,
    StorageRanges, StorageSlot,
};

/// Answers `GetStorageRanges`.
///
/// The first account's slots start at the request's origin and stop at the first slot at or
/// past its limit; later accounts are served whole. A list is cut once the reply exceeds the
/// byte budget plus [`ServeLimits::storage_slack_percent`], and no further account is opened
/// once the budget is used. Accounts with no slot in range contribute no list. A proof (of the
/// origin and of the last slot) is attached only when the origin is non-zero or the list was
/// cut (by the budget, or by the limit with slots following it), and a proven list ends the
/// reply. geth attaches no proof to a list cut by the limit from a zero origin, which leaves the
/// requester unable to verify it; we prove it.
///
/// The reply is empty when the root is unavailable, when any account it reaches does not exist
/// (the spec's rule; callers should ask only for existing accounts), when a read fails, or when
/// the origin or limit is longer than 32 bytes (a malformed bound is answered as unservable
/// rather than disconnected for). Shorter bounds are big-endian values, left-padded with zeros;
/// an empty origin is zero and an empty limit the maximum hash.
///
/// Unlike geth, at least one slot is returned even for a byte budget of zero, so that every
/// request for existing storage makes progress, and at most
/// [`ServeLimits::max_storage_lookups`] accounts are opened.
pub fn storage_ranges<S: StateView + ?Sized>(
    request: &GetStorageRanges,
    state: &S,
    limits: &ServeLimits,
) -> StorageRanges {
    let mut reply = collect_storage(request, state, limits).unwrap_or_default();
    reply.request_id = request.request_id;
    reply
}

fn collect_storage<S: StateView + ?Sized>(
    request: &GetStorageRanges,
    state: &S,
    limits: &ServeLimits,
) -> Result<StorageRanges, StateError> {
    let (Some(first_origin), Some(first_limit)) =
        (hash_bound(&request.origin, B256::ZERO), hash_bound(&request.limit, MAX_HASH))
    else {
        return Ok(StorageRanges::default());
    };
    let root = &request.root;
    if !state.has_root(root) {
        return Err(StateError::UnknownRoot(*root));
    }
    let budget = limits.clamp(request.response_bytes);
    let hard_budget =
        budget.saturating_add(budget.saturating_mul(limits.storage_slack_percent) / 100);
    let mut reply = StorageRanges::default();
    let mut size: u64 = 0;
    let mut served_any = false;
    for (index, account) in
        request.account_hashes.iter().enumerate().take(limits.max_storage_lookups)
    {
        if served_any && size >= budget {
            break;
        }
        let (origin, limit) =
            if index == 0 { (first_origin, first_limit) } else { (B256::ZERO, MAX_HASH) };
        let mut slots = Vec::new();
        let mut cut = false;
        let mut iter = state.storage(root, account, &origin)?;
        while let Some((hash, value)) = iter.next() {
            if served_any && size >= hard_budget {
                cut = true;
                break;
            }
            size = size.saturating_add(32 + value.len() as u64);
            served_any = true;
            slots.push(StorageSlot { hash, value });
            if hash >= limit {
                // Stopped by the limit: the list is partial if any slot follows.
                cut = iter.next().is_some();
                break;
            }
        }
        let last = slots.last().map(|slot| slot.hash);
        if !slots.is_empty() {
            reply.slots.push(slots);
        }
        if !origin.is_zero() || (cut && last.is_some()) {
            let mut proof = state.prove(root, Some(account), &origin)?;
            if let Some(last) = last {
                append_proof(&mut proof, state.prove(root, Some(account), &last)?);
            }
            reply.proof = proof;
            break;
        }
    }
    Ok(reply)
}

/// Answers `GetByteCodes`: codes in request order, unknown ones skipped, the empty-code hash
/// answered with an empty blob; at most [`ServeLimits::max_code_lookups`] hashes are looked up,
/// and the reply stops once its size exceeds the byte budget (so at least one code goes out).
pub fn byte_codes<S: StateView + ?Sized>(
    request: &GetByteCodes,
    state: &S,
    limits: &ServeLimits,
) -> ByteCodes {
    let budget = limits.clamp(request.response_bytes);
    let mut size: u64 = 0;
    let mut codes = Vec::new();
    for hash in request.hashes.iter().take(limits.max_code_lookups) {
        if *hash == KECCAK_EMPTY {
            codes.push(Bytes::new());
        } else if let Some(code) = state.code(hash) {
            size = size.saturating_add(code.len() as u64);
            codes.push(code);
        }
        if size > budget {
            break;
        }
    }
    ByteCodes { request_id: request.request_id, codes }
}

/// Answers snap/2 `GetBlockAccessLists` (EIP-8189): one entry per requested block in request
/// order, empty for a block whose list is not stored. The reply is a prefix of that answer,
/// truncated from the tail as the EIP allows: at most [`ServeLimits::max_access_list_lookups`]
/// entries, and an entry goes in only if the entries' bytes (an empty one counts its 1-byte
/// encoding) stay within the request's budget clamped to [`ServeLimits::soft_response_limit`],
/// except the first, which always goes in so that every request makes progress. A reply is
/// therefore never larger than the larger of the budget and its first list (plus framing).
pub fn block_access_lists<B: BalStore + ?Sized>(
    request: &GetBlockAccessLists,
    bals: &B,
    limits: &ServeLimits,
) -> BlockAccessLists {
    let budget = limits.clamp(request.response_bytes);
    let mut size: u64 = 0;
    let mut access_lists = Vec::new();
    for hash in request.block_hashes.iter().take(limits.max_access_list_lookups) {
        let bal = bals.block_access_list(hash).unwrap_or_default();
        let entry = bal.len().max(1) as u64;
        if !access_lists.is_empty() && size.saturating_add(entry) > budget {
            break;
        }
        size = size.saturating_add(entry);
        access_lists.push(bal);
    }
    BlockAccessLists { request_id: request.request_id, access_lists }
}

/// A range bound sent as a variable-length byte string: empty is `absent`, up to 32 bytes is a
/// big-endian value, anything longer is malformed (`None`).
pub(super) fn hash_bound(bytes: &[u8], absent: B256) -> Option<B256> {
    match bytes.len() {
        0 => Some(absent),
        len @ 1..=32 => {
            let mut hash = B256::ZERO;
            hash[32 - len..].copy_from_slice(bytes);
            Some(hash)
        }
        _ => None,
    }
}

/// Appends the nodes of `more` that `proof` does not hold yet.
pub(super) fn append_proof(proof: &mut Vec<Bytes>, more: Vec<Bytes>) {
    for node in more {
        if !proof.contains(&node) {
            proof.push(node);
        }
    }
}

/// The largest hash, `0xff..ff`: the end of every key space.
pub(super) const MAX_HASH: B256 = B256::repeat_byte(0xff);
