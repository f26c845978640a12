//! proptest strategies for every snap message.

use alloy_primitives::{B256, Bytes, U256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use proptest::{collection::vec, prelude::*};

use crate::wire::{
    AccountData, AccountRange, BlockAccessLists, ByteCodes, GetAccountRange, GetBlockAccessLists,
    GetByteCodes, GetStorageRanges, GetTrieNodes, SnapMessage, StorageRanges, StorageSlot,
    TrieNodePathSet, TrieNodes,
};

pub(crate) fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}

/// Integers of every encoded width, small ones (single-byte forms) included.
pub(crate) fn int() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..=0x80, any::<u64>(), (0u32..64).prop_map(|s| 1u64 << s)]
}

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        Just(U256::ZERO),
        (0u64..300).prop_map(U256::from),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
        any::<u128>().prop_map(U256::from),
    ]
}

pub(crate) fn account() -> impl Strategy<Value = TrieAccount> {
    (
        int(),
        u256(),
        prop_oneof![Just(EMPTY_ROOT_HASH), b256()],
        prop_oneof![Just(KECCAK_EMPTY), b256()],
    )
        .prop_map(|(n, b, r, c)| TrieAccount::new(n, b, r, c))
}

/// Byte strings including the empty one and single bytes below 0x80.
pub(crate) fn blob(max: usize) -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Bytes::new()),
        (0u8..=0xff).prop_map(|b| Bytes::from(vec![b])),
        vec(any::<u8>(), 0..max).prop_map(Bytes::from),
    ]
}

fn sorted_hashes(max: usize) -> impl Strategy<Value = Vec<B256>> {
    proptest::collection::btree_set(b256(), 0..max).prop_map(|s| s.into_iter().collect())
}

fn proof() -> impl Strategy<Value = Vec<Bytes>> {
    vec(blob(120), 0..8)
}

pub(crate) fn get_account_range() -> impl Strategy<Value = GetAccountRange> {
    (int(), b256(), b256(), b256(), int()).prop_map(|(request_id, root, origin, limit, bytes)| {
        GetAccountRange { request_id, root, origin, limit, response_bytes: bytes }
    })
}

pub(crate) fn account_range() -> impl Strategy<Value = AccountRange> {
    (int(), sorted_hashes(12), vec(account(), 12), proof()).prop_map(
        |(request_id, hashes, accounts, proof)| AccountRange {
            request_id,
            accounts: hashes
                .into_iter()
                .zip(accounts)
                .map(|(hash, account)| AccountData { hash, account })
                .collect(),
            proof,
        },
    )
}

pub(crate) fn get_storage_ranges() -> impl Strategy<Value = GetStorageRanges> {
    (int(), b256(), vec(b256(), 0..6), vec(any::<u8>(), 0..=32), vec(any::<u8>(), 0..=32), int())
        .prop_map(|(request_id, root, account_hashes, origin, limit, bytes)| GetStorageRanges {
            request_id,
            root,
            account_hashes,
            origin: origin.into(),
            limit: limit.into(),
            response_bytes: bytes,
        })
}

fn slot_list() -> impl Strategy<Value = Vec<StorageSlot>> {
    (sorted_hashes(8), vec(blob(34), 8)).prop_map(|(hashes, values)| {
        hashes.into_iter().zip(values).map(|(hash, value)| StorageSlot { hash, value }).collect()
    })
}

pub(crate) fn storage_ranges() -> impl Strategy<Value = StorageRanges> {
    (int(), vec(slot_list(), 0..5), proof()).prop_map(|(request_id, slots, proof)| StorageRanges {
        request_id,
        slots,
        proof,
    })
}

pub(crate) fn get_byte_codes() -> impl Strategy<Value = GetByteCodes> {
    (int(), vec(b256(), 0..8), int()).prop_map(|(request_id, hashes, bytes)| GetByteCodes {
        request_id,
        hashes,
        response_bytes: bytes,
    })
}

pub(crate) fn byte_codes() -> impl Strategy<Value = ByteCodes> {
    (int(), vec(blob(200), 0..6)).prop_map(|(request_id, codes)| ByteCodes { request_id, codes })
}

pub(crate) fn get_trie_nodes() -> impl Strategy<Value = GetTrieNodes> {
    (int(), b256(), vec(vec(blob(40), 0..4).prop_map(TrieNodePathSet), 0..5), int()).prop_map(
        |(request_id, root, paths, bytes)| GetTrieNodes {
            request_id,
            root,
            paths,
            response_bytes: bytes,
        },
    )
}

pub(crate) fn trie_nodes() -> impl Strategy<Value = TrieNodes> {
    (int(), vec(blob(120), 0..6)).prop_map(|(request_id, nodes)| TrieNodes { request_id, nodes })
}

pub(crate) fn get_block_access_lists() -> impl Strategy<Value = GetBlockAccessLists> {
    (int(), vec(b256(), 0..6), int()).prop_map(|(request_id, block_hashes, bytes)| {
        GetBlockAccessLists { request_id, block_hashes, response_bytes: bytes }
    })
}

/// A raw BAL: any RLP list (its contents do not matter to the codec), or empty (unavailable).
fn raw_bal() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Bytes::new()),
        vec(blob(70), 0..5).prop_map(|items| Bytes::from(alloy_rlp::encode(items))),
    ]
}

pub(crate) fn block_access_lists() -> impl Strategy<Value = BlockAccessLists> {
    (int(), vec(raw_bal(), 0..5))
        .prop_map(|(request_id, access_lists)| BlockAccessLists { request_id, access_lists })
}

/// Any message.
pub(crate) fn message() -> impl Strategy<Value = SnapMessage> {
    prop_oneof![
        get_account_range().prop_map(SnapMessage::GetAccountRange),
        account_range().prop_map(SnapMessage::AccountRange),
        get_storage_ranges().prop_map(SnapMessage::GetStorageRanges),
        storage_ranges().prop_map(SnapMessage::StorageRanges),
        get_byte_codes().prop_map(SnapMessage::GetByteCodes),
        byte_codes().prop_map(SnapMessage::ByteCodes),
        get_trie_nodes().prop_map(SnapMessage::GetTrieNodes),
        trie_nodes().prop_map(SnapMessage::TrieNodes),
        get_block_access_lists().prop_map(SnapMessage::GetBlockAccessLists),
        block_access_lists().prop_map(SnapMessage::BlockAccessLists),
    ]
}
