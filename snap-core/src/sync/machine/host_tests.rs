//! The whole machine against a small in-crate host: an honest server over one or more states,
//! and the reference `MemoryStore`. The end check is exact: flat state, codes the state
//! references, and the stored node set of every trie.

use std::{collections::BTreeMap, time::Duration};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};

use crate::{
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    sync::{
        Input, Output, PeerId, Phase, SyncConfig, SyncEvent, Syncer, Target, WriteBatch,
        host::MemoryStore, rng::SplitMix64, test_epoch,
    },
    trie::{NodeKey, build_trie},
    wire::{SnapMessage, SnapVersion},
};

type Storage = BTreeMap<B256, BTreeMap<B256, Bytes>>;

/// A state as maps, easy to change between targets.
#[derive(Clone, Debug, Default)]
struct Spec {
    accounts: BTreeMap<B256, TrieAccount>,
    storage: Storage,
    codes: Vec<Bytes>,
}

impl Spec {
    fn generate(rng: &mut SplitMix64, accounts: u64, large_slots: u64) -> Self {
        let mut spec = Self::default();
        let codes: Vec<Bytes> = (0..4u8).map(|i| Bytes::from(vec![0x60, i, 0x00])).collect();
        for i in 0..accounts {
            let hash = keccak256(rng.next_u64().to_be_bytes());
            let code_hash =
                if i % 3 == 0 { keccak256(&codes[(i % 4) as usize]) } else { KECCAK_EMPTY };
            let account = TrieAccount {
                nonce: i,
                balance: U256::from(rng.next_u64()),
                storage_root: EMPTY_ROOT_HASH,
                code_hash,
            };
            spec.accounts.insert(hash, account);
            if i % 4 == 1 {
                let count = if i == 1 { large_slots } else { 1 + rng.next_u64() % 20 };
                spec.storage.insert(hash, slots(rng, count));
            }
        }
        spec.codes = codes;
        spec
    }

    /// The next state: balances and nonces changed, accounts deleted and created, slots
    /// written and cleared (also in the large contract), storage emptied.
    fn evolve(&self, rng: &mut SplitMix64, changes: u64) -> Self {
        let mut next = self.clone();
        let keys: Vec<B256> = next.accounts.keys().copied().collect();
        for _ in 0..changes {
            let key = keys[(rng.next_u64() % keys.len() as u64) as usize];
            match rng.next_u64() % 6 {
                0 => {
                    next.accounts.remove(&key);
                    next.storage.remove(&key);
                }
                1 => {
                    let hash = keccak256(rng.next_u64().to_be_bytes());
                    let account =
                        TrieAccount { nonce: 1, balance: U256::from(7), ..Default::default() };
                    next.accounts.insert(hash, TrieAccount { code_hash: KECCAK_EMPTY, ..account });
                    next.storage.insert(hash, slots(rng, 3));
                }
                2 => {
                    next.storage.remove(&key);
                }
                _ => {
                    if let Some(account) = next.accounts.get_mut(&key) {
                        account.balance += U256::from(1);
                        account.nonce += 1;
                    }
                    if let Some(list) = next.storage.get_mut(&key) {
                        list.extend(slots(rng, 2));
                        if let Some(first) = list.keys().next().copied() {
                            list.remove(&first);
                        }
                    }
                }
            }
        }
        // The large contract changes too.
        if let Some(list) = next.storage.values_mut().max_by_key(|list| list.len()) {
            list.extend(slots(rng, 50));
            let doomed: Vec<B256> = list.keys().step_by(7).copied().collect();
            for key in doomed {
                list.remove(&key);
            }
        }
        next.storage.retain(|owner, list| !list.is_empty() && next.accounts.contains_key(owner));
        next
    }

    fn build(&self) -> InMemoryState {
        let storage = self
            .storage
            .iter()
            .map(|(owner, list)| (*owner, list.iter().map(|(k, v)| (*k, v.clone())).collect()));
        InMemoryState::from_sorted(
            self.accounts.iter().map(|(h, a)| (*h, *a)).collect(),
            storage,
            self.codes.clone(),
        )
        .expect("a valid state")
    }
}

fn slots(rng: &mut SplitMix64, count: u64) -> BTreeMap<B256, Bytes> {
    (0..count)
        .map(|_| {
            let key = keccak256(rng.next_u64().to_be_bytes());
            let value = alloy_rlp::encode(U256::from(1 + rng.next_u64() % 1_000_000));
            (key, Bytes::from(value))
        })
        .collect()
}

fn config(seed: u64) -> SyncConfig {
    SyncConfig {
        min_request_bytes: 2 * 1024,
        max_request_bytes: 12 * 1024,
        min_slots_per_chunk: 100,
        max_storage_accounts_per_request: 8,
        batch_bytes: 16 * 1024,
        min_target_step: 1,
        // The scripts place each move in a phase and expect it followed at once.
        max_target_lag: 0,
        max_heal_paths_per_request: 64,
        // Every other seed holds the heal walk to a handful of nodes: it must still finish.
        max_heal_pending: if seed.is_multiple_of(2) { 8 } else { 1 << 17 },
        seed,
        ..SyncConfig::default()
    }
}

