//! The devp2p base protocol (`p2p`): Hello with capability negotiation and message-id
//! offsets, Disconnect, Ping/Pong, and the message codec with Snappy from p2p v5 on.

use alloy_primitives::B512;
use alloy_rlp::{Decodable, Encodable, Header, RlpDecodable, RlpEncodable};

use crate::rlpx::NodeId;

/// The p2p protocol version we announce; Snappy applies when both sides announce 5 or more.
pub const P2P_VERSION: u64 = 5;
/// Message ids the base protocol reserves before the first capability's offset.
pub const BASE_PROTOCOL_LENGTH: u8 = 16;
/// The largest message accepted after decompression, and the largest sent (16 MiB - 1, the
/// most a frame can carry).
pub const MAX_MESSAGE_SIZE: usize = (1 << 24) - 1;
/// Most capabilities accepted in a peer's Hello.
const MAX_CAPABILITIES: usize = 64;
/// Longest capability name accepted (the spec says 8 ASCII characters).
const MAX_CAPABILITY_NAME: usize = 32;

/// Hello (0x00).
pub const HELLO_ID: u64 = 0x00;
/// Disconnect (0x01).
pub const DISCONNECT_ID: u64 = 0x01;
/// Ping (0x02).
pub const PING_ID: u64 = 0x02;
/// Pong (0x03).
pub const PONG_ID: u64 = 0x03;

/// Errors of the p2p layer; each means the peer is dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum P2pError {
    /// RLP that does not decode as the expected message.
    #[error("malformed {0}: {1}")]
    Rlp(&'static str, alloy_rlp::Error),
    /// A message (compressed or not) over the size bound.
    #[error("message of {len} bytes exceeds {max}")]
    TooLarge {
        /// Size in bytes (declared decompressed size for Snappy data).
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Snappy data that does not decompress.
    #[error("invalid snappy data")]
    Snappy,
    /// A Hello with too many or malformed capabilities.
    #[error("bad capability list")]
    BadCapabilities,
    /// The peer shares no capability we need.
    #[error("no shared capability")]
    NoSharedCapability,
}

/// A capability (sub-protocol name and version) as listed in Hello.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, RlpEncodable, RlpDecodable)]
pub struct Capability {
    /// Protocol name, e.g. `eth` or `snap`.
    pub name: String,
    /// Protocol version.
    pub version: u32,
}

impl Capability {
    /// A capability from its name and version.
    pub fn new(name: &str, version: u32) -> Self {
        Self { name: name.to_owned(), version }
    }
}

/// Hello (0x00): `[protocolVersion, clientId, [[cap, version], ...], listenPort, nodeId, ...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The base protocol version.
    pub protocol_version: u64,
    /// Free-form client name.
    pub client_id: String,
    /// Capabilities the sender supports.
    pub capabilities: Vec<Capability>,
    /// Listening port (0 if none; ignored by modern clients).
    pub listen_port: u16,
    /// The sender's node id, which must equal the one the RLPx handshake proved.
    pub id: NodeId,
}

impl Hello {
    /// The RLP encoding (message data without the id).
    pub fn encode_data(&self) -> Vec<u8> {
        let payload_length = self.protocol_version.length()
            + self.client_id.length()
            + self.capabilities.length()
            + self.listen_port.length()
            + self.id.0.length();
        let mut out = Vec::with_capacity(payload_length + 4);
        Header { list: true, payload_length }.encode(&mut out);
        self.protocol_version.encode(&mut out);
        self.client_id.encode(&mut out);
        self.capabilities.encode(&mut out);
        self.listen_port.encode(&mut out);
        self.id.0.encode(&mut out);
        out
    }

