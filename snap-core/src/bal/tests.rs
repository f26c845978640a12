use alloy_primitives::{Address, B256, Bytes, U256, b256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use proptest::{collection::vec, prelude::*};

use super::*;
use alloy_rlp::Decodable;

/// keccak256(rlp([])): the EIP's commitment of a block without state changes.
const EMPTY_BAL_HASH: B256 =
    b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

fn canonical() -> impl Strategy<Value = BlockAccessList> {
    let slot = (any::<u64>(), vec((0u64..40, any::<u64>()), 0..4)).prop_map(|(slot, writes)| {
        let mut changes: Vec<StorageChange> = writes
            .into_iter()
            .map(|(index, value)| {
                StorageChange::new(BlockAccessIndex::new(index), U256::from(value))
            })
            .collect();
        changes.sort_by_key(|c| c.block_access_index);
        changes.dedup_by_key(|c| c.block_access_index);
        SlotChanges { slot: U256::from(slot), changes }
    });
    let account = (
        any::<[u8; 20]>(),
        vec(slot, 0..4),
        vec(any::<u64>(), 0..3),
        vec((0u64..40, any::<u128>()), 0..3),
        vec((0u64..40, any::<u64>()), 0..3),
        vec((0u64..40, vec(any::<u8>(), 0..40)), 0..2),
    )
        .prop_map(|(address, mut slots, reads, balances, nonces, codes)| {
            slots.sort_by_key(|s| s.slot);
            slots.dedup_by_key(|s| s.slot);
            let mut reads: Vec<U256> = reads.into_iter().map(U256::from).collect();
            reads.sort();
            reads.dedup();
            let mut balance_changes: Vec<BalanceChange> = balances
                .into_iter()
                .map(|(index, b)| BalanceChange::new(BlockAccessIndex::new(index), U256::from(b)))
                .collect();
            balance_changes.sort_by_key(|c| c.block_access_index);
            balance_changes.dedup_by_key(|c| c.block_access_index);
            let mut nonce_changes: Vec<NonceChange> = nonces
                .into_iter()
                .map(|(index, nonce)| NonceChange::new(BlockAccessIndex::new(index), nonce))
                .collect();
            nonce_changes.sort_by_key(|c| c.block_access_index);
            nonce_changes.dedup_by_key(|c| c.block_access_index);
            let mut code_changes: Vec<CodeChange> = codes
                .into_iter()
                .map(|(index, code)| {
                    CodeChange::new(BlockAccessIndex::new(index), Bytes::from(code))
                })
                .collect();
            code_changes.sort_by_key(|c| c.block_access_index);
            code_changes.dedup_by_key(|c| c.block_access_index);
            AccountChanges {
                address: Address::from(address),
                storage_changes: slots,
                storage_reads: reads,
                balance_changes,
                nonce_changes,
                code_changes,
            }
        });
    vec(account, 0..6).prop_map(|mut accounts| {
        accounts.sort_by_key(|a| a.address);
        accounts.dedup_by_key(|a| a.address);
        accounts
    })
}

proptest! {
    #[test]
    fn canonical_lists_roundtrip(list in canonical()) {
        let bytes = encode(&list);
        prop_assert_eq!(decode(&bytes), Ok(list));
    }

    #[test]
    fn diff_takes_the_last_change_of_every_field(list in canonical()) {
        let diff = BlockDiff::of(&list).expect("canonical");
        prop_assert!(diff.accounts.windows(2).all(|w| w[0].hash < w[1].hash));
        for changes in &list {
            let hash = keccak256(changes.address);
            let found = diff.accounts.iter().find(|d| d.hash == hash);
            let changed = !changes.balance_changes.is_empty()
                || !changes.nonce_changes.is_empty()
                || !changes.code_changes.is_empty()
                || changes.storage_changes.iter().any(|s| !s.changes.is_empty());
            prop_assert_eq!(found.is_some(), changed);
            let Some(found) = found else { continue };
            let max_by_index = |pairs: Vec<(BlockAccessIndex, U256)>| pairs.into_iter().max_by_key(|p| p.0).map(|p| p.1);
            prop_assert_eq!(found.balance, max_by_index(changes.balance_changes.iter().map(|c| (c.block_access_index, c.post_balance)).collect()));
            prop_assert_eq!(found.nonce, changes.nonce_changes.iter().max_by_key(|c| c.block_access_index).map(|c| c.new_nonce));
            for slot in &changes.storage_changes {
                let expected = max_by_index(slot.changes.iter().map(|c| (c.block_access_index, c.new_value)).collect());
                let key = keccak256(slot.slot.to_be_bytes::<32>());
                let got = found.storage.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
                prop_assert_eq!(got, expected);
            }
        }
    }

    #[test]
    fn any_swap_of_two_accounts_is_rejected(list in canonical(), pick in any::<prop::sample::Index>()) {
        prop_assume!(list.len() >= 2);
        let mut swapped = list.clone();
        let i = pick.index(list.len() - 1);
        swapped.swap(i, i + 1);
        prop_assert_eq!(decode(&encode(&swapped)), Err(BalError::Order { what: "accounts" }));
        prop_assert_eq!(BlockDiff::of(&swapped), Err(BalError::Order { what: "accounts" }));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
    }
}

#[test]
fn empty_list_has_the_eips_commitment() {
    let empty = BlockAccessList::default();
    assert_eq!(encode(&empty), vec![0xc0]);
    assert_eq!(keccak256(encode(&empty)), EMPTY_BAL_HASH);
    assert_eq!(EMPTY_BAL_HASH, alloy_eip7928::EMPTY_BLOCK_ACCESS_LIST_HASH);
    assert_eq!(decode(&[0xc0]), Ok(empty));
}

#[test]
fn duplicates_trailing_bytes_and_non_canonical_integers_are_rejected() {
    let account = |byte: u8| AccountChanges {
        address: Address::repeat_byte(byte),
        storage_changes: vec![],
        storage_reads: vec![U256::from(1), U256::from(1)],
        balance_changes: vec![],
        nonce_changes: vec![],
        code_changes: vec![],
    };
    let list = vec![account(1)];
    assert_eq!(decode(&encode(&list)), Err(BalError::Order { what: "storage reads" }));
    let mut bytes = encode(&[]);
    bytes.push(0);
    assert_eq!(decode(&bytes), Err(BalError::TrailingBytes(1)));
    // A nonce change `[1, 0x0005]` with a leading zero byte.
    let bad_nonce = [0xc4, 0x01, 0x82, 0x00, 0x05];
    assert!(NonceChange::decode(&mut &bad_nonce[..]).is_err());
}

#[test]
fn applying_follows_eip_161_and_keeps_storage_roots() {
    let before = TrieAccount {
        nonce: 3,
        balance: U256::from(10),
        storage_root: B256::repeat_byte(7),
        code_hash: KECCAK_EMPTY,
    };
    let diff = AccountDiff {
        hash: B256::ZERO,
        balance: Some(U256::from(4)),
        code: Some(Bytes::from_static(&[0x60, 0x00])),
        ..AccountDiff::default()
    };
    let after = apply_account(Some(&before), &diff).expect("not empty");
    assert_eq!(after.balance, U256::from(4));
    assert_eq!(after.nonce, 3);
    assert_eq!(after.code_hash, keccak256([0x60, 0x00]));
    assert_eq!(after.storage_root, before.storage_root);
    // A new account starts empty; a pre-funded address destroyed in its creating transaction
    // ends with zero balance, nonce and code: it is gone.
    let created = apply_account(None, &AccountDiff { balance: Some(U256::from(1)), ..diff })
        .expect("has balance");
    assert_eq!(created.storage_root, EMPTY_ROOT_HASH);
    let funded = TrieAccount { nonce: 0, code_hash: KECCAK_EMPTY, ..before };
    let destroyed = AccountDiff { balance: Some(U256::ZERO), ..AccountDiff::default() };
    assert_eq!(apply_account(Some(&funded), &destroyed), None);
}
