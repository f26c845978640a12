//! Property tests of the server over random states: every range reply verifies against the
//! right root, limits, ordering and origin/limit rules hold, and a client that follows the
//! replies collects exactly the state.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;
use proptest::{prelude::*, strategy::ValueTree};

use super::*;
use crate::{
    trie::{BuiltTrie, build_trie, proof::verify_range},
    wire::{
        self, AccountRange, BlockAccessLists, ByteCodes, GetAccountRange, GetBlockAccessLists,
        GetByteCodes, GetStorageRanges, GetTrieNodes, SnapMessage, StorageRanges, TrieNodePathSet,
    },
};

/// Strictly increasing hash after `hash`, or `None` at the end of the key space.
fn next_hash(hash: &B256) -> Option<B256> {
    U256::from_be_bytes(hash.0).checked_add(U256::from(1)).map(|n| B256::from(n.to_be_bytes()))
}

fn slot_value(value: u64) -> Bytes {
    Bytes::from(alloy_rlp::encode(U256::from(value)))
}

/// A random state: accounts with and without storage (of varied sizes) and code.
fn state_strategy() -> impl Strategy<Value = InMemoryState> {
    let account = (
        any::<u64>(),
        any::<u64>(),
        prop_oneof![3 => Just(0usize), 2 => 1usize..6, 1 => 20usize..200],
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..300)),
        any::<u64>(),
    );
    proptest::collection::btree_map(any::<[u8; 32]>().prop_map(B256::from), account, 1..60)
        .prop_map(|accounts| {
            let mut list = Vec::new();
            let mut storage = Vec::new();
            let mut codes = Vec::new();
            for (hash, (nonce, balance, slots, code, seed)) in accounts {
                let code_hash = code.as_ref().map_or(KECCAK_EMPTY, keccak256);
                if let Some(code) = code {
                    codes.push(Bytes::from(code));
                }
                list.push((
                    hash,
                    TrieAccount {
                        nonce: nonce % 1000,
                        balance: U256::from(balance),
                        storage_root: EMPTY_ROOT_HASH,
                        code_hash,
                    },
                ));
                let slots: BTreeMap<B256, Bytes> = (0..slots as u64)
                    .map(|i| {
                        let key = keccak256((seed ^ i.wrapping_mul(0x9e37_79b9)).to_be_bytes());
                        (key, slot_value(seed.wrapping_add(i) | 1))
                    })
                    .collect();
                storage.push((hash, slots.into_iter().collect()));
            }
            InMemoryState::from_sorted(list, storage, codes).expect("sorted by construction")
        })
}

/// The oracle for the account trie's stored nodes: the whole-trie builder over the accounts.
fn account_oracle(state: &InMemoryState) -> BuiltTrie {
    let leaves: Vec<(B256, Vec<u8>)> =
        state.account_list().iter().map(|(hash, account)| (*hash, account_leaf(account))).collect();
    build_trie(&leaves)
}

/// The oracle for one storage trie (`None` for empty storage).
fn storage_oracle(state: &InMemoryState, owner: &B256) -> Option<BuiltTrie> {
    let slots = state.slot_list(owner);
    (!slots.is_empty()).then(|| build_trie(slots))
}

fn account_leaf(account: &TrieAccount) -> Vec<u8> {
    alloy_rlp::encode(account)
}

/// Verifies an account range reply against `root`; returns whether accounts remain to the right.
fn verify_accounts(root: B256, origin: B256, reply: &AccountRange) -> bool {
    let keys: Vec<B256> = reply.accounts.iter().map(|a| a.hash).collect();
    let values: Vec<Vec<u8>> = reply.accounts.iter().map(|a| account_leaf(&a.account)).collect();
    verify_range(root, origin, &keys, &values, &reply.proof).expect("account range verifies")
}

/// Verifies one slot list against the storage root; returns whether slots remain to the right.
fn verify_slots(root: B256, origin: B256, slots: &[wire::StorageSlot], proof: &[Bytes]) -> bool {
    let keys: Vec<B256> = slots.iter().map(|s| s.hash).collect();
    let values: Vec<Bytes> = slots.iter().map(|s| s.value.clone()).collect();
    verify_range(root, origin, &keys, &values, proof).expect("storage range verifies")
}