    /// Decodes Hello, ignoring extra list elements and trailing data (EIP-8).
    pub fn decode_data(mut data: &[u8]) -> Result<Self, P2pError> {
        let err = |e| P2pError::Rlp("hello", e);
        let mut payload = list_payload(&mut data).map_err(err)?;
        let protocol_version = u64::decode(&mut payload).map_err(err)?;
        let client_id = String::decode(&mut payload).map_err(err)?;
        let mut caps_payload = list_payload(&mut payload).map_err(err)?;
        let mut capabilities = Vec::new();
        while !caps_payload.is_empty() {
            if capabilities.len() >= MAX_CAPABILITIES {
                return Err(P2pError::BadCapabilities);
            }
            let cap = Capability::decode(&mut caps_payload).map_err(err)?;
            if cap.name.is_empty() || cap.name.len() > MAX_CAPABILITY_NAME {
                return Err(P2pError::BadCapabilities);
            }
            capabilities.push(cap);
        }
        let listen_port = u16::decode(&mut payload).map_err(err)?;
        let id = <[u8; 64]>::decode(&mut payload).map_err(err)?;
        Ok(Self { protocol_version, client_id, capabilities, listen_port, id: B512::from(id) })
    }
}

/// Reads an RLP list header and returns its payload, advancing `buf` past the list.
pub(crate) fn list_payload<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], alloy_rlp::Error> {
    let header = Header::decode(buf)?;
    if !header.list {
        return Err(alloy_rlp::Error::UnexpectedString);
    }
    let payload = buf.get(..header.payload_length).ok_or(alloy_rlp::Error::InputTooShort)?;
    *buf = &buf[header.payload_length..];
    Ok(payload)
}

/// Disconnect reasons (devp2p `rlpx.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// 0x00: disconnect requested.
    Requested,
    /// 0x01: TCP sub-system error.
    TcpError,
    /// 0x02: breach of protocol, e.g. a malformed message or bad RLP.
    BreachOfProtocol,
    /// 0x03: useless peer.
    UselessPeer,
    /// 0x04: too many peers.
    TooManyPeers,
    /// 0x05: already connected.
    AlreadyConnected,
    /// 0x06: incompatible p2p protocol version.
    IncompatibleVersion,
    /// 0x07: invalid node identity.
    InvalidIdentity,
    /// 0x08: client quitting.
    ClientQuitting,
    /// 0x09: unexpected identity in handshake.
    UnexpectedIdentity,
    /// 0x0a: identity is the same as this node.
    ConnectedToSelf,
    /// 0x0b: ping timeout.
    PingTimeout,
    /// 0x10: some other reason specific to a subprotocol.
    SubprotocolError,
    /// A code this list does not know.
    Other(u8),
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Self::Requested => "disconnect requested",
            Self::TcpError => "TCP error",
            Self::BreachOfProtocol => "breach of protocol",
            Self::UselessPeer => "useless peer",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleVersion => "incompatible p2p version",
            Self::InvalidIdentity => "invalid node identity",
            Self::ClientQuitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity",
            Self::ConnectedToSelf => "connected to self",
            Self::PingTimeout => "ping timeout",
            Self::SubprotocolError => "subprotocol error",
            Self::Other(code) => return write!(f, "disconnect reason {code:#04x}"),
        };
        f.write_str(text)
    }
}

impl DisconnectReason {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Requested => 0x00,
            Self::TcpError => 0x01,
            Self::BreachOfProtocol => 0x02,
            Self::UselessPeer => 0x03,
            Self::TooManyPeers => 0x04,
            Self::AlreadyConnected => 0x05,
            Self::IncompatibleVersion => 0x06,
            Self::InvalidIdentity => 0x07,
            Self::ClientQuitting => 0x08,
            Self::UnexpectedIdentity => 0x09,
            Self::ConnectedToSelf => 0x0a,
            Self::PingTimeout => 0x0b,
            Self::SubprotocolError => 0x10,
            Self::Other(code) => code,
        }
    }

    /// The reason for a wire code.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0x00 => Self::Requested,
            0x01 => Self::TcpError,
            0x02 => Self::BreachOfProtocol,
            0x03 => Self::UselessPeer,
            0x04 => Self::TooManyPeers,
            0x05 => Self::AlreadyConnected,
            0x06 => Self::IncompatibleVersion,
            0x07 => Self::InvalidIdentity,
            0x08 => Self::ClientQuitting,
            0x09 => Self::UnexpectedIdentity,
            0x0a => Self::ConnectedToSelf,
            0x0b => Self::PingTimeout,
            0x10 => Self::SubprotocolError,
            other => Self::Other(other),
        }
    }

    /// Disconnect's message data: `[reason]`.
    pub fn encode_data(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3);
        Header { list: true, payload_length: self.code().length() }.encode(&mut out);
        self.code().encode(&mut out);
        out
    }

    /// Decodes Disconnect data leniently: `[reason]`, a bare reason, or nothing at all
    /// (then [`Self::Requested`]) are all seen in the wild.
    pub fn decode_data(mut data: &[u8]) -> Self {
        if data.is_empty() {
            return Self::Requested;
        }
        let mut inner = match list_payload(&mut data) {
            Ok(payload) => payload,
            Err(_) => data,
        };
        if inner.is_empty() {
            return Self::Requested;
        }
        u8::decode(&mut inner).map_or(Self::Other(0xff), Self::from_code)
    }
}

