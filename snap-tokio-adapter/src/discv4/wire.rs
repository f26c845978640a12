//! discv4 packets: `hash || signature || type || RLP data`, signed by the sender's node key,
//! decoded EIP-8 style (extra list elements and trailing bytes are ignored), and the EIP-868
//! ENR request and response.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloy_primitives::{B256, B512, keccak256};
use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};

use crate::rlpx::NodeId;

/// An ENR as exchanged by EIP-868, secp256k1 ("v4") identity.
pub type Enr = enr::Enr<SigningKey>;

/// The largest discv4 packet (as geth and the spec: 1280 bytes).
pub const MAX_PACKET_SIZE: usize = 1280;
/// Hash, signature and type byte: the smallest packet is this plus an RLP list.
const HEAD_SIZE: usize = 32 + 65;
/// Most nodes we put in one Neighbours packet (fits 1280 bytes with IPv6 endpoints).
pub const MAX_NEIGHBOURS_PER_PACKET: usize = 12;

/// Ping (0x01).
pub const PING: u8 = 0x01;
/// Pong (0x02).
pub const PONG: u8 = 0x02;
/// FindNode (0x03).
pub const FIND_NODE: u8 = 0x03;
/// Neighbours (0x04).
pub const NEIGHBOURS: u8 = 0x04;
/// ENRRequest (0x05, EIP-868).
pub const ENR_REQUEST: u8 = 0x05;
/// ENRResponse (0x06, EIP-868).
pub const ENR_RESPONSE: u8 = 0x06;

/// Why a packet was dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than a header and an empty list, or longer than [`MAX_PACKET_SIZE`].
    #[error("packet of {0} bytes is outside the allowed size")]
    Size(usize),
    /// The hash does not cover the signature and data.
    #[error("packet hash mismatch")]
    Hash,
    /// The signature does not recover a public key.
    #[error("bad packet signature")]
    Signature,
    /// A packet type we do not know.
    #[error("unknown packet type {0}")]
    UnknownType(u8),
    /// Data that does not decode as its packet type.
    #[error("malformed packet: {0}")]
    Rlp(&'static str),
}

/// A UDP/TCP endpoint as discv4 carries it. An IP of another length than 4 or 16 bytes
/// decodes as `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The IP address.
    pub ip: Option<IpAddr>,
    /// The UDP (discovery) port.
    pub udp: u16,
    /// The TCP (RLPx) port.
    pub tcp: u16,
}

/// A node in a Neighbours packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// Where it is.
    pub endpoint: Endpoint,
    /// Its node id.
    pub id: NodeId,
}

/// A discv4 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Ping: "are you there", with our endpoint and what we think is theirs.
    Ping {
        /// Protocol version (4; not checked on receipt, EIP-8).
        version: u64,
        /// The sender's endpoint.
        from: Endpoint,
        /// The recipient's endpoint as the sender sees it.
        to: Endpoint,
        /// Unix time after which the packet is void.
        expiration: u64,
        /// The sender's ENR sequence number (EIP-868).
        enr_seq: Option<u64>,
    },
    /// Pong: the answer to a Ping, naming its hash.
    Pong {
        /// The Ping's sender endpoint as the answering node sees it.
        to: Endpoint,
        /// The hash of the Ping answered.
        ping_hash: B256,
        /// Unix time after which the packet is void.
        expiration: u64,
        /// The sender's ENR sequence number (EIP-868).
        enr_seq: Option<u64>,
    },
    /// FindNode: the nodes closest to `target`.
    FindNode {
        /// A 64-byte public key; distance is measured between keccak256 hashes.
        target: B512,
        /// Unix time after which the packet is void.
        expiration: u64,
    },
    /// Neighbours: the answer to FindNode (16 nodes over one or more packets).
    Neighbours {
        /// The nodes.
        nodes: Vec<NodeRecord>,
        /// Unix time after which the packet is void.
        expiration: u64,
    },
    /// ENRRequest (EIP-868).
    EnrRequest {
        /// Unix time after which the packet is void.
        expiration: u64,
    },
    /// ENRResponse (EIP-868).
    EnrResponse {
        /// The hash of the ENRRequest answered.
        request_hash: B256,
        /// The sender's record, signature verified by the decoder.
        enr: Box<Enr>,
    },
}

impl Message {
    /// The packet type byte.
    pub const fn kind(&self) -> u8 {
        match self {
            Self::Ping { .. } => PING,
            Self::Pong { .. } => PONG,
            Self::FindNode { .. } => FIND_NODE,
            Self::Neighbours { .. } => NEIGHBOURS,
            Self::EnrRequest { .. } => ENR_REQUEST,
            Self::EnrResponse { .. } => ENR_RESPONSE,
        }
    }

