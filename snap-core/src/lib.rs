//! # snap-core
//!
//! A sans-IO implementation of Ethereum's snap state-sync protocol (snap/1 and snap/2): the
//! wire codec, range proofs, trie generation, serving, and [`sync::Syncer`], the state machine
//! that downloads a state from untrusted peers. The core performs no I/O, reads no clock, owns
//! no threads and draws no unseeded randomness: everything it needs arrives as a value, and
//! everything it wants done leaves as one. The host owns the sockets, the clock, the store and
//! the server.
//!
//! ## The contract
//!
//! One [`Syncer`](sync::Syncer) per sync. The calls:
//!
//! | call | when |
//! |---|---|
//! | [`Syncer::new`](sync::Syncer::new)`(config, target, now)`, [`from_header`](sync::Syncer::from_header) | a fresh sync into an empty store |
//! | [`Syncer::resume_from_bytes`](sync::Syncer::resume_from_bytes)`(config, record, now)` | after a restart, from the progress record of the last batch applied |
//! | [`handle_input`](sync::Syncer::handle_input)`(now, input)` | something happened: a peer came or went, a response arrived, a batch was written, a lookup answered, the chain moved |
//! | [`poll_output`](sync::Syncer::poll_output)`()` | after every `handle_*` call, until it returns `None` |
//! | [`poll_timeout`](sync::Syncer::poll_timeout)`()` | after draining: the instant to call `handle_timeout` at (`None`: no timer) |
//! | [`handle_timeout`](sync::Syncer::handle_timeout)`(now)` | at that instant, or later; early or repeated calls are harmless |
//!
//! The order: wait for the next event or the deadline `poll_timeout` gave; feed it
//! (`handle_input`, or `handle_timeout` when the deadline passed); drain `poll_output` until
//! `None`, acting on each output; ask `poll_timeout` again. Every input carries `now`.
//!
//! The rules for each [`Output`](sync::Output):
//!
//! 1. **`Send { peer, message }`**: send the request. Its response comes back as
//!    [`Input::Response`](sync::Input::Response); the core matches it by id and peer and times
//!    it out itself. Requests *from* peers go to the host's server ([`serve::serve`]), never to
//!    the syncer: a request given as a response is the peer's violation.
//! 2. **`Write(batch)`**: apply the [`WriteBatch`](sync::WriteBatch) atomically (its data and
//!    its progress record together, all or nothing), in the order batches are handed out, then
//!    acknowledge it with [`Input::Written`](sync::Input::Written).
//!    [`sync::host::apply_batch`] is the order within a batch. While
//!    `max_unacknowledged_batches` are unacknowledged the core sends no new request.
//! 3. **`Lookup { id, lookup }`**: answer from the store *after applying every batch handed
//!    out before it* (batches and lookups form one ordered queue) with
//!    [`Input::LookupDone`](sync::Input::LookupDone). The sync waits for the answer.
//!    [`sync::host`] has the reference answers (`MemoryStore::answer`, `read_flat`).
//! 4. **`Disconnect { peer, reason }`**: the peer broke the protocol
//!    ([`Misbehaviour`](sync::Misbehaviour)); penalize and drop it. The core already stopped
//!    using it.
//! 5. **`Event(event)`**: show or log it. [`SyncEvent::Done`](sync::SyncEvent::Done) means
//!    the state is complete and every batch acknowledged; nothing follows it.
//!
//! And for the host's own inputs: a [`PeerId`](sync::PeerId) names one connection, never
//! reused while the core may still know it; report
//! [`Input::PeerDisconnected`](sync::Input::PeerDisconnected) for every peer that goes. A resumed sync continues from the store's last progress record, and
//! trusts what it wrote itself, nothing else: a fresh sync needs an empty store.
//!
//! ## A host loop
//!
//! The whole contract, run: a [`Syncer`](sync::Syncer) against a peer that answers with the
//! project's own server over an in-memory state, writing into the reference
//! [`MemoryStore`](sync::host::MemoryStore), until `Done`.
//!
//! ```
//! use std::{
//!     collections::VecDeque,
//!     time::{Duration, Instant},
//! };
//!
//! use alloy_primitives::{B256, Bytes, U256, keccak256};
//! use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
//! use nybbles::Nibbles;
//! use snap_core::{
//!     serve::{InMemoryState, NoBals, ServeLimits, serve},
//!     sync::{
//!         Input, Output, PeerId, SyncConfig, SyncEvent, Syncer, Target, host::MemoryStore,
//!     },
//!     wire::SnapVersion,
//! };
//!
//! // The state to sync: 300 accounts, every tenth a contract with code and ten slots.
//! let code = Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xf3]);
//! let mut accounts: Vec<(B256, TrieAccount)> = (0u64..300)
//!     .map(|i| {
//!         let code_hash = if i % 10 == 0 { keccak256(&code) } else { KECCAK_EMPTY };
//!         let balance = U256::from(i + 1);
//!         let account =
//!             TrieAccount { nonce: i, balance, storage_root: EMPTY_ROOT_HASH, code_hash };
//!         (keccak256(i.to_be_bytes()), account)
//!     })
//!     .collect();
//! accounts.sort_by_key(|(hash, _)| *hash);
//! let storage: Vec<(B256, Vec<(B256, Bytes)>)> = accounts
//!     .iter()
//!     .filter(|(_, account)| account.code_hash != KECCAK_EMPTY)
//!     .map(|(hash, _)| {
//!         let value = |s: u8| Bytes::from(alloy_rlp::encode(U256::from(s) + U256::from(1)));
//!         let mut slots: Vec<(B256, Bytes)> =
//!             (0u8..10).map(|s| (keccak256([s]), value(s))).collect();
//!         slots.sort_by_key(|(slot, _)| *slot);
//!         (*hash, slots)
//!     })
//!     .collect();
//! let state = InMemoryState::from_sorted(accounts, storage, [code])?;
//! let target = Target { root: state.root(), number: 1 };
//!
//! let start = Instant::now();
//! let mut now = start;
//! let mut syncer = Syncer::new(SyncConfig::default(), target, now);
//! let mut store = MemoryStore::new();
//! // What the host has to tell the core, in order.
//! let mut inputs =
//!     VecDeque::from([Input::PeerConnected { peer: PeerId(1), versions: vec![SnapVersion::V1] }]);
//! let mut done = false;
//! while !done {
//!     assert!(now < start + Duration::from_secs(3600), "the sync stalled");
//!     match inputs.pop_front() {
//!         Some(input) => syncer.handle_input(now, input),
//!         None => {
//!             // Nothing arrived: let time pass to the deadline the core asked for.
//!             let Some(deadline) = syncer.poll_timeout() else { break };
//!             now = now.max(deadline);
//!             syncer.handle_timeout(now);
//!         }
//!     }
//!     // Drain the outputs until `None`.
//!     while let Some(output) = syncer.poll_output() {
//!         match output {
//!             Output::Send { peer, message } => {
//!                 // The peer answers with its server.
//!                 let response = serve(&message, &state, &NoBals, &ServeLimits::default())?;
//!                 inputs.push_back(Input::Response { peer, message: response });
//!             }
//!             Output::Write(batch) => {
//!                 // Atomically, data and progress record together; then acknowledge.
//!                 let id = batch.id;
//!                 store.apply(batch);
//!                 inputs.push_back(Input::Written(id));
//!             }
//!             Output::Lookup { id, lookup } => {
//!                 // Every batch handed out before the lookup is applied already.
//!                 inputs.push_back(Input::LookupDone { id, answer: store.answer(&lookup) });
//!             }
//!             Output::Disconnect { peer, reason } => panic!("{peer:?} penalized: {reason}"),
//!             Output::Event(SyncEvent::Done { .. }) => done = true,
//!             Output::Event(_) => {}
//!         }
//!     }
//! }
//! assert!(done);
//! // The store holds the state: its flat accounts and slots, its code, and the account trie's
//! // root node, which hashes to the target's root.
//! assert_eq!(store.accounts().len(), 300);
//! assert_eq!(store.storage().len(), 300);
//! assert_eq!(store.codes().len(), 1);
//! let root_node = &store.nodes()[&(B256::ZERO, Nibbles::new())];
//! assert_eq!(keccak256(root_node), target.root);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A real host has the same shape, with a transport, a database, a wall clock and restarts:
//!
//! ```no_run
//! use std::time::Instant;
//!
//! use snap_core::{
//!     sync::{
//!         Input, Lookup, LookupAnswer, Output, PeerId, ProgressDecodeError, SyncConfig,
//!         SyncEvent, Syncer, Target, WriteBatch,
//!     },
//!     wire::SnapMessage,
//! };
//!
//! /// The network: sends requests, delivers responses and peer events.
//! trait Transport {
//!     fn send(&mut self, peer: PeerId, message: SnapMessage);
//!     fn disconnect(&mut self, peer: PeerId);
//!     /// The next peer event (`Input::PeerConnected`, `PeerDisconnected`, `Response`), or
//!     /// `None` when `deadline` passes first.
//!     fn next(&mut self, deadline: Option<Instant>) -> Option<Input>;
//! }
//!
//! /// The store: one transaction per batch (see `snap_core::sync::host::apply_batch`).
//! trait Database {
//!     fn apply_atomically(&mut self, batch: WriteBatch);
//!     fn answer(&self, lookup: &Lookup) -> LookupAnswer;
//!     /// The progress record of the last batch applied.
//!     fn progress(&self) -> Option<Vec<u8>>;
//! }
//!
//! fn run(
//!     net: &mut impl Transport,
//!     db: &mut impl Database,
//!     config: SyncConfig,
//!     target: Target,
//! ) -> Result<(), ProgressDecodeError> {
//!     let mut syncer = match db.progress() {
//!         Some(record) => Syncer::resume_from_bytes(config, &record, Instant::now())?,
//!         None => Syncer::new(config, target, Instant::now()),
//!     };
//!     // Inputs the host produces itself (acknowledgements, lookup answers), fed in order.
//!     let mut local = std::collections::VecDeque::new();
//!     loop {
//!         while let Some(output) = syncer.poll_output() {
//!             match output {
//!                 Output::Send { peer, message } => net.send(peer, message),
//!                 Output::Write(batch) => {
//!                     let id = batch.id;
//!                     db.apply_atomically(batch);
//!                     local.push_back(Input::Written(id));
//!                 }
//!                 Output::Lookup { id, lookup } => {
//!                     local.push_back(Input::LookupDone { id, answer: db.answer(&lookup) });
//!                 }
//!                 Output::Disconnect { peer, .. } => net.disconnect(peer),
//!                 Output::Event(SyncEvent::Done { .. }) => return Ok(()),
//!                 Output::Event(_) => {}
//!             }
//!         }
//!         if let Some(input) = local.pop_front() {
//!             syncer.handle_input(Instant::now(), input);
//!             continue;
//!         }
//!         match net.next(syncer.poll_timeout()) {
//!             Some(input) => syncer.handle_input(Instant::now(), input),
//!             None => syncer.handle_timeout(Instant::now()),
//!         }
//!     }
//! }
//! ```
//!
//! ## Modules
//!
//! - [`sync`]: the `Syncer` and its contract (inputs, outputs, write batches, lookups, events,
//!   misbehaviours, configuration, the persisted progress record), and [`sync::host`], what a
//!   host's store uses to keep it.
//! - [`serve`]: the serving side, a pure function of request, state view and limits.
//! - [`wire`]: typed snap/1 and snap/2 messages with a bounded, never-panicking decoder.
//! - [`trie`]: Merkle range-proof verification and trie-node generation from verified ranges.
//! - [`bal`]: EIP-7928 block access lists (alloy-eip7928's types): strict decoding and the
//!   post-block diff they imply.
//! - `dump` (feature `dump`): geth state dumps and genesis allocs, as served states.
//!
//! ## Invariants
//!
//! 1. Nothing leaves the core to be written before it was verified against a state root or a
//!    hash.
//! 2. Peer input never panics the core; every misbehaviour is a typed error.
//! 3. Memory is bounded by configuration, never by what a peer sends.
//! 4. The same inputs give the same outputs.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod bal;
#[cfg(feature = "dump")]
pub mod dump;
pub mod pivot;
pub mod serve;
pub mod sync;
pub mod trie;
pub mod wire;
