//! Messages encoded by hand from the spec layout and the RLP rules, byte for byte.

use alloy_primitives::{B256, Bytes};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;

use crate::wire::{
    AccountData, AccountRange, BlockAccessLists, GetAccountRange, GetStorageRanges, GetTrieNodes,
    Limits, SnapMessage, SnapVersion, StorageRanges, StorageSlot, TrieNodePathSet,
};

/// `hdr` followed by 32 copies of `byte`: a 32-byte string is `0xa0` then the bytes.
fn hash_bytes(byte: u8) -> Vec<u8> {
    let mut v = vec![0xa0];
    v.extend([byte; 32]);
    v
}

fn check(version: SnapVersion, msg: SnapMessage, expected: &[u8]) {
    let mut out = Vec::new();
    msg.encode(&mut out);
    assert_eq!(out, expected, "encoding of {msg:?}");
    assert_eq!(msg.encoded_len(), expected.len());
    let decoded = SnapMessage::decode(version, msg.id() as u8, expected, &Limits::default());
    assert_eq!(decoded, Ok(msg));
}

#[test]
fn get_account_range() {
    let msg = SnapMessage::GetAccountRange(GetAccountRange {
        request_id: 1,
        root: B256::repeat_byte(0x11),
        origin: B256::ZERO,
        limit: B256::repeat_byte(0xff),
        response_bytes: 512 * 1024,
    });
    // Payload: id 1 -> 0x01 (1 byte); three 33-byte hashes (99); 524288 = 0x080000 -> 0x83 08 00
    // 00 (4). 104 = 0x68 bytes >= 56, so the list header is the long form 0xf8 0x68.
    let mut expected = vec![0xf8, 0x68, 0x01];
    expected.extend(hash_bytes(0x11));
    expected.extend(hash_bytes(0x00));
    expected.extend(hash_bytes(0xff));
    expected.extend([0x83, 0x08, 0x00, 0x00]);
    check(SnapVersion::V1, msg, &expected);
}

#[test]
fn account_range_with_slim_accounts() {
    let contract = TrieAccount::new(
        0x80,
        Default::default(),
        B256::repeat_byte(0xaa),
        B256::repeat_byte(0xbb),
    );
    let msg = SnapMessage::AccountRange(AccountRange {
        request_id: 5,
        accounts: vec![
            AccountData {
                hash: B256::repeat_byte(0x66),
                account: TrieAccount::new(1, Default::default(), EMPTY_ROOT_HASH, KECCAK_EMPTY),
            },
            AccountData { hash: B256::repeat_byte(0x67), account: contract },
        ],
        proof: vec![Bytes::from_static(&[0x01, 0x02])],
    });
    // Account 1: slim body [0x01, 0x80, 0x80, 0x80] -> 0xc4 01 80 80 80 (5 bytes);
    //   pair [hash, body] payload 33 + 5 = 38 -> 0xe6 (39 bytes).
    // Account 2: nonce 0x80 -> 0x81 0x80 (2), balance 0 -> 0x80, root and code hash in full
    //   (33 + 33): body payload 69 -> 0xf8 0x45 (71 bytes); pair payload 33 + 71 = 104 -> 0xf8 0x68
    //   (106 bytes).
    // Accounts list payload 39 + 106 = 145 = 0x91 -> 0xf8 0x91 (147 bytes).
    // Proof [0x82 01 02] -> 0xc3 82 01 02 (4 bytes).
    // Message payload 1 + 147 + 4 = 152 = 0x98 -> 0xf8 0x98.
    let mut expected = vec![0xf8, 0x98, 0x05, 0xf8, 0x91, 0xe6];
    expected.extend(hash_bytes(0x66));
    expected.extend([0xc4, 0x01, 0x80, 0x80, 0x80]);
    expected.extend([0xf8, 0x68]);
    expected.extend(hash_bytes(0x67));
    expected.extend([0xf8, 0x45, 0x81, 0x80, 0x80]);
    expected.extend(hash_bytes(0xaa));
    expected.extend(hash_bytes(0xbb));
    expected.extend([0xc3, 0x82, 0x01, 0x02]);
    check(SnapVersion::V2, msg, &expected);
}

