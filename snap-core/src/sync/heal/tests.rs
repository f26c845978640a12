//! The heal walk on its own: request order, response matching, commit order.

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;

use super::{HealContext, HealItem, Healer, NodesOutcome, request_order};
use crate::{
    sync::{Counters, Misbehaviour, WriteBatch, codes::CodeQueue},
    trie::{BuiltTrie, build_trie},
    wire::PathSetRequest,
};

fn item(owner: u8, path: &[u8], hash: u8) -> HealItem {
    HealItem {
        owner: if owner == 0 { B256::ZERO } else { B256::repeat_byte(owner) },
        path: Nibbles::from_nibbles(path),
        hash: B256::repeat_byte(hash),
        parent: None,
    }
}

struct Host {
    batch: WriteBatch,
    codes: CodeQueue,
    counters: Counters,
    checks: Vec<B256>,
}

impl Host {
    fn new() -> Self {
        Self {
            batch: WriteBatch::default(),
            codes: CodeQueue::new(16),
            counters: Counters::default(),
            checks: Vec::new(),
        }
    }

    fn ctx(&mut self) -> HealContext<'_> {
        HealContext {
            batch: &mut self.batch,
            codes: &mut self.codes,
            counters: &mut self.counters,
            code_checks: &mut self.checks,
        }
    }
}

#[test]
fn requests_group_storage_paths_per_account_after_the_account_paths_they_share_a_prefix_with() {
    let items = vec![
        item(0xbb, &[1], 1),
        item(0, &[0xb], 2),
        item(0xbb, &[], 3),
        item(0, &[1, 2], 4),
        item(0x11, &[5], 5),
    ];
    let (ordered, sets) = request_order(items);
    let parsed: Vec<PathSetRequest> = sets.iter().map(|set| set.parse().unwrap()).collect();
    // Sorted by the first element of each sync path: compact account paths (0x00 0x12 for
    // [1,2], 0x1b for [b]) and raw owner hashes (0x11.., 0xbb..); the two 0xbb paths merge.
    let firsts: Vec<String> = parsed
        .iter()
        .map(|set| match set {
            PathSetRequest::Account(path) => format!("account {path:?}"),
            PathSetRequest::Storage { account, paths } => {
                format!("storage {:x} {}", account[0], paths.len())
            }
        })
        .collect();
    assert_eq!(
        firsts,
        vec![
            format!("account {:?}", Nibbles::from_nibbles([1, 2])),
            "storage 11 1".to_string(),
            format!("account {:?}", Nibbles::from_nibbles([0xb])),
            "storage bb 2".to_string(),
        ]
    );
    // The items come back in exactly the order the request carries their paths.
    let hashes: Vec<u8> = ordered.iter().map(|item| item.hash[0]).collect();
    assert_eq!(hashes, vec![4, 5, 2, 3, 1]);
}

/// A two-level trie: the root node and its stored children.
fn small_trie() -> BuiltTrie {
    let leaves: Vec<(B256, Vec<u8>)> = (0u8..40)
        .map(|i| {
            let account = TrieAccount {
                nonce: u64::from(i),
                balance: alloy_primitives::U256::from(i),
                storage_root: EMPTY_ROOT_HASH,
                code_hash: KECCAK_EMPTY,
            };
            (keccak256([i]), alloy_rlp::encode(account))
        })
        .collect();
    let mut leaves = leaves;
    leaves.sort();
    build_trie(&leaves)
}