fn request_accounts(state: &InMemoryState, origin: B256, limit: B256, bytes: u64) -> AccountRange {
    let request =
        GetAccountRange { request_id: 7, root: state.root(), origin, limit, response_bytes: bytes };
    account_range(&request, state, &ServeLimits::default())
}

fn storage_request(
    state: &InMemoryState,
    accounts: Vec<B256>,
    origin: Bytes,
    limit: Bytes,
    bytes: u64,
) -> StorageRanges {
    let request = GetStorageRanges {
        request_id: 9,
        root: state.root(),
        account_hashes: accounts,
        origin,
        limit,
        response_bytes: bytes,
    };
    storage_ranges(&request, state, &ServeLimits::default())
}

fn hash_strategy() -> impl Strategy<Value = B256> {
    prop_oneof![
        1 => Just(B256::ZERO),
        1 => Just(B256::repeat_byte(0xff)),
        4 => any::<[u8; 32]>().prop_map(B256::from),
    ]
}

fn bytes_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..200, 200u64..5_000, Just(u64::MAX)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn account_ranges_verify_and_follow_the_rules(
        state in state_strategy(),
        origin in hash_strategy(),
        limit in hash_strategy(),
        bytes in bytes_strategy(),
    ) {
        let reply = request_accounts(&state, origin, limit, bytes);
        prop_assert_eq!(reply.request_id, 7);
        let more = verify_accounts(state.root(), origin, &reply);
        // The oracle: the state's accounts from the origin, cut after the first account at or
        // past the limit or the first whose counted size exceeds the budget.
        let budget = bytes.min(ServeLimits::default().soft_response_limit);
        let from_origin: Vec<_> = state.account_list().iter().filter(|(h, _)| *h >= origin).collect();
        let mut expected = Vec::new();
        let mut size = 0u64;
        for (hash, account) in &from_origin {
            size += 32 + wire::slim_account_len(account) as u64;
            expected.push((*hash, *account));
            if *hash >= limit || size > budget {
                break;
            }
        }
        let got: Vec<_> = reply.accounts.iter().map(|a| (a.hash, a.account)).collect();
        prop_assert_eq!(&got, &expected);
        prop_assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        prop_assert_eq!(!from_origin.is_empty(), !got.is_empty(), "at least one account when one exists");
        prop_assert!(!reply.proof.is_empty(), "the origin proof is always attached");
        prop_assert_eq!(more, got.len() < from_origin.len());
    }

    #[test]
    fn following_account_ranges_collects_the_state(state in state_strategy(), bytes in 0u64..3_000) {
        let mut collected = Vec::new();
        let mut origin = B256::ZERO;
        for _ in 0..=state.account_list().len() {
            let reply = request_accounts(&state, origin, B256::repeat_byte(0xff), bytes);
            let more = verify_accounts(state.root(), origin, &reply);
            collected.extend(reply.accounts.iter().map(|a| (a.hash, a.account)));
            let Some(last) = reply.accounts.last() else { break };
            match (more, next_hash(&last.hash)) {
                (true, Some(next)) => origin = next,
                _ => break,
            }
        }
        prop_assert_eq!(collected.as_slice(), state.account_list());
    }

    #[test]
    fn single_account_storage_ranges_verify(
        state in state_strategy(),
        pick in any::<prop::sample::Index>(),
        origin in hash_strategy(),
        limit in hash_strategy(),
        bytes in bytes_strategy(),
    ) {
        let (hash, account) = &state.account_list()[pick.index(state.account_list().len())];
        let reply = storage_request(&state, vec![*hash], origin.0.to_vec().into(), limit.0.to_vec().into(), bytes);
        prop_assert_eq!(reply.request_id, 9);
        let slots = state.slot_list(hash);
        let from_origin: Vec<_> = slots.iter().filter(|(h, _)| *h >= origin).collect();
        prop_assert!(reply.slots.len() <= 1);
        let served = reply.slots.first().map(Vec::as_slice).unwrap_or_default();
        prop_assert_eq!(from_origin.is_empty(), served.is_empty(), "at least one slot when one exists");
        // Nothing past the first slot at or past the limit; strictly increasing from the origin.
        prop_assert!(served.windows(2).all(|w| w[0].hash < w[1].hash && w[0].hash < limit));
        prop_assert!(served.iter().all(|s| s.hash >= origin));
        let hard = bytes.min(ServeLimits::default().soft_response_limit) as f64 * 1.1;
        let before_last: u64 = served.iter().rev().skip(1).map(|s| 32 + s.value.len() as u64).sum();
        prop_assert!(served.len() <= 1 || (before_last as f64) < hard + 1.0);
        if reply.proof.is_empty() {
            // No proof: the origin is zero and the list is the whole storage (an empty trie has
            // no nodes to prove with).
            prop_assert!(origin.is_zero() || slots.is_empty());
            prop_assert_eq!(served.len(), slots.len());
        }
        if !served.is_empty() || !reply.proof.is_empty() {
            let more = verify_slots(account.storage_root, origin, served, &reply.proof);
            let cut_by_limit = served.last().is_some_and(|s| s.hash >= limit);
            prop_assert!(more == (served.len() < from_origin.len()));
            prop_assert!(!more || cut_by_limit || !reply.proof.is_empty());
        }
    }

    #[test]
    fn following_storage_ranges_collects_all_storage(state in state_strategy(), bytes in 0u64..3_000) {
        // A client that asks for every account with storage at once and follows the replies:
        // complete lists advance to the next account, a proven list continues from its last slot.
        let mut pending: Vec<B256> = state
            .account_list()
            .iter()
            .filter(|(_, a)| a.storage_root != EMPTY_ROOT_HASH)
            .map(|(h, _)| *h)
            .collect();
        let roots: BTreeMap<B256, B256> = state.account_list().iter().map(|(h, a)| (*h, a.storage_root)).collect();
        let mut collected: BTreeMap<B256, Vec<(B256, Bytes)>> = BTreeMap::new();
        let mut origin = B256::ZERO;
        let mut rounds = 0;
        while !pending.is_empty() {
            rounds += 1;
            prop_assert!(rounds < 10_000, "the client makes progress");
            let reply = storage_request(&state, pending.clone(), origin.0.to_vec().into(), Bytes::new(), bytes);
            prop_assert!(!reply.slots.is_empty(), "accounts with storage always get slots");
            prop_assert!(reply.slots.len() <= pending.len());
            let last_index = reply.slots.len() - 1;
            // Size accounting: a further account is opened only below the budget, and a slot
            // is appended only below the budget plus 10% (or as the reply's first slot).
            let budget = bytes.min(ServeLimits::default().soft_response_limit);
            let hard = budget + budget / 10;
            let mut size = 0u64;
            for (index, list) in reply.slots.iter().enumerate() {
                prop_assert!(index == 0 || size < budget, "list {} opened at {} bytes", index, size);
                for (position, slot) in list.iter().enumerate() {
                    prop_assert!((index == 0 && position == 0) || size < hard);
                    size += 32 + slot.value.len() as u64;
                }
            }
            for (index, list) in reply.slots.iter().enumerate() {
                let account = pending[index];
                let list_origin = if index == 0 { origin } else { B256::ZERO };
                let proof: &[Bytes] = if index == last_index { &reply.proof } else { &[] };
                let more = verify_slots(roots[&account], list_origin, list, proof);
                prop_assert!(index == last_index || !more, "only the last list may be partial");
                collected.entry(account).or_default().extend(list.iter().map(|s| (s.hash, s.value.clone())));
                if index == last_index && more {
                    origin = next_hash(&list.last().expect("non-empty").hash).expect("more after max");
                    pending.drain(..index);
                } else if index == last_index {
                    origin = B256::ZERO;
                    pending.drain(..=index);
                }
            }
        }
        for (hash, _) in state.account_list() {
            let expected = state.slot_list(hash);
            prop_assert_eq!(collected.get(hash).map(Vec::as_slice).unwrap_or_default(), expected);
        }
    }

    #[test]
    fn trie_nodes_match_the_built_tries(
        state in state_strategy(),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0usize..65), 1..40),
    ) {
        // Ask for stored paths of the account trie and of storage tries, and for truncated or
        // extended variants that may hold no node; each item must equal the built trie's node
        // at that path (empty when there is none), in request order.
        let account_trie = account_oracle(&state);
        let account_paths: Vec<&Nibbles> = account_trie.nodes.keys().collect();
        let mut sets = Vec::new();
        let mut expected = Vec::new();
        for (pick, owner_pick, cut) in picks {
            let (owner, _) = &state.account_list()[owner_pick.index(state.account_list().len())];
            match storage_oracle(&state, owner) {
                Some(trie) if cut % 2 == 0 => {
                    let paths: Vec<&Nibbles> = trie.nodes.keys().collect();
                    let path = paths[pick.index(paths.len())];
                    let path = path.slice(..cut.min(path.len()));
                    sets.push(TrieNodePathSet::storage(*owner, &[path]));
                    expected.push(trie.nodes.get(&path).cloned().unwrap_or_default());
                }
                _ => {
                    let path = account_paths[pick.index(account_paths.len())];
                    let path = if cut > path.len() && path.len() < 64 {
                        let mut longer = *path;
                        longer.push(cut as u8 % 16);
                        longer
                    } else {
                        path.slice(..cut.min(path.len()))
                    };
                    sets.push(TrieNodePathSet::account(&path));
                    expected.push(account_trie.nodes.get(&path).cloned().unwrap_or_default());
                }
            }
        }
        let request = GetTrieNodes { request_id: 3, root: state.root(), paths: sets, response_bytes: u64::MAX };
        let reply = trie_nodes(&request, &state, &ServeLimits::default()).expect("well-formed");
        prop_assert_eq!(reply.request_id, 3);
        prop_assert_eq!(&reply.nodes, &expected);
        if let Some(root_node) = account_trie.nodes.get(&Nibbles::new()) {
            prop_assert_eq!(keccak256(root_node), state.root());
        }
    }

    #[test]
    fn byte_codes_in_request_order(
        state in state_strategy(),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4), 0..30),
        bytes in bytes_strategy(),
    ) {
        let known: Vec<B256> = state.codes().keys().copied().collect();
        let hashes: Vec<B256> = picks
            .iter()
            .map(|(pick, kind)| match (kind, known.is_empty()) {
                (0, _) => KECCAK_EMPTY,
                (1, _) | (_, true) => keccak256([*kind, pick.index(1000) as u8]),
                _ => known[pick.index(known.len())],
            })
            .collect();
        let request = GetByteCodes { request_id: 5, hashes: hashes.clone(), response_bytes: bytes };
        let reply = byte_codes(&request, &state, &ServeLimits::default());
        // Oracle: known codes (and the empty code) in request order, unknown ones skipped,
        // stopping after the first item that takes the total past the budget.
        let budget = bytes.min(2 * 1024 * 1024);
        let mut expected = Vec::new();
        let mut size = 0;
        for hash in &hashes {
            let code = if *hash == KECCAK_EMPTY { Some(Bytes::new()) } else { state.codes().get(hash).cloned() };
            if let Some(code) = code {
                size += code.len() as u64;
                expected.push(code);
            }
            if size > budget {
                break;
            }
        }
        prop_assert_eq!(&reply.codes, &expected);
        for code in &reply.codes {
            prop_assert!(code.is_empty() || hashes.contains(&keccak256(code)));
        }
    }
}