/// When, during a run, the host changes something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    /// After this many inputs.
    Step(usize),
    /// The first time the machine is in this phase.
    Phase(Phase),
    /// This many inputs after the previous move or crash.
    Later(usize),
}

struct Run {
    states: Vec<InMemoryState>,
    /// When to move to `states[i + 1]`.
    moves: Vec<When>,
    crashes: Vec<When>,
    seed: u64,
}

struct Ran {
    model: MemoryStore,
    target: usize,
    phases_at_moves: Vec<Phase>,
    nodes_healed: u64,
}

impl Run {
    fn run(self, mut model: MemoryStore) -> Ran {
        let mut now = test_epoch();
        let peers = [PeerId(1), PeerId(2), PeerId(3)];
        let mut target = 0;
        let first = Target { root: self.states[0].root(), number: 1 };
        let mut syncer = Syncer::new(config(self.seed), first, now);
        let connect = |syncer: &mut Syncer, now| {
            for peer in peers {
                syncer.handle_input(
                    now,
                    Input::PeerConnected { peer, versions: vec![SnapVersion::V1] },
                );
            }
        };
        connect(&mut syncer, now);
        let (mut moves, mut crashes) =
            (self.moves.into_iter().peekable(), self.crashes.into_iter().peekable());
        let mut phases_at_moves = Vec::new();
        let mut inbox = std::collections::VecDeque::new();
        let mut done = false;
        let mut nodes_healed = 0;
        let mut last_event = 0;
        for step in 0..200_000 {
            while let Some(output) = syncer.poll_output() {
                assert!(!done, "output after Done: {output:?}");
                match output {
                    Output::Send { peer, message } => {
                        let state = request_root(&message)
                            .and_then(|root| self.states.iter().find(|s| s.root() == root))
                            .unwrap_or(&self.states[target]);
                        let reply = serve(&message, state, &NoBals, &ServeLimits::default())
                            .expect("the syncer's requests are well formed");
                        inbox.push_back(Input::Response { peer, message: reply });
                    }
                    Output::Write(batch) => {
                        let id = batch.id;
                        model.apply(batch);
                        inbox.push_back(Input::Written(id));
                    }
                    Output::Lookup { id, lookup } => {
                        inbox.push_back(Input::LookupDone { id, answer: model.answer(&lookup) });
                    }
                    Output::Disconnect { peer, reason } => {
                        panic!("honest peer {peer:?} penalized: {reason}")
                    }
                    Output::Event(SyncEvent::Done { target: reached, counters }) => {
                        assert_eq!(reached.root, self.states[target].root());
                        nodes_healed = counters.nodes;
                        done = true;
                    }
                    Output::Event(_) => {}
                }
            }
            if done {
                return Ran { model, target, phases_at_moves, nodes_healed };
            }
            let due = |when: &When| match *when {
                When::Step(at) => step >= at,
                When::Phase(phase) => syncer.phase() == phase,
                When::Later(steps) => step >= last_event + steps,
            };
            if moves.peek().is_some_and(due) && target + 1 < self.states.len() {
                moves.next();
                last_event = step;
                phases_at_moves.push(syncer.phase());
                target += 1;
                let next =
                    Target { root: self.states[target].root(), number: 1 + target as u64 * 10 };
                syncer.handle_input(now, Input::NewTarget(next));
                continue;
            }
            if crashes.peek().is_some_and(due) {
                crashes.next();
                last_event = step;
                let record =
                    model.progress().cloned().expect("a batch was applied before the crash");
                syncer = Syncer::resume_from_bytes(config(self.seed + step as u64), &record, now)
                    .unwrap();
                inbox.clear();
                connect(&mut syncer, now);
                let current =
                    Target { root: self.states[target].root(), number: 1 + target as u64 * 10 };
                syncer.handle_input(now, Input::NewTarget(current));
                continue;
            }
            now += Duration::from_millis(50);
            match inbox.pop_front() {
                Some(input) => syncer.handle_input(now, input),
                None => syncer.handle_timeout(now),
            }
        }
        panic!("no Done within the step bound (phase {:?})", syncer.phase());
    }
}

/// `0..default`, or `0..$SNAP_HOST_SEEDS` for a longer local sweep.
fn seeds(default: u64) -> std::ops::Range<u64> {
    let count = std::env::var("SNAP_HOST_SEEDS").ok().and_then(|v| v.parse().ok());
    0..count.unwrap_or(default)
}

fn request_root(message: &SnapMessage) -> Option<B256> {
    match message {
        SnapMessage::GetAccountRange(m) => Some(m.root),
        SnapMessage::GetStorageRanges(m) => Some(m.root),
        SnapMessage::GetTrieNodes(m) => Some(m.root),
        _ => None,
    }
}

