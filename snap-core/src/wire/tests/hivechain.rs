//! Real data: the hivechain state at block 600 through the codec, checked against its known
//! state root and storage roots by rebuilding the tries from the decoded messages.

use std::{collections::BTreeMap, path::PathBuf};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::TrieAccount;

use crate::{
    trie::build_trie,
    wire::{
        AccountData, AccountRange, Limits, SnapMessage, SnapVersion, StorageRanges, StorageSlot,
    },
};

const HEAD_ROOT: &str = "0x8fcfb02cfca007773bd55bc1c3e50a3c8612a59c87ce057e5957e8bf17c1728b";

fn headstate(test: &str) -> Option<serde_json::Value> {
    // The shared data sits next to the checkout (`../shared` of the workspace root); worktrees
    // nest one level deeper.
    let candidates = std::env::var_os("SNAP_TESTDATA")
        .map(|d| PathBuf::from(d).join("hivechain"))
        .into_iter()
        .chain(["/../../shared", "/../../../shared"].map(|up| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR")))
                .join(format!("{up}/testdata/hivechain").trim_start_matches('/'))
        }));
    for dir in candidates {
        if let Ok(text) = std::fs::read_to_string(dir.join("headstate.json")) {
            return Some(serde_json::from_str(&text).expect("headstate.json parses"));
        }
    }
    eprintln!(
        "SKIPPED {test}: hivechain test data not found (set SNAP_TESTDATA or place it at ../shared/testdata/hivechain)"
    );
    None
}

fn hash(v: &serde_json::Value) -> B256 {
    v.as_str().expect("hex string").parse().expect("32-byte hex")
}

/// `(key, account, storage slots (hashed key -> trimmed value bytes))` for every account.
type Entry = (B256, TrieAccount, BTreeMap<B256, Vec<u8>>);

fn accounts(state: &serde_json::Value) -> Vec<Entry> {
    let mut out: Vec<Entry> = state["accounts"]
        .as_object()
        .expect("accounts object")
        .values()
        .map(|a| {
            let balance = U256::from_str_radix(a["balance"].as_str().unwrap(), 10).unwrap();
            let account = TrieAccount::new(
                a["nonce"].as_u64().unwrap(),
                balance,
                hash(&a["root"]),
                hash(&a["codeHash"]),
            );
            let storage = a
                .get("storage")
                .and_then(|s| s.as_object())
                .map(|s| {
                    s.iter()
                        .map(|(slot, value)| {
                            let slot: B256 = slot.parse().unwrap();
                            let value =
                                alloy_primitives::hex::decode(value.as_str().unwrap()).unwrap();
                            (keccak256(slot), value)
                        })
                        .collect()
                })
                .unwrap_or_default();
            (hash(&a["key"]), account, storage)
        })
        .collect();
    out.sort_by_key(|(key, ..)| *key);
    out
}

#[test]
fn hivechain_account_range_rebuilds_state_root() {
    let Some(state) = headstate("hivechain_account_range_rebuilds_state_root") else { return };
    let entries = accounts(&state);
    assert_eq!(entries.len(), 194);
    let full: Vec<(B256, Vec<u8>)> =
        entries.iter().map(|(k, a, _)| (*k, alloy_rlp::encode(a))).collect();
    let trie = build_trie(&full);
    assert_eq!(trie.root, HEAD_ROOT.parse::<B256>().unwrap());

    let mut proof = trie.prove(&B256::ZERO);
    proof.extend(trie.prove(&entries.last().unwrap().0));
    let message = SnapMessage::AccountRange(AccountRange {
        request_id: 600,
        accounts: entries
            .iter()
            .map(|(hash, account, _)| AccountData { hash: *hash, account: *account })
            .collect(),
        proof,
    });
    let bytes = message.to_vec();
    // Slim bodies are smaller than the consensus ones the trie stores.
    let full_size: usize = full.iter().map(|(_, body)| body.len()).sum();
    let slim_size: usize = entries.iter().map(|(_, a, _)| crate::wire::slim_account_len(a)).sum();
    assert!(slim_size + 32 * (194 - 65) < full_size);

    let decoded = SnapMessage::decode(SnapVersion::V1, 0x01, &bytes, &Limits::default()).unwrap();
    let SnapMessage::AccountRange(range) = decoded else { panic!("not an AccountRange") };
    // Rebuild the trie from what came off the wire: the slim bodies expanded back to the full
    // consensus form must hash to the real state root.
    let rebuilt: Vec<(B256, Vec<u8>)> =
        range.accounts.iter().map(|a| (a.hash, alloy_rlp::encode(a.account))).collect();
    assert_eq!(build_trie(&rebuilt).root, trie.root);
}

#[test]
fn hivechain_storage_ranges_rebuild_storage_roots() {
    let Some(state) = headstate("hivechain_storage_ranges_rebuild_storage_roots") else { return };
    let entries: Vec<Entry> =
        accounts(&state).into_iter().filter(|(.., s)| !s.is_empty()).collect();
    assert_eq!(entries.len(), 60);
    let message = SnapMessage::StorageRanges(StorageRanges {
        request_id: 1,
        slots: entries
            .iter()
            .map(|(.., storage)| {
                storage
                    .iter()
                    .map(|(hash, value)| StorageSlot {
                        hash: *hash,
                        value: Bytes::from(alloy_rlp::encode(value.as_slice())),
                    })
                    .collect()
            })
            .collect(),
        proof: vec![],
    });
    let bytes = message.to_vec();
    assert!(bytes.len() < Limits::default().max_message_bytes);
    let decoded = SnapMessage::decode(SnapVersion::V2, 0x03, &bytes, &Limits::default()).unwrap();
    let SnapMessage::StorageRanges(ranges) = decoded else { panic!("not a StorageRanges") };
    assert_eq!(ranges.slots.iter().map(Vec::len).sum::<usize>(), 2_164);
    for ((_, account, _), slots) in entries.iter().zip(&ranges.slots) {
        let leaves: Vec<(B256, Bytes)> = slots.iter().map(|s| (s.hash, s.value.clone())).collect();
        assert_eq!(build_trie(&leaves).root, account.storage_root);
    }
}
