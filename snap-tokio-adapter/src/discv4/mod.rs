//! discv4 node discovery (with EIP-8 forward-compatible decoding and EIP-868 ENRs), sans-IO
//! like RLPx, plus a thin tokio UDP service around it.
//!
//! - [`wire`]: packets, signed and verified;
//! - [`table`]: the Kademlia table; [`lookup`]: iterative lookups;
//! - [`config`]: limits, timers, candidates, counters;
//! - [`protocol`]: the node state machine: endpoint proofs, lookups, liveness checks, ENR
//!   requests, and candidate peers filtered by their ENR's `eth` fork id;
//! - [`service`]: a tokio task owning the UDP socket, handing candidates out through a bounded
//!   channel ([`service::Discovery`]).
//!
//! Sans-IO in, IO out: [`protocol::Discv4`] takes datagrams with `now` and their source,
//! returns datagrams to send and the time to be woken at; its randomness comes from a seed.

pub mod bounded;
pub mod config;
pub mod lookup;
pub mod protocol;
pub mod service;
pub mod table;
pub mod wire;

pub use protocol::{
    Candidate, Discv4, Discv4Config, Discv4Limits, Discv4Stats, Discv4Timing, Transmit,
};
pub use service::{Discovery, DiscoveryConfig, DiscoveryHandle};
pub use wire::{Endpoint, Enr, NodeRecord};

#[cfg(test)]
mod tests;