fn fixed_state() -> InMemoryState {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    state_strategy().new_tree(&mut runner).expect("strategy").current()
}

#[test]
fn unknown_root_gets_empty_replies() {
    let state = fixed_state();
    let root = B256::repeat_byte(0x42);
    let account = state.account_list()[0].0;
    let requests = [
        SnapMessage::GetAccountRange(GetAccountRange {
            request_id: 1,
            root,
            origin: B256::ZERO,
            limit: B256::repeat_byte(0xff),
            response_bytes: 1000,
        }),
        SnapMessage::GetStorageRanges(GetStorageRanges {
            request_id: 2,
            root,
            account_hashes: vec![account],
            origin: Bytes::new(),
            limit: Bytes::new(),
            response_bytes: 1000,
        }),
        SnapMessage::GetTrieNodes(GetTrieNodes {
            request_id: 3,
            root,
            paths: vec![TrieNodePathSet::account(&Nibbles::new())],
            response_bytes: 1000,
        }),
    ];
    for request in requests {
        let reply = serve(&request, &state, &NoBals, &ServeLimits::default()).expect("answered");
        assert_eq!(reply.request_id(), request.request_id());
        match reply {
            SnapMessage::AccountRange(r) => assert!(r.accounts.is_empty() && r.proof.is_empty()),
            SnapMessage::StorageRanges(r) => assert!(r.slots.is_empty() && r.proof.is_empty()),
            SnapMessage::TrieNodes(r) => assert!(r.nodes.is_empty()),
            other => panic!("unexpected reply {other:?}"),
        }
    }
}