    /// The expiration, for the messages that carry one.
    pub const fn expiration(&self) -> Option<u64> {
        match self {
            Self::Ping { expiration, .. }
            | Self::Pong { expiration, .. }
            | Self::FindNode { expiration, .. }
            | Self::Neighbours { expiration, .. }
            | Self::EnrRequest { expiration } => Some(*expiration),
            Self::EnrResponse { .. } => None,
        }
    }
}

/// A verified packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The packet hash (what a Pong or ENRResponse names).
    pub hash: B256,
    /// The sender, recovered from the signature.
    pub node_id: NodeId,
    /// The message.
    pub message: Message,
}

fn list_header(payload_length: usize, out: &mut Vec<u8>) {
    RlpHeader { list: true, payload_length }.encode(out);
}

fn encode_endpoint(endpoint: &Endpoint, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(24);
    match endpoint.ip {
        Some(IpAddr::V4(ip)) => ip.octets().as_slice().encode(&mut body),
        Some(IpAddr::V6(ip)) => ip.octets().as_slice().encode(&mut body),
        None => (&[] as &[u8]).encode(&mut body),
    }
    endpoint.udp.encode(&mut body);
    endpoint.tcp.encode(&mut body);
    list_header(body.len(), out);
    out.extend_from_slice(&body);
}

fn encode_data(message: &Message) -> Vec<u8> {
    let mut body = Vec::with_capacity(256);
    match message {
        Message::Ping { version, from, to, expiration, enr_seq } => {
            version.encode(&mut body);
            encode_endpoint(from, &mut body);
            encode_endpoint(to, &mut body);
            expiration.encode(&mut body);
            if let Some(seq) = enr_seq {
                seq.encode(&mut body);
            }
        }
        Message::Pong { to, ping_hash, expiration, enr_seq } => {
            encode_endpoint(to, &mut body);
            ping_hash.encode(&mut body);
            expiration.encode(&mut body);
            if let Some(seq) = enr_seq {
                seq.encode(&mut body);
            }
        }
        Message::FindNode { target, expiration } => {
            target.encode(&mut body);
            expiration.encode(&mut body);
        }
        Message::Neighbours { nodes, expiration } => {
            let mut list = Vec::with_capacity(nodes.len() * 90);
            for node in nodes {
                let mut item = Vec::with_capacity(90);
                encode_endpoint(&node.endpoint, &mut item);
                // The node entry is the endpoint's three fields plus the id, in one list.
                let mut inner = &item[..];
                let header = RlpHeader::decode(&mut inner).expect("just encoded");
                debug_assert!(header.list);
                let mut fields = inner.to_vec();
                node.id.encode(&mut fields);
                list_header(fields.len(), &mut list);
                list.extend_from_slice(&fields);
            }
            list_header(list.len(), &mut body);
            body.extend_from_slice(&list);
            expiration.encode(&mut body);
        }
        Message::EnrRequest { expiration } => expiration.encode(&mut body),
        Message::EnrResponse { request_hash, enr } => {
            request_hash.encode(&mut body);
            enr.encode(&mut body);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    list_header(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// Signs and encodes `message` with `key`; returns the packet and its hash.
pub fn encode(key: &SigningKey, message: &Message) -> (Vec<u8>, B256) {
    let data = encode_data(message);
    let mut signed = Vec::with_capacity(1 + data.len());
    signed.push(message.kind());
    signed.extend_from_slice(&data);
    let (signature, recovery) = key
        .sign_prehash_recoverable(keccak256(&signed).as_slice())
        .expect("a 32-byte prehash always signs");
    let mut packet = vec![0u8; 32];
    packet.extend_from_slice(&signature.to_bytes());
    packet.push(recovery.to_byte());
    packet.extend_from_slice(&signed);
    let hash = keccak256(&packet[32..]);
    packet[..32].copy_from_slice(hash.as_slice());
    (packet, hash)
}

/// Reads the payload of an RLP list, leaving `buf` after it.
fn list<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    let header = RlpHeader::decode(buf).map_err(|_| WireError::Rlp("list header"))?;
    if !header.list || header.payload_length > buf.len() {
        return Err(WireError::Rlp("expected a list"));
    }
    let (payload, rest) = buf.split_at(header.payload_length);
    *buf = rest;
    Ok(payload)
}

fn field<T: Decodable>(buf: &mut &[u8], name: &'static str) -> Result<T, WireError> {
    T::decode(buf).map_err(|_| WireError::Rlp(name))
}

fn decode_endpoint_fields(p: &mut &[u8]) -> Result<Endpoint, WireError> {
    let ip_bytes: alloy_primitives::Bytes = field(p, "endpoint ip")?;
    let ip = match ip_bytes.len() {
        4 => {
            Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&ip_bytes[..]).unwrap_or_default())))
        }
        16 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&ip_bytes[..]).unwrap_or_default(),
        ))),
        _ => None,
    };
    let udp = field(p, "endpoint udp port")?;
    let tcp = field(p, "endpoint tcp port")?;
    Ok(Endpoint { ip, udp, tcp })
}

