//! devp2p transport for snap: sans-IO cores for RLPx, p2p, eth and snap, and a thin tokio
//! session layer on top.
//!
//! - [`rlpx`]: the ECIES handshake and the frame codec, over byte buffers.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chain;
pub mod eth;
pub mod forkid;
pub mod p2p;
pub mod rlpx;
pub mod snap;
