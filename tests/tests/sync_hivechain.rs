//! Known-answer sync on real data: the `Syncer` downloads hivechain's head state (block 600)
//! from honest in-process servers and the store ends exactly equal to it, every trie node of
//! the 3,206 included (the range phase writes most, healing the rest). The host loop here is
//! deliberately small and separate from the simulator's, as an independent check of it.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::TrieAccount;
use snap_core::{
    dump::StateDump,
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    sync::{
        Input, Lookup, LookupAnswer, Output, PeerId, Phase, SyncConfig, SyncEvent, Syncer, Target,
        WriteBatch,
    },
    trie::{BuiltTrie, NodeKey, build_trie},
    wire::SnapVersion,
};
use snap_sim::testdata::{HIVECHAIN_HEAD_STATE_ROOT, hivechain_dir};

#[derive(Default)]
struct Store {
    accounts: BTreeMap<B256, TrieAccount>,
    storage: BTreeMap<(B256, B256), Bytes>,
    codes: BTreeMap<B256, Bytes>,
    nodes: BTreeMap<NodeKey, Bytes>,
}

impl Store {
    fn apply(&mut self, batch: WriteBatch) {
        for range in &batch.pruned {
            let owner = range.owner;
            self.nodes.retain(|key, _| !(key.owner == owner && range.contains(&key.path)));
            if owner == B256::ZERO {
                self.accounts.retain(|hash, _| !range.contains_key(hash));
                self.storage.retain(|(account, _), _| !range.contains_key(account));
                self.nodes
                    .retain(|key, _| key.owner == B256::ZERO || !range.contains_key(&key.owner));
            } else {
                self.storage
                    .retain(|(account, slot), _| *account != owner || !range.contains_key(slot));
            }
        }
        self.accounts.extend(batch.accounts);
        self.storage.extend(batch.storage.into_iter().map(|(a, s, v)| ((a, s), v)));
        self.codes.extend(batch.codes);
        for key in batch.nodes.deletes {
            self.nodes.remove(&key);
        }
        self.nodes.extend(batch.nodes.writes);
    }
}

#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

/// Runs a sync against `peers` honest servers with instant replies and returns the store.
fn sync(state: &InMemoryState, peers: u64, config: SyncConfig) -> (Store, u64) {
    let mut now = epoch();
    let target = Target { root: state.root(), number: 600 };
    let mut syncer = Syncer::new(config, target, now);
    for peer in 0..peers {
        syncer.handle_input(
            now,
            Input::PeerConnected { peer: PeerId(peer), versions: vec![SnapVersion::V1] },
        );
    }
    let mut store = Store::default();
    let mut inbox: VecDeque<Input> = VecDeque::new();
    let mut requests = 0u64;
    for _ in 0..100_000 {
        while let Some(output) = syncer.poll_output() {
            match output {
                Output::Send { peer, message } => {
                    requests += 1;
                    let reply = serve(&message, state, &NoBals, &ServeLimits::default())
                        .expect("the syncer sends only well-formed requests");
                    inbox.push_back(Input::Response { peer, message: reply });
                }
                Output::Write(batch) => {
                    let id = batch.id;
                    store.apply(batch);
                    inbox.push_back(Input::Written(id));
                }
                Output::Lookup { id, lookup: Lookup::Codes(hashes) } => {
                    let held = hashes.iter().map(|hash| store.codes.contains_key(hash)).collect();
                    inbox.push_back(Input::LookupDone { id, answer: LookupAnswer::Codes(held) });
                }
                Output::Lookup { id, lookup: Lookup::Nodes(queries) } => {
                    let held = queries
                        .iter()
                        .map(|q| {
                            let key = NodeKey { owner: q.owner, path: q.path };
                            store.nodes.get(&key).is_some_and(|node| keccak256(node) == q.hash)
                        })
                        .collect();
                    inbox.push_back(Input::LookupDone { id, answer: LookupAnswer::Nodes(held) });
                }
                Output::Lookup { .. } => panic!("unexpected lookup"),
                Output::Disconnect { peer, reason } => {
                    panic!("honest peer {peer:?} disconnected: {reason}")
                }
                Output::Event(SyncEvent::Done { counters, .. }) => {
                    assert_eq!(syncer.phase(), Phase::Done);
                    assert_eq!(counters.accounts as usize, state.account_list().len());
                    return (store, requests);
                }
                Output::Event(_) => {}
            }
        }
        now += Duration::from_millis(1);
        match inbox.pop_front() {
            Some(input) => syncer.handle_input(now, input),
            None => syncer.handle_timeout(now),
        }
    }
    panic!("sync did not finish: {:?}", syncer.progress_record());
}