/// A capability both sides support, at the highest common version, with its offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedCapability {
    /// Protocol name.
    pub name: String,
    /// Negotiated version.
    pub version: u32,
    /// First message id of this capability on the connection.
    pub offset: u8,
    /// Message ids the capability reserves at that version.
    pub length: u8,
}

/// Negotiates capabilities: for each name both lists hold, the highest version both support
/// and whose message space `length_of(name, version)` knows; the result is sorted by name and
/// offsets are assigned in that order after the base protocol's 16 ids.
pub fn negotiate(
    ours: &[Capability],
    theirs: &[Capability],
    length_of: impl Fn(&str, u32) -> Option<u8>,
) -> Result<Vec<SharedCapability>, P2pError> {
    let mut names: Vec<&str> = ours.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut shared = Vec::new();
    let mut offset = BASE_PROTOCOL_LENGTH;
    for name in names {
        let best = ours
            .iter()
            .filter(|c| c.name == name && theirs.contains(c))
            .filter_map(|c| length_of(name, c.version).map(|len| (c.version, len)))
            .max();
        if let Some((version, length)) = best {
            shared.push(SharedCapability { name: name.to_owned(), version, offset, length });
            offset = offset.checked_add(length).ok_or(P2pError::BadCapabilities)?;
        }
    }
    Ok(shared)
}

/// Turns messages into frame payloads and back: `rlp(id) || data`, the data Snappy-compressed
/// once both sides announced p2p v5 (Hello itself never is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageCodec {
    /// Whether Snappy is on.
    pub snappy: bool,
    /// Largest message data accepted or sent, after decompression.
    pub max_size: usize,
}

impl Default for MessageCodec {
    fn default() -> Self {
        Self { snappy: false, max_size: MAX_MESSAGE_SIZE }
    }
}

impl MessageCodec {
    /// The frame payload for message `id` with RLP `data`.
    pub fn encode(&self, id: u64, data: &[u8]) -> Result<Vec<u8>, P2pError> {
        if data.len() > self.max_size {
            return Err(P2pError::TooLarge { len: data.len(), max: self.max_size });
        }
        let mut out = Vec::with_capacity(9 + data.len());
        id.encode(&mut out);
        if self.snappy {
            let compressed =
                snap::raw::Encoder::new().compress_vec(data).map_err(|_| P2pError::Snappy)?;
            out.extend_from_slice(&compressed);
        } else {
            out.extend_from_slice(data);
        }
        Ok(out)
    }