#[test]
fn get_storage_ranges_with_origin_and_limit_absent() {
    let msg = SnapMessage::GetStorageRanges(GetStorageRanges {
        request_id: 0x7f,
        root: B256::repeat_byte(0x22),
        account_hashes: vec![B256::repeat_byte(0x33)],
        origin: Bytes::new(),
        limit: Bytes::new(),
        response_bytes: 0x80,
    });
    // id 0x7f is its own single byte; root 33 bytes; accounts list 0xe1 + 33 bytes (34);
    // origin and limit absent -> 0x80 0x80; 0x80 needs a string header -> 0x81 0x80.
    // Payload 1 + 33 + 34 + 2 + 2 = 72 = 0x48 -> 0xf8 0x48.
    let mut expected = vec![0xf8, 0x48, 0x7f];
    expected.extend(hash_bytes(0x22));
    expected.push(0xe1);
    expected.extend(hash_bytes(0x33));
    expected.extend([0x80, 0x80, 0x81, 0x80]);
    check(SnapVersion::V1, msg, &expected);
}

#[test]
fn storage_ranges_one_slot_no_proof() {
    let msg = SnapMessage::StorageRanges(StorageRanges {
        request_id: 2,
        slots: vec![vec![StorageSlot {
            hash: B256::repeat_byte(0x77),
            value: Bytes::from_static(&[0x01]),
        }]],
        proof: vec![],
    });
    // Slot [hash, 0x01]: payload 34 -> 0xe2 (35); slot list 0xe3 (36); lists 0xe4 (37);
    // empty proof 0xc0; message payload 1 + 37 + 1 = 39 -> 0xe7.
    let mut expected = vec![0xe7, 0x02, 0xe4, 0xe3, 0xe2];
    expected.extend(hash_bytes(0x77));
    expected.extend([0x01, 0xc0]);
    check(SnapVersion::V1, msg, &expected);
}

#[test]
fn get_trie_nodes_odd_and_even_compact_paths() {
    let msg = SnapMessage::GetTrieNodes(GetTrieNodes {
        request_id: 0,
        root: B256::repeat_byte(0x44),
        paths: vec![
            TrieNodePathSet::account(&Nibbles::from_nibbles([1, 2, 3])),
            TrieNodePathSet::storage(B256::repeat_byte(0x55), &[Nibbles::from_nibbles([0xa, 0xb])]),
        ],
        response_bytes: 1000,
    });
    // id 0 -> 0x80. Odd path [1,2,3] -> compact 0x11 0x23 -> string 0x82 11 23; set 0xc3 (4).
    // Storage set: account hash (33) + even path [a,b] -> compact 0x00 0xab -> 0x82 00 ab (3);
    // set payload 36 -> 0xe4 (37). Sets list payload 41 -> 0xe9 (42).
    // 1000 = 0x03e8 -> 0x82 03 e8. Payload 1 + 33 + 42 + 3 = 79 = 0x4f -> 0xf8 0x4f.
    let mut expected = vec![0xf8, 0x4f, 0x80];
    expected.extend(hash_bytes(0x44));
    expected.extend([0xe9, 0xc3, 0x82, 0x11, 0x23, 0xe4]);
    expected.extend(hash_bytes(0x55));
    expected.extend([0x82, 0x00, 0xab, 0x82, 0x03, 0xe8]);
    check(SnapVersion::V1, msg, &expected);
}

#[test]
fn block_access_lists_raw_and_unavailable() {
    let msg = SnapMessage::BlockAccessLists(BlockAccessLists {
        request_id: 3,
        access_lists: vec![Bytes::from_static(&[0xc0]), Bytes::new()],
    });
    // The empty BAL (empty list 0xc0) embedded as is; the unavailable one as 0x80.
    check(SnapVersion::V2, msg, &[0xc4, 0x03, 0xc2, 0xc0, 0x80]);
}
