//! Known answers from real data: geth's hivechain state at block 600, split into ranges the way
//! a syncer requests them, verified chunk by chunk against the real state root.

use std::path::PathBuf;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};

use super::{increase, prove_all};
use crate::trie::{ProofError, build_trie, verify_range};

const HEAD_STATE_ROOT: B256 =
    alloy_primitives::b256!("0x8fcfb02cfca007773bd55bc1c3e50a3c8612a59c87ce057e5957e8bf17c1728b");

fn headstate() -> Option<serde_json::Value> {
    let candidates = std::env::var_os("SNAP_TESTDATA")
        .map(|dir| PathBuf::from(dir).join("hivechain"))
        .into_iter()
        .chain([
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/hivechain")),
            // From a worktree one level deeper than the main checkout.
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/testdata/hivechain"
            )),
        ]);
    for dir in candidates {
        if let Ok(text) = std::fs::read_to_string(dir.join("headstate.json")) {
            return Some(serde_json::from_str(&text).expect("headstate.json parses"));
        }
    }
    eprintln!("SKIPPED hivechain range-proof tests: headstate.json not found (set SNAP_TESTDATA)");
    None
}

fn word(value: &serde_json::Value) -> B256 {
    value.as_str().expect("hex string").parse().expect("32-byte hex")
}

/// The account trie's leaves (hashed address, full account RLP) and each storage trie's
/// leaves (hashed slot, RLP of the value), from the dump.
type Leaves = Vec<(B256, Vec<u8>)>;

fn tries(state: &serde_json::Value) -> (Leaves, Vec<(B256, Leaves)>) {
    let mut accounts = Vec::new();
    let mut storages = Vec::new();
    for (address, account) in state["accounts"].as_object().expect("accounts") {
        let address: Address = address.parse().expect("address");
        let hash = keccak256(address);
        let mut slots: Leaves = account["storage"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(slot, value)| {
                let slot: B256 = slot.parse().expect("slot");
                let value =
                    U256::from_str_radix(value.as_str().expect("hex value"), 16).expect("value");
                (keccak256(slot), alloy_rlp::encode(value))
            })
            .collect();
        slots.sort();
        let storage_root = build_trie(&slots).root;
        // The dump's root field is only a cross-check: the root is computed from the slots.
        assert_eq!(storage_root, word(&account["root"]), "storage root of {address}");
        let trie_account = TrieAccount {
            nonce: account["nonce"].as_u64().expect("nonce"),
            balance: U256::from_str_radix(account["balance"].as_str().expect("balance"), 10)
                .expect("balance"),
            storage_root,
            code_hash: word(&account["codeHash"]),
        };
        accounts.push((hash, alloy_rlp::encode(trie_account)));
        if storage_root != EMPTY_ROOT_HASH {
            storages.push((hash, slots));
        }
    }
    accounts.sort();
    (accounts, storages)
}

/// Requests the trie in chunks of `chunk` leaves, each from the key after the previous chunk,
/// and verifies each response; returns the number of responses.
fn sync_in_chunks(root: B256, leaves: &Leaves, chunk: usize) -> usize {
    let trie = build_trie(leaves);
    assert_eq!(trie.root, root);
    let mut origin = B256::ZERO;
    let mut from = 0;
    let mut responses = 0;
    loop {
        let to = (from + chunk).min(leaves.len());
        let (keys, values): (Vec<B256>, Vec<Vec<u8>>) = leaves[from..to].iter().cloned().unzip();
        let mut edges = vec![origin];
        edges.extend(keys.last());
        let proof = prove_all(&trie, &edges);
        let more = verify_range(root, origin, &keys, &values, &proof).expect("honest chunk");
        responses += 1;
        assert_eq!(more, to < leaves.len());
        if to > from + 1 {
            // Dropping any leaf but the last is caught.
            let mut gapped_keys = keys.clone();
            let mut gapped_values = values.clone();
            gapped_keys.remove((to - from) / 2 - 1);
            gapped_values.remove((to - from) / 2 - 1);
            assert!(verify_range(root, origin, &gapped_keys, &gapped_values, &proof).is_err());
        }
        if !more {
            break;
        }
        origin = increase(&keys[keys.len() - 1]);
        from = to;
    }
    // Past the end, the empty answer verifies.
    if let Some(last) = leaves.last() {
        let after = increase(&last.0);
        let proof = prove_all(&trie, &[after]);
        assert_eq!(verify_range::<Vec<u8>>(root, after, &[], &[], &proof), Ok(false));
    }
    responses
}

#[test]
fn hivechain_account_and_storage_ranges_verify() {
    let Some(state) = headstate() else { return };
    let (accounts, storages) = tries(&state);
    assert_eq!(accounts.len(), 194);
    assert_eq!(storages.len(), 60);
    assert_eq!(build_trie(&accounts).root, HEAD_STATE_ROOT);
    for chunk in [1, 7, 64, 1000] {
        let responses = sync_in_chunks(HEAD_STATE_ROOT, &accounts, chunk);
        assert_eq!(responses, accounts.len().div_ceil(chunk));
    }
    // Every storage trie: whole without proof, and in chunks with proofs.
    for (account, slots) in &storages {
        let root = build_trie(slots).root;
        let (keys, values): (Vec<B256>, Vec<Vec<u8>>) = slots.iter().cloned().unzip();
        assert_eq!(
            verify_range::<Vec<u8>>(root, B256::ZERO, &keys, &values, &[]),
            Ok(false),
            "{account}"
        );
        sync_in_chunks(root, slots, 50);
    }
    // An account range checked against the wrong root fails.
    let (keys, values): (Vec<B256>, Vec<Vec<u8>>) = accounts.iter().take(10).cloned().unzip();
    let trie = build_trie(&accounts);
    let proof = prove_all(&trie, &[B256::ZERO, keys[9]]);
    let result = verify_range(storages[0].0, B256::ZERO, &keys, &values, &proof);
    assert!(matches!(result, Err(ProofError::MissingNode { .. })), "{result:?}");
}