#[test]
fn storage_of_an_unknown_account_or_an_overlong_bound_is_empty() {
    let state = fixed_state();
    let with_storage = state
        .account_list()
        .iter()
        .find(|(_, a)| a.storage_root != EMPTY_ROOT_HASH)
        .map(|(h, _)| *h)
        .expect("the fixed state has storage");
    let unknown = B256::repeat_byte(0x01);
    assert!(state.account_list().iter().all(|(h, _)| *h != unknown));
    let reply =
        storage_request(&state, vec![unknown, with_storage], Bytes::new(), Bytes::new(), 1000);
    assert!(reply.slots.is_empty() && reply.proof.is_empty());
    let reply =
        storage_request(&state, vec![with_storage], Bytes::from(vec![0; 33]), Bytes::new(), 1000);
    assert!(reply.slots.is_empty() && reply.proof.is_empty());
    // A short bound is a big-endian value: `[0x00]` is the zero origin, served without proof.
    let reply =
        storage_request(&state, vec![with_storage], Bytes::from(vec![0]), Bytes::new(), u64::MAX);
    assert_eq!(reply.slots.len(), 1);
    assert!(reply.proof.is_empty());
    assert_eq!(reply.slots[0].len(), state.slot_list(&with_storage).len());
}

#[test]
fn malformed_requests_are_errors() {
    let state = fixed_state();
    let empty_set = SnapMessage::GetTrieNodes(GetTrieNodes {
        request_id: 1,
        root: state.root(),
        paths: vec![TrieNodePathSet::account(&Nibbles::new()), TrieNodePathSet(vec![])],
        response_bytes: 1000,
    });
    assert!(matches!(
        serve(&empty_set, &state, &NoBals, &ServeLimits::default()),
        Err(ServeError::BadRequest(_))
    ));
    let responses = [
        SnapMessage::AccountRange(AccountRange::default()),
        SnapMessage::StorageRanges(StorageRanges::default()),
        SnapMessage::ByteCodes(ByteCodes::default()),
        SnapMessage::TrieNodes(wire::TrieNodes::default()),
        SnapMessage::BlockAccessLists(BlockAccessLists::default()),
    ];
    for response in responses {
        assert_eq!(
            serve(&response, &state, &NoBals, &ServeLimits::default()),
            Err(ServeError::NotARequest(response.id()))
        );
    }
}

