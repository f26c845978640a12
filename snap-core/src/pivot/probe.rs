//! Probing a candidate target: does a peer serve its state? A `GetAccountRange` from the zero
//! hash must come back with accounts and a proof that verify against the candidate's root.

use alloy_primitives::B256;

use crate::{
    trie::proof::verify_range,
    wire::{AccountRange, GetAccountRange},
};

/// What a probe reply shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probed {
    /// The peer serves the state: its accounts verify against the root.
    Served,
    /// The peer answered empty: it does not serve this state (not a violation).
    Unserved,
    /// The reply does not verify against the root: a violation.
    Invalid,
}

/// The probe for `root`: the first accounts, within `bytes`.
pub(crate) fn probe_request(request_id: u64, root: B256, bytes: u64) -> GetAccountRange {
    GetAccountRange {
        request_id,
        root,
        origin: B256::ZERO,
        limit: B256::repeat_byte(0xff),
        response_bytes: bytes,
    }
}

/// Checks a probe reply against `root`.
pub(crate) fn verify_probe(root: B256, reply: &AccountRange) -> Probed {
    if reply.accounts.is_empty() && reply.proof.is_empty() {
        return Probed::Unserved;
    }
    let keys: Vec<B256> = reply.accounts.iter().map(|a| a.hash).collect();
    let values: Vec<Vec<u8>> =
        reply.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
    match verify_range(root, B256::ZERO, &keys, &values, &reply.proof) {
        Ok(_) => Probed::Served,
        Err(_) => Probed::Invalid,
    }
}
