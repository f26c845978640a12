//! Shared fixtures for the criterion benches in `benches/benches/`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client_replay;
pub mod cpu_time;
pub mod proof_fixtures;
pub mod wire_fixtures;

pub use proof_fixtures::geth_range_trie;
pub use wire_fixtures::account_range_fixture;