fn chain(seed: u64, accounts: u64, large: u64, moves: usize) -> Vec<InMemoryState> {
    let mut rng = SplitMix64::new(seed);
    let mut spec = Spec::generate(&mut rng, accounts, large);
    let mut states = vec![spec.build()];
    for _ in 0..moves {
        spec = spec.evolve(&mut rng, accounts / 10 + 1);
        states.push(spec.build());
    }
    states
}

/// Whether `store` holds exactly `state`: the same flat accounts and slots, every code the
/// accounts use, and exactly the stored nodes of every trie; the first difference otherwise.
fn exact(store: &MemoryStore, state: &InMemoryState) -> Result<(), String> {
    let mut expected = MemoryStore::new();
    let mut batch = WriteBatch { accounts: state.account_list().to_vec(), ..WriteBatch::default() };
    let leaves: Vec<(B256, Vec<u8>)> =
        state.account_list().iter().map(|(hash, a)| (*hash, alloy_rlp::encode(a))).collect();
    let mut tries = vec![(B256::ZERO, build_trie(&leaves))];
    for (hash, account) in state.account_list() {
        let slots = state.slot_list(hash);
        batch.storage.extend(slots.iter().map(|(slot, value)| (*hash, *slot, value.clone())));
        tries.push((*hash, build_trie(slots)));
        if account.code_hash != KECCAK_EMPTY && !store.codes().contains_key(&account.code_hash) {
            return Err(format!("code {} of account {hash} missing", account.code_hash));
        }
    }
    for (owner, trie) in tries {
        batch
            .nodes
            .writes
            .extend(trie.nodes.into_iter().map(|(path, node)| (NodeKey { owner, path }, node)));
    }
    expected.apply(batch);
    let first_difference =
        |what: &str, differs: bool| if differs { Err(format!("{what} differ")) } else { Ok(()) };
    first_difference("flat accounts", store.accounts() != expected.accounts())?;
    first_difference("flat slots", store.storage() != expected.storage())?;
    first_difference("trie nodes", store.nodes() != expected.nodes())
}

#[test]
fn fixed_target_ends_exact_with_healing_filling_the_boundaries() {
    let states = chain(1, 400, 600, 0);
    let ran = Run { states, moves: vec![], crashes: vec![], seed: 1 }.run(MemoryStore::new());
    exact(&ran.model, &ran_state(&ran, 1, 400, 600, 0)).unwrap();
    assert!(ran.nodes_healed > 0, "the chunk boundaries and the large contract need healing");
}

fn ran_state(ran: &Ran, seed: u64, accounts: u64, large: u64, moves: usize) -> InMemoryState {
    chain(seed, accounts, large, moves).swap_remove(ran.target)
}

#[test]
fn moves_during_ranges_and_healing_end_exact_on_the_last_target() {
    for seed in seeds(6) {
        let states = chain(100 + seed, 500, 800, 3);
        let moves = vec![
            When::Step(5 + (seed % 6) as usize * 7),
            When::Phase(Phase::Healing),
            When::Phase(Phase::Healing),
        ];
        let ran = Run { states, moves, crashes: vec![], seed }.run(MemoryStore::new());
        assert_eq!(ran.target, 3, "seed {seed}: every move was taken");
        assert_eq!(ran.phases_at_moves[0], Phase::Ranges, "seed {seed}");
        assert_eq!(ran.phases_at_moves[1], Phase::Healing, "seed {seed}");
        exact(&ran.model, &chain(100 + seed, 500, 800, 3)[3])
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn crashes_after_moves_and_during_healing_end_exact() {
    for seed in seeds(4) {
        let states = chain(200 + seed, 400, 600, 2);
        let moves = vec![When::Step(60), When::Phase(Phase::Healing)];
        let crashes = vec![When::Step(61), When::Step(150), When::Phase(Phase::Healing)];
        let ran = Run { states, moves, crashes, seed }.run(MemoryStore::new());
        exact(&ran.model, &chain(200 + seed, 400, 600, 2)[ran.target])
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn a_target_coming_back_to_an_earlier_root_ends_exact() {
    // A -> B -> A: healing for B replaces subtrees of A child-first; coming back to A midway
    // must not find an A node whose subtree already holds B's nodes.
    for seed in seeds(8) {
        let [a, b]: [InMemoryState; 2] = chain(300 + seed, 400, 500, 1).try_into().unwrap();
        let states = vec![a.clone(), b, a.clone()];
        let moves = vec![When::Phase(Phase::Healing), When::Later(2 + (seed % 6) as usize * 2)];
        let ran = Run { states, moves, crashes: vec![], seed }.run(MemoryStore::new());
        assert_eq!(ran.target, 2, "seed {seed}: back at A before B's healing ended");
        assert_eq!(ran.phases_at_moves, [Phase::Healing, Phase::Healing], "seed {seed}");
        exact(&ran.model, &a).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}