#[test]
fn responses_match_in_order_with_gaps_and_punish_strangers() {
    let trie = small_trie();
    let mut host = Host::new();
    let mut healer = Healer::new(trie.root);
    healer.start(&mut host.ctx());
    let lookup = healer.take_lookup(1).unwrap();
    assert_eq!(lookup.len(), 1);
    healer.on_lookup(1, &[false], &mut host.ctx());
    let (root_items, _) = healer.take_fetch(8);
    let root_node = trie.nodes[&Nibbles::new()].clone();
    // A node nobody asked for is a violation; more nodes than paths too.
    let stranger = Bytes::from_static(&[0xc2, 0x80, 0x80]);
    assert_eq!(
        healer.on_nodes(root_items.clone(), vec![stranger], &mut host.ctx()).err(),
        Some(Misbehaviour::UnrequestedNode)
    );
    assert!(matches!(
        healer.on_nodes(
            root_items.clone(),
            vec![root_node.clone(), root_node.clone()],
            &mut host.ctx()
        ),
        Err(Misbehaviour::TooManyItems { got: 2, requested: 1 })
    ));
    // Nothing at all means the peer lacks the state; nothing was taken.
    assert!(matches!(
        healer.on_nodes(root_items.clone(), vec![Bytes::new()], &mut host.ctx()),
        Ok(NodesOutcome::Unavailable)
    ));
    assert_eq!(healer.pending(), 0);
    assert!(healer.on_nodes(root_items, vec![root_node], &mut host.ctx()).is_ok());
    // The root waits for its children: checked first, none stored, all fetched.
    assert_eq!(healer.pending(), 1);
    let children = healer.take_lookup(2).unwrap();
    assert!(children.len() >= 2);
    healer.on_lookup(2, &vec![false; children.len()], &mut host.ctx());
    let (items, _) = healer.take_fetch(children.len());
    assert_eq!(items.len(), children.len());
    // Answer every other path, leaving gaps: matched by hash in order; the gaps come back.
    let answered: Vec<Bytes> =
        items.iter().step_by(2).map(|item| trie.nodes[&item.path].clone()).collect();
    let Ok(NodesOutcome::Delivered(count)) =
        healer.on_nodes(items.clone(), answered.clone(), &mut host.ctx())
    else {
        panic!("gaps are allowed")
    };
    assert_eq!(count as usize, answered.len());
    assert!(healer.has_fetch(), "unanswered paths are fetched again");
    assert!(host.batch.nodes.writes.is_empty() || !healer.is_done(), "the root waits");
    let (rest, _) = healer.take_fetch(usize::MAX);
    assert_eq!(rest.len(), items.len() - answered.len());
    let nodes = rest.iter().map(|item| trie.nodes[&item.path].clone()).collect();
    healer.on_nodes(rest, nodes, &mut host.ctx()).unwrap();
    // Deeper levels: nothing stored, everything fetched.
    for id in 3.. {
        if healer.is_done() {
            break;
        }
        if let Some(queries) = healer.take_lookup(id) {
            healer.on_lookup(id, &vec![false; queries.len()], &mut host.ctx());
        }
        let (items, _) = healer.take_fetch(usize::MAX);
        let nodes = items.iter().map(|item| trie.nodes[&item.path].clone()).collect();
        healer.on_nodes(items, nodes, &mut host.ctx()).unwrap();
    }
    // Every leaf node had no dependency; the root committed last, and the walk is done.
    assert!(healer.is_done());
    let writes = &host.batch.nodes.writes;
    assert_eq!(writes.len(), trie.nodes.len());
    assert_eq!(writes.last().unwrap().0.path, Nibbles::new(), "the root is written last");
    assert_eq!(host.batch.accounts.len(), 40);
    assert_eq!(host.counters.healed_accounts, 40);
}

#[test]
fn an_account_waits_for_its_code_and_storage_before_it_is_written() {
    let code = Bytes::from_static(&[0x60, 0x00]);
    let slots: Vec<(B256, Vec<u8>)> =
        vec![(B256::repeat_byte(1), vec![0x05]), (B256::repeat_byte(2), vec![0x06])];
    let storage = build_trie(&slots);
    let account = TrieAccount {
        nonce: 1,
        balance: alloy_primitives::U256::from(1),
        storage_root: storage.root,
        code_hash: keccak256(&code),
    };
    let hash = B256::repeat_byte(0x77);
    let trie = build_trie(&[(hash, alloy_rlp::encode(account))]);
    let mut host = Host::new();
    let mut healer = Healer::new(trie.root);
    healer.start(&mut host.ctx());
    healer.take_lookup(1).unwrap();
    healer.on_lookup(1, &[false], &mut host.ctx());
    let (items, _) = healer.take_fetch(1);
    healer.on_nodes(items, vec![trie.nodes[&Nibbles::new()].clone()], &mut host.ctx()).unwrap();
    // The code is asked of the store, the storage root checked.
    assert_eq!(host.checks, vec![account.code_hash]);
    let storage_check = healer.take_lookup(2).unwrap();
    assert_eq!(storage_check[0].owner, hash);
    assert_eq!(storage_check[0].hash, storage.root);
    // Storage found stored: still waiting for the code.
    healer.on_lookup(2, &[true], &mut host.ctx());
    assert!(!healer.is_done());
    assert!(host.batch.accounts.is_empty());
    assert!(host.codes.checked(account.code_hash, true));
    healer.codes_arrived(&[account.code_hash], &mut host.ctx());
    assert!(healer.is_done());
    assert_eq!(host.batch.accounts, vec![(hash, account)]);
}
