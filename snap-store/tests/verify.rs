//! `verify` finds each kind of damage: every corruption below, applied to a complete store as a
//! batch, is reported as the mismatch it is (and a complete store reports none).

mod common;

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::KECCAK_EMPTY;
use nybbles::Nibbles;
use snap_core::{
    serve::InMemoryState,
    sync::WriteBatch,
    trie::{NodeChanges, NodeKey, build_trie},
};
use snap_store::{Mismatch, VerifyReport, verify};

fn state() -> InMemoryState {
    common::generated_state(11, 300, 80)
}

/// Loads the state, applies `damage`, verifies.
fn damaged(damage: &WriteBatch) -> Vec<(&'static str, VerifyReport)> {
    let state = state();
    common::backends()
        .into_iter()
        .map(|(name, open)| {
            let dir = tempfile::tempdir().unwrap();
            let mut store = open(dir.path()).unwrap();
            store.apply(&common::state_batch(&state, b"p")).unwrap();
            let clean = verify(&*store).unwrap();
            assert!(clean.is_ok(), "{name}: {clean:?}");
            store.apply(damage).unwrap();
            (name, verify(&*store).unwrap())
        })
        .collect()
}

fn nodes(writes: Vec<(NodeKey, Bytes)>, deletes: Vec<NodeKey>) -> NodeChanges {
    NodeChanges { writes, deletes }
}

/// An account with storage and the stored nodes of its storage trie.
fn storage_account(state: &InMemoryState) -> (B256, Vec<(Nibbles, Bytes)>) {
    let (hash, _) = state
        .account_list()
        .iter()
        .find(|(hash, _)| state.slot_list(hash).len() > 20)
        .expect("an account with storage");
    (*hash, build_trie(state.slot_list(hash)).nodes.into_iter().collect())
}

fn account_trie(state: &InMemoryState) -> Vec<(Nibbles, Bytes)> {
    let leaves: Vec<(B256, Vec<u8>)> =
        state.account_list().iter().map(|(h, a)| (*h, alloy_rlp::encode(a))).collect();
    build_trie(&leaves).nodes.into_iter().collect()
}

fn assert_found(reports: &[(&str, VerifyReport)], expected: &Mismatch) {
    for (name, report) in reports {
        assert!(!report.is_ok(), "{name}");
        assert!(report.listed.contains(expected), "{name}: {expected:?} not in {report:?}");
    }
}

#[test]
fn a_missing_storage_node_is_found() {
    let (owner, trie) = storage_account(&state());
    let path = trie[1].0;
    let reports = damaged(&WriteBatch {
        nodes: nodes(vec![], vec![NodeKey { owner, path }]),
        ..WriteBatch::default()
    });
    assert_found(&reports, &Mismatch::MissingNode { owner, path });
    for (_, report) in &reports {
        assert_eq!(report.mismatches, 1, "nothing else is wrong: {report:?}");
    }
}

#[test]
fn a_wrong_account_trie_node_is_found() {
    let path = account_trie(&state())[1].0;
    let reports = damaged(&WriteBatch {
        nodes: nodes(
            vec![(NodeKey { owner: B256::ZERO, path }, Bytes::from(vec![0xc0; 40]))],
            vec![],
        ),
        ..WriteBatch::default()
    });
    assert_found(&reports, &Mismatch::WrongNode { owner: B256::ZERO, path });
}

#[test]
fn a_changed_account_breaks_the_state_root() {
    let state = state();
    let (hash, mut account) = state.account_list()[5];
    account.balance += U256::from(1);
    let reports = damaged(&WriteBatch { accounts: vec![(hash, account)], ..WriteBatch::default() });
    for (name, report) in &reports {
        assert_eq!(report.stored_root, Some(state.root()), "{name}");
        assert_ne!(report.computed_root, state.root(), "{name}");
    }
    assert_found(
        &reports,
        &Mismatch::StateRoot { stored: Some(state.root()), computed: reports[0].1.computed_root },
    );
    // The leaf of that account, somewhere on its path, differs from what the store holds.
    for (name, report) in &reports {
        assert!(
            report.listed.iter().any(|m| matches!(m, Mismatch::WrongNode { owner, path }
                if owner.is_zero() && Nibbles::unpack(hash).starts_with(path))),
            "{name}: {report:?}"
        );
    }
}

#[test]
fn a_changed_slot_breaks_its_storage_root() {
    let state = state();
    let (account, _) = storage_account(&state);
    let (slot, _) = state.slot_list(&account)[3];
    let stored = state.account_list().iter().find(|(h, _)| *h == account).unwrap().1.storage_root;
    let reports = damaged(&WriteBatch {
        storage: vec![(account, slot, Bytes::from(alloy_rlp::encode(U256::from(0xdead_u64))))],
        ..WriteBatch::default()
    });
    for (name, report) in &reports {
        assert!(
            report
                .listed
                .iter()
                .any(|m| matches!(m, Mismatch::StorageRoot { account: a, stored: s, computed }
                if *a == account && *s == stored && *computed != stored)),
            "{name}: {report:?}"
        );
    }
}

#[test]
fn orphans_and_extra_nodes_are_found() {
    let state = state();
    let (owner, trie) = storage_account(&state);
    let stranger = B256::repeat_byte(0x77);
    assert!(state.account_list().iter().all(|(h, _)| *h != stranger));
    let extra = Nibbles::from_nibbles([0xf; 30]);
    let reports = damaged(&WriteBatch {
        storage: vec![(stranger, B256::ZERO, Bytes::from_static(&[1]))],
        nodes: nodes(
            vec![
                (NodeKey { owner: stranger, path: Nibbles::new() }, Bytes::from(vec![0xc1; 33])),
                (NodeKey { owner, path: extra }, Bytes::from(vec![0xc2; 33])),
            ],
            vec![],
        ),
        ..WriteBatch::default()
    });
    assert_found(&reports, &Mismatch::OrphanSlot { account: stranger, slot: B256::ZERO });
    assert_found(&reports, &Mismatch::OrphanNode { owner: stranger, path: Nibbles::new() });
    let count = trie.len() as u64;
    assert_found(&reports, &Mismatch::ExtraNodes { owner, stored: count + 1, expected: count });
    for (_, report) in &reports {
        assert_eq!(report.mismatches, 3, "{report:?}");
    }
}

#[test]
fn code_damage_is_found() {
    let state = state();
    let (account, code_account) = state
        .account_list()
        .iter()
        .find(|(_, a)| a.code_hash != KECCAK_EMPTY)
        .copied()
        .expect("an account with code");
    // Point the account at a code that is not stored, and store a code under a wrong hash.
    let missing = keccak256(b"never stored");
    let mut changed = code_account;
    changed.code_hash = missing;
    let wrong = B256::repeat_byte(0x55);
    let reports = damaged(&WriteBatch {
        accounts: vec![(account, changed)],
        codes: vec![(wrong, Bytes::from_static(b"code"))],
        ..WriteBatch::default()
    });
    assert_found(&reports, &Mismatch::MissingCode { account, code_hash: missing });
    assert_found(&reports, &Mismatch::WrongCode { hash: wrong });
}

#[test]
fn a_missing_root_is_found() {
    let state = state();
    let reports = damaged(&WriteBatch {
        nodes: nodes(vec![], vec![NodeKey { owner: B256::ZERO, path: Nibbles::new() }]),
        ..WriteBatch::default()
    });
    assert_found(&reports, &Mismatch::StateRoot { stored: None, computed: state.root() });
    assert_found(&reports, &Mismatch::MissingNode { owner: B256::ZERO, path: Nibbles::new() });
}
