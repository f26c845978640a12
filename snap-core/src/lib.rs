//! # snap-core
//!
//! A sans-IO implementation of Ethereum's snap state-sync protocol (snap/1 and snap/2).
//!
//! This crate performs no I/O, reads no clock, owns no threads and draws no unseeded
//! randomness. Everything it needs from the outside world arrives as a value, and everything
//! it wants done leaves as a value:
//!
//! - [`wire`]: typed snap/1 and snap/2 messages with a bounded, never-panicking decoder.
//! - [`trie`]: Merkle range-proof verification and trie-node generation from verified ranges.
//! - [`bal`]: EIP-7928 block access lists: strict decoding and the post-block diff they imply.
//!
//! - [`serve`]: the serving side, a pure function of request, state view and limits.
//! - [`sync`]: the `Syncer` state machine (inputs carry `now`; outputs are drained until empty;
//!   timers are returned, never slept on): range downloads, then snap/1 healing or snap/2
//!   block-access-list catch-up with a local rebuild of the tries.
//! - [`dump`]: geth state dumps and genesis allocs.
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
pub mod serve;
pub mod sync;
pub mod trie;
pub mod wire;
