//! devp2p transport for snap: sans-IO cores for RLPx, p2p, eth and snap, and a thin tokio
//! session layer on top.
//!
//! Sans-IO (no sockets, no clock, no tokio):
//! - [`rlpx`]: the ECIES handshake (EIP-8 and pre-EIP-8) and the frame codec;
//! - [`p2p`]: Hello, capability negotiation and message-id offsets, Disconnect, Ping/Pong,
//!   Snappy;
//! - [`eth`]: Status (eth/68, eth/69), verified GetBlockHeaders/BlockHeaders, empty replies;
//!   [`forkid`]: EIP-2124/EIP-6122 fork ids; [`chain`]: a served header chain;
//! - [`snap`]: snap/1 and snap/2 negotiation and the response tracker;
//! - [`connection`]: all of the above as one connection state machine; [`server`]: what it
//!   answers peers with.
//!
//! The tokio layer: [`session`] runs one task per TCP connection around a
//! [`connection::Connection`] and talks to its owner through channels.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chain;
pub mod chains;
pub mod connection;
pub mod discv4;
#[cfg(feature = "discv5")]
pub mod discv5;
pub mod enode;
pub mod eth;
pub mod forkid;
pub mod nodekey;
pub mod p2p;
pub mod peers;
pub mod rlpx;
pub mod server;
pub mod session;
pub mod snap;
pub mod test_peer;
