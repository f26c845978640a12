//! RLPx (devp2p's encrypted transport) as sans-IO state machines over byte buffers.
//!
//! - [`Handshake`]: the ECIES auth/ack exchange for the initiator and the recipient, EIP-8
//!   packets sent and both EIP-8 and pre-EIP-8 packets accepted; it yields the connection
//!   [`Secrets`].
//! - [`FrameEncoder`] / [`FrameDecoder`]: the framing after the handshake, AES-256-CTR with
//!   keccak-based MACs.
//!
//! Neither touches a socket or a clock; every failure is a typed [`RlpxError`].

mod ecies;
mod error;
mod frame;
mod handshake;
mod mac;

pub use ecies::{ECIES_OVERHEAD, decrypt as ecies_decrypt, encrypt as ecies_encrypt};
pub use error::RlpxError;
pub use frame::{FrameDecoder, FrameEncoder, MAX_FRAME_SIZE, frame_codecs};
pub use handshake::{
    Handshake, HandshakeOutcome, HandshakeRandom, MAX_HANDSHAKE_PACKET, NodeId, Secrets,
    fixed_handshake, fixed_key, node_id, public_key_from_id,
};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