/// The target's trie nodes, built independently of the syncer's generator and of the server.
struct TargetTries {
    account: BuiltTrie,
    storage: BTreeMap<B256, BuiltTrie>,
}

impl TargetTries {
    fn of(dump: &StateDump) -> Self {
        let account = build_trie(&dump.account_leaves());
        let storage = dump
            .accounts
            .iter()
            .filter(|(_, account)| !account.storage.is_empty())
            .map(|(hash, account)| (*hash, build_trie(&account.storage_leaves())))
            .collect();
        Self { account, storage }
    }

    fn total_nodes(&self) -> usize {
        self.account.nodes.len() + self.storage.values().map(|trie| trie.nodes.len()).sum::<usize>()
    }
}

fn assert_exact(state: &InMemoryState, tries: &TargetTries, store: &Store) {
    let accounts: BTreeMap<B256, TrieAccount> = state.account_list().iter().copied().collect();
    assert_eq!(store.accounts, accounts, "flat accounts differ");
    let mut slots = BTreeMap::new();
    for (account, _) in state.account_list() {
        for (slot, value) in state.slot_list(account) {
            slots.insert((*account, *slot), value.clone());
        }
    }
    assert_eq!(store.storage, slots, "flat storage differs");
    let wanted_codes: BTreeMap<B256, Bytes> = state
        .account_list()
        .iter()
        .filter_map(|(_, a)| state.codes().get(&a.code_hash).map(|c| (a.code_hash, c.clone())))
        .collect();
    assert_eq!(store.codes, wanted_codes, "codes differ");
    let mut nodes: BTreeMap<NodeKey, Bytes> = tries
        .account
        .nodes
        .iter()
        .map(|(path, node)| (NodeKey { owner: B256::ZERO, path: *path }, node.clone()))
        .collect();
    for (owner, trie) in &tries.storage {
        nodes.extend(
            trie.nodes
                .iter()
                .map(|(path, node)| (NodeKey { owner: *owner, path: *path }, node.clone())),
        );
    }
    assert_eq!(store.nodes.len(), tries.total_nodes(), "stored node count");
    assert!(store.nodes == nodes, "stored trie nodes differ from the target's");
}

#[test]
fn syncs_hivechain_head_state_exactly() {
    let Some(dir) = hivechain_dir("syncs_hivechain_head_state_exactly") else { return };
    let json = std::fs::read_to_string(dir.join("headstate.json")).unwrap();
    let dump = StateDump::from_geth_dump(&json).unwrap();
    let state = dump.to_state();
    let tries = TargetTries::of(&dump);
    assert_eq!(state.root(), HIVECHAIN_HEAD_STATE_ROOT);
    assert_eq!(tries.account.root, state.root());
    for peers in [1, 3] {
        let (store, requests) = sync(&state, peers, SyncConfig::default());
        assert_exact(&state, &tries, &store);
        eprintln!(
            "hivechain sync with {peers} peers: {requests} requests, all {} trie nodes stored",
            tries.total_nodes()
        );
    }
}

#[test]
fn syncs_hivechain_with_tiny_requests_and_chunked_storage() {
    let Some(dir) = hivechain_dir("syncs_hivechain_with_tiny_requests_and_chunked_storage") else {
        return;
    };
    let json = std::fs::read_to_string(dir.join("headstate.json")).unwrap();
    let dump = StateDump::from_geth_dump(&json).unwrap();
    let state = dump.to_state();
    // Tiny byte budgets force many account requests, storage cut short and chunked.
    let config = SyncConfig {
        min_request_bytes: 1,
        max_request_bytes: 2_000,
        min_slots_per_chunk: 16,
        ..SyncConfig::default()
    };
    let (store, requests) = sync(&state, 2, config);
    assert_exact(&state, &TargetTries::of(&dump), &store);
    assert!(requests > 100, "tiny budgets need many requests, saw {requests}");
}
