//! The client alone: a whole sync's inputs recorded once, then replayed into a fresh `Syncer`
//! on one thread, so that the time measured is the client's CPU (decoding the responses,
//! verifying their proofs, generating the trie nodes, filling the write batches) and nothing
//! else: no server, no network, no store.
//!
//! Recording runs a `Syncer` against the project's server (`snap_core::serve::serve`) over a
//! generated state, with an in-memory store answering its lookups, feeding every response,
//! acknowledgement and lookup answer back in order. The `Syncer` is deterministic (sans-IO,
//! seeded), so the same inputs at the same instants make it send the same requests again:
//! the recorded responses answer the replay's requests exactly.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use alloy_primitives::Bytes;
use snap_core::{
    serve::{NoBals, ServeLimits, serve},
    sync::{
        Input, LookupAnswer, LookupId, Output, PeerId, Phase, SyncConfig, SyncEvent, Syncer,
        Target, host::MemoryStore,
    },
    wire::{Limits, SnapMessage, SnapVersion},
};
use snap_sim::sim::{StateSpec, TargetState, check_exact};

/// One input of the recorded sync, at its offset from the start.
#[derive(Clone, Debug)]
enum Recorded {
    Connect(PeerId),
    /// An encoded response: the replay decodes it (the client's work).
    Response {
        peer: PeerId,
        id: u8,
        bytes: Bytes,
    },
    Written(snap_core::sync::BatchId),
    Lookup {
        id: LookupId,
        answer: LookupAnswer,
    },
    Timeout,
}

/// A recorded sync, ready to replay.
#[derive(Debug)]
pub struct Recording {
    config: SyncConfig,
    target: Target,
    inputs: Vec<(Duration, Recorded)>,
    /// Bytes of all responses (encoded snap messages).
    pub response_bytes: u64,
    /// Number of responses.
    pub responses: u64,
    /// Accounts in the state.
    pub accounts: u64,
    /// Storage slots in the state.
    pub slots: u64,
    /// The RLP of every trie node the sync wrote, in write order.
    pub written_nodes: Vec<Bytes>,
}

/// The version every recorded peer speaks (snap/1: healing needs `GetTrieNodes`).
const VERSION: SnapVersion = SnapVersion::V1;

/// Records the sync of a generated state of `accounts` accounts and `slots` slots from `peers`
/// honest peers.
///
/// # Panics
///
/// If the state cannot be generated, the sync misbehaves, or it does not end with the store
/// holding exactly the state.
pub fn record(seed: u64, accounts: usize, slots: usize, peers: u64) -> Recording {
    let mut spec = StateSpec::new(seed, accounts, slots);
    spec.node_oracle = false;
    let state = TargetState::generate(&spec).expect("state generates").state;
    let config = SyncConfig { seed, ..SyncConfig::default() };
    let target = Target { root: state.root(), number: 1 };
    #[allow(clippy::disallowed_methods)]
    let base = Instant::now();
    let mut syncer = Syncer::new(config.clone(), target, base);
    let mut store = MemoryStore::new();
    let mut recording = Recording {
        config,
        target,
        inputs: Vec::new(),
        response_bytes: 0,
        responses: 0,
        accounts: state.account_list().len() as u64,
        slots: state.slot_count() as u64,
        written_nodes: Vec::new(),
    };
    let mut queue: VecDeque<Recorded> = (0..peers).map(|p| Recorded::Connect(PeerId(p))).collect();
    let mut now = Duration::ZERO;
    let limits = ServeLimits::default();
    let mut done = false;
    while !done {
        let next = match queue.pop_front() {
            Some(next) => next,
            None => {
                let deadline = syncer.poll_timeout().expect("a pending sync has a deadline");
                now = now.max(deadline.saturating_duration_since(base));
                Recorded::Timeout
            }
        };
        // A little time passes with every input, as on a real link.
        now += Duration::from_micros(100);
        feed(&mut syncer, base + now, &next);
        recording.inputs.push((now, next));
        while let Some(output) = syncer.poll_output() {
            match output {
                Output::Send { peer, message } => {
                    let reply = serve(&message, &state, &NoBals, &limits).expect("valid request");
                    let bytes = Bytes::from(reply.to_vec());
                    recording.response_bytes += bytes.len() as u64;
                    recording.responses += 1;
                    queue.push_back(Recorded::Response { peer, id: reply.id() as u8, bytes });
                }
                Output::Write(batch) => {
                    let id = batch.id;
                    recording
                        .written_nodes
                        .extend(batch.nodes.writes.iter().map(|(_, n)| n.clone()));
                    store.apply(batch);
                    queue.push_back(Recorded::Written(id));
                }
                Output::Lookup { id, lookup } => {
                    queue.push_back(Recorded::Lookup { id, answer: store.answer(&lookup) });
                }
                Output::Disconnect { peer, reason } => {
                    panic!("honest peer {} disconnected: {reason}", peer.0)
                }
                Output::Event(SyncEvent::Done { .. }) => done = true,
                Output::Event(_) => {}
            }
        }
    }
    check_exact(&store, &state).expect("the recorded sync stores exactly the state");
    recording
}

