//! The deterministic simulator: one `Syncer` against simulated peers (the project's server
//! over a generated state, some of them faulty) on a simulated network, with an in-memory
//! store, a virtual clock, seeded crashes, and invariant checks after every step.
//!
//! A run is a pure function of its [`SimConfig`]: the same configuration gives the same
//! report byte for byte, apart from the wall time on the last line.

mod config;
mod network;
mod outcome;
mod peer;
mod rng;
mod runner;
mod state;
mod store;

pub use config::{Faults, SimConfig};
pub use network::{Event, EventQueue, NetConfig};
pub use outcome::{Outcome, Probe, RequestCounts, RunOptions, Summary};
pub use peer::{Behaviour, Expectation, Peer, PeerStats, Reply};
pub use rng::SimRng;
pub use runner::{World, run, run_with};
pub use state::{StateSpec, TargetState};
pub use store::{Store, StoreMode, Written};
