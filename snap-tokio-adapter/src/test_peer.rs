//! A scripted devp2p peer over a real socket, for tests of nodes facing hostile peers. It
//! speaks RLPx, Hello and Status correctly (on whatever chain it is told to claim) and then
//! does what a test asks: pipeline requests without reading the answers, hold a connection
//! idle, answer late, send made-up headers (fake chains, very high heads, unlinked
//! headers), or send anything else, framed or not. It dials a node or accepts a node's dial.
//!
//! Not for production use: it trusts the node it talks to and panics on nothing but keeps
//! every error as an `io::Error`.

use std::{io, net::SocketAddr, time::Duration};

use alloy_primitives::Bytes;
use k256::SecretKey;
use rand_core::OsRng;
use snap_core::wire::{Limits, SnapMessage, SnapVersion};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

use crate::{
    eth::{self, BlockHeaders, ChainInfo, EthVersion, GetBlockHeaders, Status},
    p2p::{self, Capability, Hello, MessageCodec, P2P_VERSION},
    rlpx::{FrameDecoder, FrameEncoder, Handshake, HandshakeRandom, NodeId, frame_codecs, node_id},
};

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

/// What a [`TestPeer`] claims to be.
#[derive(Clone, Debug)]
pub struct TestPeerConfig {
    /// Its key.
    pub key: SecretKey,
    /// The chain its Status announces (any head, any network).
    pub chain: ChainInfo,
    /// The eth version it offers.
    pub eth: EthVersion,
    /// The snap version it offers (`None`: eth only).
    pub snap: Option<SnapVersion>,
    /// Whether it answers Pings while waiting for messages.
    pub answer_pings: bool,
}

impl TestPeerConfig {
    /// A fresh key on `chain`, eth/68 and snap/1, answering Pings.
    pub fn new(chain: ChainInfo) -> Self {
        Self {
            key: SecretKey::random(&mut OsRng),
            chain,
            eth: EthVersion::V68,
            snap: Some(SnapVersion::V1),
            answer_pings: true,
        }
    }

    /// The node id.
    pub fn id(&self) -> NodeId {
        node_id(&self.key.public_key())
    }
}

/// A connected scripted peer (see the module docs).
#[derive(Debug)]
pub struct TestPeer {
    reader: OwnedReadHalf,
    writer: Option<OwnedWriteHalf>,
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    codec: MessageCodec,
    config: TestPeerConfig,
    /// The node's Hello.
    pub hello: Hello,
    /// The node's Status (`None` if it disconnected instead).
    pub status: Option<Status>,
    /// The eth message-id offset.
    pub eth_offset: u8,
    /// The snap message-id offset and version, if negotiated.
    pub snap: Option<(SnapVersion, u8)>,
}

