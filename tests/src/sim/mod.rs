//! The deterministic simulator: one `Syncer` against simulated peers (the project's server
//! over a generated state, some of them faulty) on a simulated network, with an in-memory
//! store, a virtual clock, seeded crashes, and invariant checks after every step.
//!
//! With `moves > 0` the target moves: the [`Chain`] evolves the generated state block by
//! block (balances, nonces, slot writes and clears, new, deployed and deleted accounts), and
//! every `blocks_per_move` blocks (at `block_time` each, in virtual time) the runner feeds the
//! syncer `Input::NewTarget`. Peers serve the targets of the last `retain_blocks` blocks and
//! answer empty for older roots. Every write must be the data of some target the sync was
//! given; at the end the store must hold exactly the last target fed: its flat accounts and
//! slots, every code it references, and exactly its set of trie nodes. (A sync that finishes
//! before the chain stops ends there: the core takes no target after `Done`.) Codes are
//! content-addressed and served from every state the chain had; the first peer that serves
//! trie nodes faithfully speaks snap/1, since healing needs `GetTrieNodes`.
//!
//! A run is a pure function of its [`SimConfig`]: the same configuration gives the same
//! report byte for byte, apart from the wall time on the last line.

pub mod bal;
mod chain;
mod config;
mod exact;
mod network;
mod outcome;
mod peer;
pub mod pivot;
mod rng;
mod runner;
mod state;
mod store;
mod view;

pub use chain::{Chain, ChainStats};
pub use config::{Faults, SimConfig};
pub use exact::check_exact;
pub use network::{Event, EventQueue, NetConfig};
pub use outcome::{MoveRecord, Outcome, Probe, RequestCounts, RunOptions, Summary};
pub use peer::{Behaviour, Expectation, Peer, PeerStats, Reply};
pub use rng::SimRng;
pub use runner::{World, run, run_with};
pub use state::{StateSpec, TargetState};
pub use store::{Store, StoreMode, Written};
pub use view::Retained;
