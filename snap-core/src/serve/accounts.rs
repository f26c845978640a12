//! Serving `GetAccountRange`.

use super::{
    ServeLimits,
    requests::append_proof,
    view::{StateError, StateView},
};
use crate::wire::{self, AccountData, AccountRange, GetAccountRange};

/// Answers `GetAccountRange`.
///
/// Accounts are taken in hash order from the origin. Each one is appended and its size
/// (32 bytes of hash plus its slim body) counted **before** the limits are checked, so at least
/// one account goes out when one exists at or after the origin, and the first account at or
/// past the request's limit is included and ends the reply. The proof of the origin is always
/// attached (also for a zero origin and a reply covering the whole trie, as geth does), plus
/// the proof of the last account returned. An unavailable root or a failed read gives an empty
/// reply.
pub fn account_range<S: StateView + ?Sized>(
    request: &GetAccountRange,
    state: &S,
    limits: &ServeLimits,
) -> AccountRange {
    let mut reply = collect_accounts(request, state, limits).unwrap_or_default();
    reply.request_id = request.request_id;
    reply
}

fn collect_accounts<S: StateView + ?Sized>(
    request: &GetAccountRange,
    state: &S,
    limits: &ServeLimits,
) -> Result<AccountRange, StateError> {
    let root = &request.root;
    if !state.has_root(root) {
        return Err(StateError::UnknownRoot(*root));
    }
    let budget = limits.clamp(request.response_bytes);
    let mut accounts = Vec::new();
    let mut size: u64 = 0;
    for (hash, account) in state.accounts(root, &request.origin)? {
        size = size.saturating_add(32 + wire::slim_account_len(&account) as u64);
        accounts.push(AccountData { hash, account });
        if hash >= request.limit || size > budget {
            break;
        }
    }
    let mut proof = state.prove(root, None, &request.origin)?;
    if let Some(last) = accounts.last() {
        append_proof(&mut proof, state.prove(root, None, &last.hash)?);
    }
    Ok(AccountRange { request_id: request.request_id, accounts, proof })
}