fn decode_endpoint(p: &mut &[u8]) -> Result<Endpoint, WireError> {
    let mut fields = list(p)?;
    decode_endpoint_fields(&mut fields)
}

/// An optional trailing integer (EIP-868's `enr-seq`): absent, or not an integer, is `None`.
fn optional_u64(p: &mut &[u8]) -> Option<u64> {
    if p.is_empty() { None } else { u64::decode(p).ok() }
}

fn decode_message(kind: u8, mut data: &[u8]) -> Result<Message, WireError> {
    let mut p = list(&mut data)?;
    let p = &mut p;
    Ok(match kind {
        PING => Message::Ping {
            version: field(p, "ping version")?,
            from: decode_endpoint(p)?,
            to: decode_endpoint(p)?,
            expiration: field(p, "ping expiration")?,
            enr_seq: optional_u64(p),
        },
        PONG => Message::Pong {
            to: decode_endpoint(p)?,
            ping_hash: field(p, "pong hash")?,
            expiration: field(p, "pong expiration")?,
            enr_seq: optional_u64(p),
        },
        FIND_NODE => Message::FindNode {
            target: field(p, "findnode target")?,
            expiration: field(p, "findnode expiration")?,
        },
        NEIGHBOURS => {
            let mut items = list(p)?;
            // A 1280-byte packet holds at most ~17 nodes; the size check bounds this loop.
            let mut nodes = Vec::new();
            while !items.is_empty() {
                let mut node = list(&mut items)?;
                let endpoint = decode_endpoint_fields(&mut node)?;
                let id = field(&mut node, "neighbour id")?;
                nodes.push(NodeRecord { endpoint, id });
            }
            Message::Neighbours { nodes, expiration: field(p, "neighbours expiration")? }
        }
        ENR_REQUEST => Message::EnrRequest { expiration: field(p, "enr request expiration")? },
        ENR_RESPONSE => Message::EnrResponse {
            request_hash: field(p, "enr response hash")?,
            enr: Box::new(field(p, "enr record")?),
        },
        other => return Err(WireError::UnknownType(other)),
    })
}

/// Checks the hash and signature of `bytes` and decodes the message. Everything after the
/// message's RLP list, and list elements past the known ones, are ignored (EIP-8).
pub fn decode(bytes: &[u8]) -> Result<Packet, WireError> {
    if bytes.len() <= HEAD_SIZE + 1 || bytes.len() > MAX_PACKET_SIZE {
        return Err(WireError::Size(bytes.len()));
    }
    let hash = keccak256(&bytes[32..]);
    if hash.as_slice() != &bytes[..32] {
        return Err(WireError::Hash);
    }
    let kind = bytes[HEAD_SIZE];
    if !(PING..=ENR_RESPONSE).contains(&kind) {
        return Err(WireError::UnknownType(kind));
    }
    let signature = Signature::from_slice(&bytes[32..96]).map_err(|_| WireError::Signature)?;
    let recovery = RecoveryId::from_byte(bytes[96]).ok_or(WireError::Signature)?;
    let prehash = keccak256(&bytes[HEAD_SIZE..]);
    let key = VerifyingKey::recover_from_prehash(prehash.as_slice(), &signature, recovery)
        .map_err(|_| WireError::Signature)?;
    let point = key.to_encoded_point(false);
    let node_id = NodeId::from_slice(&point.as_bytes()[1..]);
    let message = decode_message(kind, &bytes[HEAD_SIZE + 1..])?;
    Ok(Packet { hash, node_id, message })
}

/// The node id of an ENR's public key.
pub fn enr_node_id(enr: &Enr) -> NodeId {
    let point = enr.public_key().to_encoded_point(false);
    NodeId::from_slice(&point.as_bytes()[1..])
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
