//! [`RlpxError`]: every way the handshake and the frame codec fail.

/// Errors of the RLPx handshake and frame codec. Every one means: drop the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RlpxError {
    /// An ECIES message shorter than its fixed overhead.
    #[error("ecies message of {0} bytes is shorter than its overhead")]
    EciesTooShort(usize),
    /// The ECIES HMAC did not match.
    #[error("ecies tag mismatch")]
    EciesBadTag,
    /// A public key that is not a point on secp256k1.
    #[error("invalid public key")]
    BadPublicKey,
    /// A signature that does not recover to a public key.
    #[error("invalid handshake signature")]
    BadSignature,
    /// A handshake packet whose declared size is out of bounds.
    #[error("handshake packet of {0} bytes is out of bounds")]
    HandshakeSize(usize),
    /// A handshake body that is not the expected RLP.
    #[error("malformed handshake body: {0}")]
    HandshakeBody(&'static str),
    /// Input after the handshake already failed or finished.
    #[error("handshake is no longer accepting input")]
    HandshakeFinished,
    /// A frame header whose MAC did not match.
    #[error("frame header mac mismatch")]
    HeaderMac,
    /// A frame body whose MAC did not match.
    #[error("frame body mac mismatch")]
    FrameMac,
    /// A frame larger than the configured bound.
    #[error("frame of {len} bytes exceeds the bound of {max}")]
    FrameTooLarge {
        /// Declared (or requested) frame size.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A frame with no payload (every devp2p frame carries at least a message id).
    #[error("empty frame")]
    EmptyFrame,
    /// Input after the frame decoder already failed.
    #[error("frame decoder failed earlier")]
    DecoderFailed,
}