#[test]
fn trie_node_limits_bound_the_reply() {
    let state = fixed_state();
    let root_path = TrieNodePathSet::account(&Nibbles::new());
    let request = GetTrieNodes {
        request_id: 1,
        root: state.root(),
        paths: vec![root_path; 2000],
        response_bytes: u64::MAX,
    };
    let limits = ServeLimits::default();
    let reply = trie_nodes(&request, &state, &limits).expect("well-formed");
    assert_eq!(reply.nodes.len(), limits.max_trie_node_lookups);
    let tight = ServeLimits { trie_node_work_budget: 10, ..ServeLimits::default() };
    assert_eq!(trie_nodes(&request, &state, &tight).expect("well-formed").nodes.len(), 10);
    let small = GetTrieNodes { response_bytes: 0, ..request };
    assert_eq!(trie_nodes(&small, &state, &limits).expect("well-formed").nodes.len(), 1);
    // Storage sets pay for their account read.
    let owner = state.account_list()[0].0;
    let storage = GetTrieNodes {
        request_id: 1,
        root: state.root(),
        paths: vec![TrieNodePathSet::storage(owner, &[Nibbles::new()]); 100],
        response_bytes: u64::MAX,
    };
    // Each set is charged 8 units for the account before its read: reads happen while the work
    // before them, 9 * (k - 1) + 8, is below 50, so for k = 1..=5.
    let tight = ServeLimits { trie_node_work_budget: 50, ..ServeLimits::default() };
    assert_eq!(trie_nodes(&storage, &state, &tight).expect("well-formed").nodes.len(), 5);
}