    /// Splits a frame payload into message id and (decompressed) data. The declared
    /// decompressed size is checked before anything is allocated for it.
    pub fn decode(&self, mut payload: &[u8]) -> Result<(u64, Vec<u8>), P2pError> {
        let id = u64::decode(&mut payload).map_err(|e| P2pError::Rlp("message id", e))?;
        if !self.snappy {
            if payload.len() > self.max_size {
                return Err(P2pError::TooLarge { len: payload.len(), max: self.max_size });
            }
            return Ok((id, payload.to_vec()));
        }
        let len = snap::raw::decompress_len(payload).map_err(|_| P2pError::Snappy)?;
        if len > self.max_size {
            return Err(P2pError::TooLarge { len, max: self.max_size });
        }
        let data =
            snap::raw::Decoder::new().decompress_vec(payload).map_err(|_| P2pError::Snappy)?;
        Ok((id, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lengths(name: &str, version: u32) -> Option<u8> {
        match (name, version) {
            ("eth", 68) => Some(17),
            ("eth", 69) => Some(18),
            ("snap", 1) => Some(8),
            ("snap", 2) => Some(10),
            _ => None,
        }
    }

    #[test]
    fn offsets_follow_name_order_and_negotiated_versions() {
        let ours =
            [Capability::new("snap", 1), Capability::new("eth", 68), Capability::new("eth", 69)];
        let theirs =
            [Capability::new("eth", 68), Capability::new("snap", 1), Capability::new("les", 4)];
        let shared = negotiate(&ours, &theirs, lengths).expect("fits");
        assert_eq!(shared.len(), 2);
        assert_eq!(
            (shared[0].name.as_str(), shared[0].version, shared[0].offset),
            ("eth", 68, 0x10)
        );
        assert_eq!(
            (shared[1].name.as_str(), shared[1].version, shared[1].offset),
            ("snap", 1, 0x21)
        );
        let theirs =
            [Capability::new("snap", 1), Capability::new("eth", 69), Capability::new("eth", 68)];
        let shared = negotiate(&ours, &theirs, lengths).expect("fits");
        assert_eq!((shared[0].version, shared[1].offset), (69, 0x22));
        assert!(negotiate(&ours, &[Capability::new("les", 4)], lengths).expect("ok").is_empty());
    }

    #[test]
    fn eip8_hello_with_version_22_and_extra_elements_decodes() {
        // EIP-8 test vector "devp2p hello packet advertising version 22 and containing a few
        // additional list elements" (encoded protocol version 0x37, capability mork/22).
        let data = ::hex::decode(concat!(
            "f87137916b6e6574682f76302e39312f706c616e39cdc5836574683dc6846d6f726b1682270fb840",
            "fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569",
            "bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877c883666f6f836261720304"
        ))
        .expect("hex");
        let hello = Hello::decode_data(&data).expect("decodes");
        assert_eq!(hello.protocol_version, 55);
        assert_eq!(hello.client_id, "kneth/v0.91/plan9");
        assert_eq!(
            hello.capabilities,
            vec![Capability::new("eth", 61), Capability::new("mork", 22)]
        );
        assert_eq!(hello.listen_port, 9999);
    }

    #[test]
    fn disconnect_decodes_every_form_seen() {
        assert_eq!(
            DisconnectReason::decode_data(&DisconnectReason::TooManyPeers.encode_data()),
            DisconnectReason::TooManyPeers
        );
        assert_eq!(DisconnectReason::decode_data(&[0x04]), DisconnectReason::TooManyPeers);
        assert_eq!(DisconnectReason::decode_data(&[0xc0]), DisconnectReason::Requested);
        assert_eq!(DisconnectReason::decode_data(&[]), DisconnectReason::Requested);
        assert_eq!(DisconnectReason::decode_data(&[0xc1, 0x42]), DisconnectReason::Other(0x42));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn codec_round_trips_with_and_without_snappy(
            id in 0u64..0x40,
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            snappy in any::<bool>(),
        ) {
            let codec = MessageCodec { snappy, max_size: 4096 };
            let payload = codec.encode(id, &data)?;
            prop_assert_eq!(codec.decode(&payload)?, (id, data));
        }

        #[test]
        fn hello_round_trips(caps in proptest::collection::vec(("[a-z]{1,8}", 0u32..100), 0..6), port: u16) {
            let hello = Hello {
                protocol_version: 5,
                client_id: "snap".into(),
                capabilities: caps.into_iter().map(|(name, version)| Capability { name, version }).collect(),
                listen_port: port,
                id: B512::repeat_byte(7),
            };
            prop_assert_eq!(Hello::decode_data(&hello.encode_data())?, hello);
        }
    }

    #[test]
    fn snappy_bombs_are_refused_before_allocation() {
        let codec = MessageCodec { snappy: true, max_size: 1024 };
        let big = MessageCodec { snappy: true, max_size: 1 << 20 }
            .encode(3, &[0u8; 10_000])
            .expect("fits");
        assert!(big.len() < 1024, "compresses well");
        assert_eq!(codec.decode(&big), Err(P2pError::TooLarge { len: 10_000, max: 1024 }));
        assert_eq!(codec.decode(&[0x03, 0xff, 0xff]), Err(P2pError::Snappy));
    }
}