fn feed(syncer: &mut Syncer, now: Instant, input: &Recorded) {
    let input = match input {
        Recorded::Connect(peer) => Input::PeerConnected { peer: *peer, versions: vec![VERSION] },
        Recorded::Response { peer, id, bytes } => {
            let message = SnapMessage::decode_shared(VERSION, *id, bytes, &Limits::default())
                .expect("decodes");
            Input::Response { peer: *peer, message }
        }
        Recorded::Written(id) => Input::Written(*id),
        Recorded::Lookup { id, answer } => Input::LookupDone { id: *id, answer: answer.clone() },
        Recorded::Timeout => return syncer.handle_timeout(now),
    };
    syncer.handle_input(now, input);
}

/// What one replay produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Batches handed out.
    pub batches: u64,
    /// Trie nodes written.
    pub nodes: u64,
}

impl Recording {
    /// Replays the recorded inputs into a fresh `Syncer`, clearing its batches and giving them
    /// back as a host does after applying them.
    ///
    /// # Panics
    ///
    /// If the replay diverges from the recording (the sync does not end where it did).
    pub fn replay(&self) -> Replayed {
        #[allow(clippy::disallowed_methods)]
        let base = Instant::now();
        let mut syncer = Syncer::new(self.config.clone(), self.target, base);
        let mut replayed = Replayed::default();
        for (at, input) in &self.inputs {
            feed(&mut syncer, base + *at, input);
            while let Some(output) = syncer.poll_output() {
                if let Output::Write(mut batch) = output {
                    replayed.batches += 1;
                    replayed.nodes += batch.nodes.writes.len() as u64;
                    // As the node's writer does once a batch is applied.
                    batch.clear();
                    syncer.recycle_batch(batch);
                }
            }
        }
        assert_eq!(syncer.phase(), Phase::Done, "the replay diverged from the recording");
        replayed
    }

    /// The keccak floor: one keccak of every written node's RLP, with the workspace's keccak.
    pub fn keccak_floor(&self) -> alloy_primitives::B256 {
        let mut acc = alloy_primitives::B256::ZERO;
        for node in &self.written_nodes {
            let hash = alloy_primitives::keccak256(node);
            acc ^= hash;
        }
        acc
    }

    /// Decoding alone: every recorded response decoded and dropped.
    pub fn decode_all(&self) -> usize {
        let mut items = 0;
        for (_, input) in &self.inputs {
            if let Recorded::Response { id, bytes, .. } = input {
                let message = SnapMessage::decode_shared(VERSION, *id, bytes, &Limits::default())
                    .expect("decodes");
                items += message.encoded_len();
            }
        }
        items
    }
}