#[test]
fn block_access_lists_in_request_order_with_empty_for_unknown() {
    let bals: BTreeMap<B256, Bytes> =
        (0u8..5).map(|i| (B256::repeat_byte(i), Bytes::from(vec![0xc0 + i; 100]))).collect();
    let hashes: Vec<B256> = [3u8, 9, 0, 4, 1].iter().map(|i| B256::repeat_byte(*i)).collect();
    let request =
        GetBlockAccessLists { request_id: 11, block_hashes: hashes.clone(), response_bytes: 250 };
    let reply = block_access_lists(&request, &bals, &ServeLimits::default());
    assert_eq!(reply.request_id, 11);
    // 100 + 1 (the unknown block's empty entry) + 100 = 201 <= 250; a fourth entry would make
    // 301 > 250, so the reply stops after the third.
    let expected: Vec<Bytes> =
        hashes[..3].iter().map(|h| bals.get(h).cloned().unwrap_or_default()).collect();
    assert_eq!(reply.access_lists, expected);
    let via_serve = serve(
        &SnapMessage::GetBlockAccessLists(request),
        &ServeStateless,
        &bals,
        &ServeLimits::default(),
    );
    assert_eq!(via_serve, Ok(SnapMessage::BlockAccessLists(reply)));
}

/// A view holding no state at all, for requests that do not read state.
struct ServeStateless;

impl StateView for ServeStateless {
    fn has_root(&self, _root: &B256) -> bool {
        false
    }
    fn accounts(&self, root: &B256, _origin: &B256) -> Result<AccountIter<'_>, StateError> {
        Err(StateError::UnknownRoot(*root))
    }
    fn account(&self, root: &B256, _hash: &B256) -> Result<Option<TrieAccount>, StateError> {
        Err(StateError::UnknownRoot(*root))
    }
    fn storage(
        &self,
        root: &B256,
        _account: &B256,
        _origin: &B256,
    ) -> Result<SlotIter<'_>, StateError> {
        Err(StateError::UnknownRoot(*root))
    }
    fn code(&self, _hash: &B256) -> Option<Bytes> {
        None
    }
    fn trie_node(
        &self,
        root: &B256,
        _owner: Option<&B256>,
        _path: &Nibbles,
    ) -> Result<Option<Bytes>, StateError> {
        Err(StateError::UnknownRoot(*root))
    }
    fn prove(
        &self,
        root: &B256,
        _owner: Option<&B256>,
        _key: &B256,
    ) -> Result<Vec<Bytes>, StateError> {
        Err(StateError::UnknownRoot(*root))
    }
}

#[test]
fn state_building_rejects_inconsistent_input() {
    let account = TrieAccount {
        nonce: 1,
        balance: U256::from(1),
        storage_root: B256::repeat_byte(0x99),
        code_hash: KECCAK_EMPTY,
    };
    let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
    let slots = || vec![(B256::repeat_byte(3), slot_value(1))];
    let build = |accounts: Vec<(B256, TrieAccount)>, storage: Vec<(B256, Vec<(B256, Bytes)>)>| {
        InMemoryState::from_sorted(accounts, storage, []).map(|state| state.root())
    };
    assert_eq!(
        build(vec![(b, account), (a, account)], vec![]),
        Err(StateBuildError::UnsortedAccounts(a))
    );
    assert_eq!(
        build(vec![(a, account)], vec![(b, slots())]),
        Err(StateBuildError::StorageWithoutAccount(b))
    );
    assert_eq!(
        build(vec![(a, account)], vec![(a, slots()), (a, slots())]),
        Err(StateBuildError::DuplicateStorage(a))
    );
    let unsorted =
        vec![(B256::repeat_byte(4), slot_value(1)), (B256::repeat_byte(3), slot_value(1))];
    assert_eq!(
        build(vec![(a, account)], vec![(a, unsorted)]),
        Err(StateBuildError::UnsortedSlots(a))
    );
    let empty = vec![(B256::repeat_byte(3), Bytes::new())];
    assert_eq!(
        build(vec![(a, account)], vec![(a, empty)]),
        Err(StateBuildError::EmptySlotValue(a))
    );
    // The claimed storage root is replaced by the one the slots give.
    let state =
        InMemoryState::from_sorted(vec![(a, account)], vec![(a, slots())], []).expect("valid");
    assert_eq!(state.account_list()[0].1.storage_root, build_trie(&slots()).root);
}