impl TestPeer {
    /// Dials the node `remote` at `addr` and completes RLPx, Hello and Status.
    pub async fn dial(
        addr: SocketAddr,
        remote: &NodeId,
        config: TestPeerConfig,
    ) -> io::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        let (mut handshake, auth) =
            Handshake::initiator(config.key.clone(), remote, HandshakeRandom::generate(&mut OsRng))
                .map_err(invalid)?;
        stream.write_all(&auth).await?;
        let (outcome, stream) = finish_handshake(stream, &mut handshake).await?;
        Self::after_handshake(stream, outcome, config).await
    }

    /// Accepts one dial on `listener` and completes RLPx, Hello and Status.
    pub async fn accept(listener: &TcpListener, config: TestPeerConfig) -> io::Result<Self> {
        let (stream, _) = listener.accept().await?;
        let mut handshake =
            Handshake::recipient(config.key.clone(), HandshakeRandom::generate(&mut OsRng));
        let (outcome, stream) = finish_handshake(stream, &mut handshake).await?;
        Self::after_handshake(stream, outcome, config).await
    }

    async fn after_handshake(
        mut stream: TcpStream,
        outcome: crate::rlpx::HandshakeOutcome,
        config: TestPeerConfig,
    ) -> io::Result<Self> {
        stream.write_all(&outcome.reply).await?;
        let (encoder, mut decoder) = frame_codecs(&outcome.secrets, p2p::MAX_MESSAGE_SIZE);
        decoder.feed(&outcome.leftover);
        let (reader, writer) = stream.into_split();
        let mut peer = Self {
            reader,
            writer: Some(writer),
            encoder,
            decoder,
            codec: MessageCodec { snappy: false, max_size: p2p::MAX_MESSAGE_SIZE },
            hello: Hello {
                protocol_version: 0,
                client_id: String::new(),
                capabilities: vec![],
                listen_port: 0,
                id: NodeId::default(),
            },
            status: None,
            eth_offset: 0x10,
            snap: None,
            config,
        };
        let mut caps = vec![Capability::new("eth", peer.config.eth.number())];
        if let Some(snap) = peer.config.snap {
            caps.push(Capability::new("snap", u32::from(snap.number())));
        }
        let hello = Hello {
            protocol_version: P2P_VERSION,
            client_id: "snap-test-peer".into(),
            capabilities: caps.clone(),
            listen_port: 0,
            id: peer.config.id(),
        };
        peer.send(p2p::HELLO_ID, &hello.encode_data()).await?;
        let (code, data) = peer.recv_raw(Duration::from_secs(10)).await?;
        if code == p2p::DISCONNECT_ID {
            return Err(refused(&data));
        }
        if code != p2p::HELLO_ID {
            return Err(invalid(format!("expected hello, got {code:#x}")));
        }
        peer.hello = Hello::decode_data(&data).map_err(invalid)?;
        peer.codec.snappy = peer.hello.protocol_version >= 5;
        let eth = peer.config.eth;
        let snap = peer.config.snap;
        let shared = p2p::negotiate(&caps, &peer.hello.capabilities, |name, version| match name {
            "eth" if version == eth.number() => Some(eth.message_space()),
            "snap" if snap.is_some_and(|s| u32::from(s.number()) == version) => {
                snap.map(SnapVersion::message_space)
            }
            _ => None,
        })
        .map_err(invalid)?;
        for capability in shared {
            match capability.name.as_str() {
                "eth" => peer.eth_offset = capability.offset,
                "snap" => peer.snap = snap.map(|s| (s, capability.offset)),
                _ => {}
            }
        }
        let status = peer.config.chain.status(eth).encode_data(eth);
        peer.send(u64::from(peer.eth_offset) + u64::from(eth::STATUS), &status).await?;
        let (code, data) = peer.recv(Duration::from_secs(10)).await?;
        if code == u64::from(peer.eth_offset) + u64::from(eth::STATUS) {
            peer.status = Some(Status::decode_data(eth, &data).map_err(invalid)?);
        } else if code == p2p::DISCONNECT_ID {
            return Err(refused(&data));
        } else {
            return Err(invalid(format!("expected status, got {code:#x}")));
        }
        Ok(peer)
    }

    /// The frame bytes of message `code` (for pipelining many without waiting).
    pub fn frame(&mut self, code: u64, data: &[u8]) -> io::Result<Vec<u8>> {
        let codec = if code == p2p::HELLO_ID {
            MessageCodec { snappy: false, ..self.codec }
        } else {
            self.codec
        };
        let payload = codec.encode(code, data).map_err(invalid)?;
        let mut out = Vec::new();
        self.encoder.encode(&payload, &mut out).map_err(invalid)?;
        Ok(out)
    }

    /// The frame bytes of a snap message.
    pub fn snap_frame(&mut self, message: &SnapMessage) -> io::Result<Vec<u8>> {
        let (_, offset) = self.snap.ok_or_else(|| invalid("snap not negotiated"))?;
        self.frame(u64::from(offset) + message.id() as u64, &message.to_vec())
    }

    /// Writes raw bytes.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let writer = self.writer.as_mut().ok_or_else(|| invalid("the writer was taken"))?;
        writer.write_all(bytes).await
    }

    /// Takes the writing half, to write (say, pipelined frames from [`Self::frame`]) from
    /// another task while this one reads, or not.
    pub fn take_writer(&mut self) -> Option<OwnedWriteHalf> {
        self.writer.take()
    }

    /// Sends message `code`.
    pub async fn send(&mut self, code: u64, data: &[u8]) -> io::Result<()> {
        let bytes = self.frame(code, data)?;
        self.write_raw(&bytes).await
    }

    /// Sends a snap message.
    pub async fn send_snap(&mut self, message: &SnapMessage) -> io::Result<()> {
        let bytes = self.snap_frame(message)?;
        self.write_raw(&bytes).await
    }

    /// Sends BlockHeaders with these raw (RLP) headers, linked or not, as the answer to
    /// `request_id`.
    pub async fn send_headers(&mut self, request_id: u64, headers: &[Bytes]) -> io::Result<()> {
        let code = u64::from(self.eth_offset) + u64::from(eth::BLOCK_HEADERS);
        self.send(code, &BlockHeaders::encode_raw(request_id, headers)).await
    }

    async fn recv_raw(&mut self, wait: Duration) -> io::Result<(u64, Vec<u8>)> {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(invalid)? {
                let codec = if self.hello.protocol_version == 0 {
                    MessageCodec { snappy: false, ..self.codec }
                } else {
                    self.codec
                };
                return codec.decode(&frame).map_err(invalid);
            }
            let read = tokio::time::timeout(wait, self.reader.read(&mut buffer))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no message in time"))??;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.decoder.feed(&buffer[..read]);
        }
    }

    /// The next message (code, data) within `wait`, answering Pings on the way if so
    /// configured. A Disconnect is returned like any message.
    pub async fn recv(&mut self, wait: Duration) -> io::Result<(u64, Vec<u8>)> {
        loop {
            let (code, data) = self.recv_raw(wait).await?;
            if code == p2p::PING_ID && self.config.answer_pings {
                self.send(p2p::PONG_ID, &[alloy_rlp::EMPTY_LIST_CODE]).await?;
                continue;
            }
            if code == p2p::PONG_ID {
                continue;
            }
            return Ok((code, data));
        }
    }

    /// The next snap message within `wait` (other messages are skipped; a Disconnect is an
    /// error naming its reason).
    pub async fn recv_snap(&mut self, wait: Duration) -> io::Result<SnapMessage> {
        let (version, offset) = self.snap.ok_or_else(|| invalid("snap not negotiated"))?;
        loop {
            let (code, data) = self.recv(wait).await?;
            if code == p2p::DISCONNECT_ID {
                return Err(refused(&data));
            }
            let end = u64::from(offset) + u64::from(version.message_space());
            if (u64::from(offset)..end).contains(&code) {
                let id = (code - u64::from(offset)) as u8;
                return SnapMessage::decode(version, id, &data, &Limits::default())
                    .map_err(invalid);
            }
        }
    }

    /// The next GetBlockHeaders within `wait` (other messages are skipped).
    pub async fn recv_get_headers(&mut self, wait: Duration) -> io::Result<GetBlockHeaders> {
        loop {
            let (code, data) = self.recv(wait).await?;
            if code == p2p::DISCONNECT_ID {
                return Err(io::ErrorKind::ConnectionReset.into());
            }
            if code == u64::from(self.eth_offset) + u64::from(eth::GET_BLOCK_HEADERS) {
                return GetBlockHeaders::decode_data(&data).map_err(invalid);
            }
        }
    }

    /// Asks the node for headers and returns its BlockHeaders reply within `wait` (other
    /// messages are skipped).
    pub async fn get_headers(
        &mut self,
        request: &GetBlockHeaders,
        wait: Duration,
    ) -> io::Result<BlockHeaders> {
        let code = u64::from(self.eth_offset) + u64::from(eth::GET_BLOCK_HEADERS);
        self.send(code, &request.encode_data()).await?;
        loop {
            let (code, data) = self.recv(wait).await?;
            if code == p2p::DISCONNECT_ID {
                return Err(refused(&data));
            }
            if code == u64::from(self.eth_offset) + u64::from(eth::BLOCK_HEADERS) {
                let reply = BlockHeaders::decode_data(&data).map_err(invalid)?;
                if reply.request_id == request.request_id {
                    return Ok(reply);
                }
            }
        }
    }

    /// Waits up to `wait` for the node to disconnect; returns its reason (`None` for a
    /// plain close).
    pub async fn disconnected(
        &mut self,
        wait: Duration,
    ) -> io::Result<Option<p2p::DisconnectReason>> {
        loop {
            match self.recv(wait).await {
                Ok((p2p::DISCONNECT_ID, data)) => {
                    return Ok(Some(p2p::DisconnectReason::decode_data(&data)));
                }
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::TimedOut => return Err(error),
                Err(_) => return Ok(None),
            }
        }
    }
}

/// The error of a node that refused us with a Disconnect (its reason in the message).
fn refused(data: &[u8]) -> io::Error {
    let reason = p2p::DisconnectReason::decode_data(data);
    io::Error::new(io::ErrorKind::ConnectionRefused, format!("disconnected: {reason}"))
}

async fn finish_handshake(
    mut stream: TcpStream,
    handshake: &mut Handshake,
) -> io::Result<(crate::rlpx::HandshakeOutcome, TcpStream)> {
    let mut buffer = vec![0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))??;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(outcome) = handshake.feed(&buffer[..read]).map_err(invalid)? {
            return Ok((outcome, stream));
        }
    }
}
