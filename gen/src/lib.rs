//! Seeded Ethereum-state generators, shared by the simulator (`snap-sim`), the node's demo and
//! `snap generate`:
//!
//! - [`StateSpec`]: a state of a given size and shape built in memory (an
//!   [`InMemoryState`](snap_core::serve::InMemoryState)), the simulator's target states;
//! - [`stream`]: a mainnet-like state produced in key order as write batches, with its tries
//!   built as the leaves stream, so a state of any size goes straight into a store in flat
//!   memory;
//! - [`SeededRng`]: the one source of randomness of both, and of the simulator.
//!
//! Both are pure functions of their seed and sizes.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod rng;
mod spec;
pub mod stream;

pub use rng::SeededRng;
pub use spec::{StateParts, StateSpec};