/// Issue #16 item 10: a path that cannot name a node (over 64 nibbles, leaf-flagged, a bad
/// flag nibble) or a storage set whose account is not a 32-byte hash is answered with an
/// empty item, as geth does, not with an error that drops the peer.
#[test]
fn unresolvable_trie_node_paths_get_empty_items_not_errors() {
    let state = fixed_state();
    let root_node = state.trie_node(&state.root(), None, &Nibbles::new()).expect("read");
    let root_node = root_node.expect("the fixed state has a root node");
    let over_deep = {
        // Flag 0 (even extension) and 33 bytes: 66 nibbles.
        let mut bytes = vec![0x00];
        bytes.extend([0x12; 33]);
        Bytes::from(bytes)
    };
    let leaf_flagged = wire::encode_compact(&Nibbles::from_nibbles([1, 2]), true);
    let bad_flag = Bytes::from_static(&[0x40, 0x12]);
    let request = SnapMessage::GetTrieNodes(GetTrieNodes {
        request_id: 9,
        root: state.root(),
        paths: vec![
            TrieNodePathSet(vec![over_deep.clone()]),
            TrieNodePathSet(vec![leaf_flagged]),
            TrieNodePathSet(vec![bad_flag]),
            TrieNodePathSet(vec![Bytes::from(vec![7; 31]), Bytes::from_static(&[0x00])]),
            TrieNodePathSet(vec![Bytes::from(vec![7; 32]), over_deep]),
            TrieNodePathSet::account(&Nibbles::new()),
        ],
        response_bytes: 100_000,
    });
    let reply = serve(&request, &state, &NoBals, &ServeLimits::default());
    let Ok(SnapMessage::TrieNodes(reply)) = reply else { panic!("answered: {reply:?}") };
    let empty = Bytes::new();
    assert_eq!(
        reply.nodes,
        vec![empty.clone(), empty.clone(), empty.clone(), empty.clone(), empty, root_node]
    );
}

/// Issue #16 item 8: a `GetStorageRanges` naming many storage-less accounts opens at most
/// `max_storage_lookups` of them.
#[test]
fn storage_requests_open_a_bounded_number_of_accounts() {
    use std::cell::Cell;

    struct Counting<'a> {
        state: &'a InMemoryState,
        opened: Cell<usize>,
    }

    impl StateView for Counting<'_> {
        fn has_root(&self, root: &B256) -> bool {
            self.state.has_root(root)
        }
        fn accounts(&self, root: &B256, origin: &B256) -> Result<AccountIter<'_>, StateError> {
            self.state.accounts(root, origin)
        }
        fn account(&self, root: &B256, hash: &B256) -> Result<Option<TrieAccount>, StateError> {
            self.state.account(root, hash)
        }
        fn storage(
            &self,
            root: &B256,
            account: &B256,
            origin: &B256,
        ) -> Result<SlotIter<'_>, StateError> {
            self.opened.set(self.opened.get() + 1);
            self.state.storage(root, account, origin)
        }
        fn code(&self, hash: &B256) -> Option<Bytes> {
            self.state.code(hash)
        }
        fn trie_node(
            &self,
            root: &B256,
            owner: Option<&B256>,
            path: &Nibbles,
        ) -> Result<Option<Bytes>, StateError> {
            self.state.trie_node(root, owner, path)
        }
        fn prove(
            &self,
            root: &B256,
            owner: Option<&B256>,
            key: &B256,
        ) -> Result<Vec<Bytes>, StateError> {
            self.state.prove(root, owner, key)
        }
    }

    let state = fixed_state();
    let storage_less: Vec<B256> = state
        .account_list()
        .iter()
        .filter(|(_, account)| account.storage_root == EMPTY_ROOT_HASH)
        .map(|(hash, _)| *hash)
        .collect();
    assert!(!storage_less.is_empty());
    let many: Vec<B256> = storage_less.iter().copied().cycle().take(5000).collect();
    let view = Counting { state: &state, opened: Cell::new(0) };
    let limits = ServeLimits { max_storage_lookups: 100, ..ServeLimits::default() };
    let request = SnapMessage::GetStorageRanges(GetStorageRanges {
        request_id: 1,
        root: state.root(),
        account_hashes: many,
        origin: Bytes::new(),
        limit: Bytes::new(),
        response_bytes: 10 << 20,
    });
    let reply = serve(&request, &view, &NoBals, &limits).expect("served");
    assert!(matches!(reply, SnapMessage::StorageRanges(_)));
    assert_eq!(view.opened.get(), 100);
}
