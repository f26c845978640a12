//! One devp2p connection as a sans-IO state machine: RLPx handshake, Hello, Status, then eth
//! and snap traffic. Feed it received bytes and timer expiries; take the bytes to send, the
//! snap requests to serve and the events for the owner. No socket, no clock: `now` is always
//! the first parameter.
//!
//! # Back-pressure
//!
//! A peer's snap requests are not answered inline: each becomes a [`ServeJob`] that the owner
//! runs where it likes (the session runs it on a blocking thread) and hands back with
//! [`Connection::answer`]. The connection stops consuming input while
//! [`ConnectionConfig::max_pending_requests`] requests wait to be served, or while the bytes
//! not yet taken for sending plus the queued requests reach
//! [`ConnectionConfig::max_buffered_bytes`]; [`Connection::wants_input`] says so, and the owner
//! stops reading the socket until it turns true again. A peer that pipelines requests without
//! reading its answers therefore fills its own TCP window, never our memory.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::Bytes;
use k256::SecretKey;
use snap_core::{
    serve::ServeError,
    wire::{DecodeError, Limits, MessageId, SnapMessage, SnapVersion},
};

mod events;
mod serve_job;

pub use events::{CloseReason, CommandError, ConnectionError, Event, WrongNetwork};
pub use serve_job::ServeJob;
use serve_job::empty_response;

use crate::{
    eth::{self, BlockHeaders, ChainInfo, EthError, EthVersion, GetBlockHeaders, Status},
    p2p::{
        self, Capability, DisconnectReason, Hello, MessageCodec, P2P_VERSION, P2pError,
        SharedCapability,
    },
    rlpx::{FrameDecoder, FrameEncoder, Handshake, HandshakeRandom, NodeId, frame_codecs, node_id},
    server::Server,
    snap::{Admitted, FORGOTTEN_RING, SnapTracker, TrackError, snap_version},
};

/// How a connection behaves; shared by all connections of a node.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Client name sent in Hello.
    pub client_id: String,
    /// eth versions offered.
    pub eth_versions: Vec<EthVersion>,
    /// snap versions offered (none: an eth-only connection).
    pub snap_versions: Vec<SnapVersion>,
    /// What we announce in Status and check peers' Status against.
    pub chain: ChainInfo,
    /// Bounds for decoding snap messages.
    pub limits: Limits,
    /// Largest frame and (decompressed) message accepted.
    pub max_message: usize,
    /// Time for each handshake step (RLPx, Hello, Status).
    pub handshake_timeout: Duration,
    /// Time a header request may stay unanswered. Snap requests carry no timeout here: their
    /// owner (the core's `Syncer`) times them out and forgives late answers.
    pub request_timeout: Duration,
    /// Most snap requests tracked on one connection; past it the oldest is forgotten (its
    /// owner keeps fewer in flight, so it has given up on it).
    pub max_snap_in_flight: usize,
    /// Most peer requests waiting to be served (or being served) before the connection stops
    /// consuming input.
    pub max_pending_requests: usize,
    /// Most bytes held for the peer (unsent output plus queued requests) before the
    /// connection stops consuming input.
    pub max_buffered_bytes: usize,
    /// Once ready, a Ping goes out after this long; a peer silent for twice as long is
    /// dropped with [`DisconnectReason::PingTimeout`].
    pub ping_interval: Duration,
}

impl ConnectionConfig {
    /// Defaults around `chain`: eth/68 and eth/69, snap/1 and snap/2, 16 MiB messages,
    /// 10-second handshake steps, 30-second header requests, 8 pending peer requests and
    /// 4 MiB buffered per connection.
    pub fn new(chain: ChainInfo) -> Self {
        Self {
            client_id: concat!("snap/v", env!("CARGO_PKG_VERSION")).to_owned(),
            eth_versions: vec![EthVersion::V68, EthVersion::V69],
            snap_versions: vec![SnapVersion::V1, SnapVersion::V2],
            chain,
            limits: Limits::default(),
            max_message: p2p::MAX_MESSAGE_SIZE,
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_snap_in_flight: 64,
            max_pending_requests: 8,
            max_buffered_bytes: 4 * 1024 * 1024,
            ping_interval: Duration::from_secs(15),
        }
    }

    fn capabilities(&self) -> Vec<Capability> {
        let eth = self.eth_versions.iter().map(|v| Capability::new("eth", v.number()));
        let snap =
            self.snap_versions.iter().map(|v| Capability::new("snap", u32::from(v.number())));
        eth.chain(snap).collect()
    }

    fn message_space(&self, name: &str, version: u32) -> Option<u8> {
        match name {
            "eth" => EthVersion::from_number(version)
                .filter(|v| self.eth_versions.contains(v))
                .map(EthVersion::message_space),
            "snap" => snap_version(version)
                .filter(|v| self.snap_versions.contains(v))
                .map(SnapVersion::message_space),
            _ => None,
        }
    }
}

enum Phase {
    Handshake(Box<Handshake>),
    Hello,
    Status { eth: EthVersion, eth_offset: u8, snap: Option<(SnapVersion, u8)> },
    Ready { eth: EthVersion, eth_offset: u8, snap: Option<(SnapVersion, u8)> },
    Closed,
}

impl Phase {
    const fn name(&self) -> &'static str {
        match self {
            Self::Handshake(_) => "in the rlpx handshake",
            Self::Hello => "awaiting hello",
            Self::Status { .. } => "awaiting status",
            Self::Ready { .. } => "ready",
            Self::Closed => "closed",
        }
    }
}

/// A devp2p connection (see the module docs).
pub struct Connection {
    config: Arc<ConnectionConfig>,
    server: Arc<dyn Server>,
    local_id: NodeId,
    remote_id: Option<NodeId>,
    phase: Phase,
    phase_deadline: Option<Instant>,
    frames: Option<(FrameEncoder, FrameDecoder)>,
    codec: MessageCodec,
    client_id: String,
    tracker: Option<SnapTracker>,
    header_requests: HashMap<u64, (GetBlockHeaders, Instant)>,
    /// Header requests timed out recently, whose late answers are dropped quietly.
    forgotten_headers: VecDeque<u64>,
    /// Peer requests waiting to be served, with their size on the wire.
    queued: VecDeque<(SnapMessage, usize)>,
    queued_bytes: usize,
    /// The request being served: its id and the response kind it expects.
    serving: Option<(u64, MessageId)>,
    /// Refuse the peer with this reason once the RLPx handshake is done.
    refusal: Option<DisconnectReason>,
    /// When the peer last sent a complete message.
    last_heard: Instant,
    /// When the next keepalive Ping is due (ready connections only).
    next_ping: Option<Instant>,
    outgoing: Vec<u8>,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("remote_id", &self.remote_id)
            .field("phase", &self.phase.name())
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(
        config: Arc<ConnectionConfig>,
        server: Arc<dyn Server>,
        key: &SecretKey,
        handshake: Handshake,
        now: Instant,
    ) -> Self {
        let deadline = now + config.handshake_timeout;
        Self {
            codec: MessageCodec { snappy: false, max_size: config.max_message },
            config,
            server,
            local_id: node_id(&key.public_key()),
            remote_id: None,
            phase: Phase::Handshake(Box::new(handshake)),
            phase_deadline: Some(deadline),
            frames: None,
            client_id: String::new(),
            tracker: None,
            header_requests: HashMap::new(),
            forgotten_headers: VecDeque::new(),
            queued: VecDeque::new(),
            queued_bytes: 0,
            serving: None,
            refusal: None,
            last_heard: now,
            next_ping: None,
            outgoing: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// A connection we dial to `remote`; its auth packet is ready in [`Self::take_outgoing`].
    pub fn outbound(
        config: Arc<ConnectionConfig>,
        server: Arc<dyn Server>,
        key: SecretKey,
        remote: &NodeId,
        random: HandshakeRandom,
        now: Instant,
    ) -> Result<Self, ConnectionError> {
        let (handshake, auth) = Handshake::initiator(key.clone(), remote, random)?;
        let mut connection = Self::new(config, server, &key, handshake, now);
        connection.remote_id = Some(*remote);
        connection.outgoing = auth;
        Ok(connection)
    }

    /// A connection a peer dialed to us.
    pub fn inbound(
        config: Arc<ConnectionConfig>,
        server: Arc<dyn Server>,
        key: SecretKey,
        random: HandshakeRandom,
        now: Instant,
    ) -> Self {
        let handshake = Handshake::recipient(key.clone(), random);
        Self::new(config, server, &key, handshake, now)
    }

    /// Refuses the peer (too many peers, say): once the RLPx handshake is done, it is sent a
    /// Disconnect with `reason` instead of our Hello, and the connection closes.
    pub fn refuse(&mut self, reason: DisconnectReason) {
        self.refusal = Some(reason);
    }

    /// The peer's node id, once known.
    pub const fn remote_id(&self) -> Option<NodeId> {
        self.remote_id
    }

    /// Whether the connection is over.
    pub const fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Bytes to write to the peer (taken; the buffer is left empty).
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }

    /// Bytes produced and not yet taken with [`Self::take_outgoing`].
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Whether the connection consumes more input now. While it does not, the owner stops
    /// reading from the peer, and calls [`Self::resume`] once it took outgoing bytes or
    /// answered a request.
    pub fn wants_input(&self) -> bool {
        !self.is_closed() && self.has_room()
    }

    fn has_room(&self) -> bool {
        let pending = self.queued.len() + usize::from(self.serving.is_some());
        pending < self.config.max_pending_requests.max(1)
            && self.outgoing.len().saturating_add(self.queued_bytes)
                < self.config.max_buffered_bytes
    }

    /// The next peer request to serve, once the previous one is answered (requests are
    /// answered in order, one at a time).
    pub fn next_serve_job(&mut self) -> Option<ServeJob> {
        if self.serving.is_some() || self.is_closed() {
            return None;
        }
        let (request, len) = self.queued.pop_front()?;
        self.queued_bytes -= len;
        let response = request.id().response()?;
        self.serving = Some((request.request_id(), response));
        Some(ServeJob { request, server: self.server.clone() })
    }

    /// Sends the answer to the request of the last [`ServeJob`]. An error means the request
    /// was malformed: the peer is dropped. A response that does not answer the request (a
    /// server bug) is replaced by the empty answer.
    pub fn answer(
        &mut self,
        now: Instant,
        result: Result<SnapMessage, ServeError>,
    ) -> Result<(), CommandError> {
        let (request_id, kind) = self.serving.take().ok_or(CommandError::NotServing)?;
        let Phase::Ready { snap: Some((_, offset)), .. } = self.phase else {
            return Ok(());
        };
        match result {
            Ok(response) => {
                let response = if response.id() == kind && response.request_id() == request_id {
                    response
                } else {
                    empty_response(kind, request_id)
                };
                self.send(u64::from(offset) + response.id() as u64, &response.to_vec());
            }
            Err(error) => self.fail(ConnectionError::SnapRequest(error.to_string())),
        }
        self.resume(now);
        Ok(())
    }

    /// Consumes input buffered while the connection had no room for it.
    pub fn resume(&mut self, now: Instant) {
        if self.is_closed() || self.frames.is_none() {
            return;
        }
        if let Err(error) = self.decode_frames(now) {
            self.fail(error);
        }
    }

    /// Forgets a snap request its owner gave up on: a late answer to it is dropped quietly.
    pub fn forget(&mut self, request_id: u64) {
        if let Some(tracker) = &mut self.tracker {
            tracker.forget(request_id);
        }
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let requests = self.header_requests.values().map(|(_, deadline)| *deadline);
        self.phase_deadline.into_iter().chain(self.next_ping).chain(requests).min()
    }

    /// Fires every deadline at or before `now`: a handshake step that is late closes the
    /// connection; a late header request becomes a timeout event (the owner decides on the
    /// peer). Snap requests are timed by their owner, not here.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if self.phase_deadline.is_some_and(|deadline| deadline <= now) {
            let phase = self.phase.name();
            self.fail(ConnectionError::Timeout(phase));
            return;
        }
        if self.next_ping.is_some_and(|due| due <= now) {
            // While we do not read (the peer's own answers are waiting to leave), its silence
            // is ours; the owner drops a peer that does not take our bytes.
            if !self.has_room() {
                self.last_heard = now;
            }
            if now.saturating_duration_since(self.last_heard) >= 2 * self.config.ping_interval {
                self.fail(ConnectionError::Timeout("waiting for the peer to answer a ping"));
                return;
            }
            self.send(p2p::PING_ID, &[alloy_rlp::EMPTY_LIST_CODE]);
            self.next_ping = Some(now + self.config.ping_interval);
        }
        let late: Vec<u64> = self
            .header_requests
            .iter()
            .filter(|(_, (_, d))| *d <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.header_requests.remove(&id);
            if self.forgotten_headers.len() >= FORGOTTEN_RING {
                self.forgotten_headers.pop_front();
            }
            self.forgotten_headers.push_back(id);
            self.events.push_back(Event::HeadersTimeout(id));
        }
    }

    /// The owner's transport gave up waiting for `what` (a peer that does not read, say):
    /// the connection fails with a timeout.
    pub fn timed_out(&mut self, what: &'static str) {
        if !self.is_closed() {
            self.fail(ConnectionError::Timeout(what));
        }
    }

    /// The transport closed under us.
    pub fn transport_closed(&mut self) {
        if !self.is_closed() {
            self.close(CloseReason::Error(ConnectionError::TransportClosed));
        }
    }

    /// Asks the peer to go and closes.
    pub fn disconnect(&mut self, reason: DisconnectReason) {
        if self.is_closed() {
            return;
        }
        self.send_disconnect(reason);
        self.close(CloseReason::Local(reason));
    }

    /// Sends a snap request and tracks its response (`now` is the time it is sent; its
    /// timeout is the caller's).
    pub fn send_snap(&mut self, now: Instant, request: &SnapMessage) -> Result<(), CommandError> {
        let _ = now;
        let Phase::Ready { snap, .. } = self.phase else { return Err(CommandError::NotReady) };
        let (version, offset) = snap.ok_or(CommandError::NoSnap)?;
        if !version.supports(request.id()) || !request.id().is_request() {
            return Err(CommandError::NoSnap);
        }
        let tracker = self.tracker.as_mut().ok_or(CommandError::NoSnap)?;
        tracker.track(request)?;
        self.send(u64::from(offset) + request.id() as u64, &request.to_vec());
        Ok(())
    }

    /// Sends a header request; its reply is verified against it.
    pub fn send_get_headers(
        &mut self,
        now: Instant,
        request: GetBlockHeaders,
    ) -> Result<(), CommandError> {
        let Phase::Ready { eth_offset, .. } = self.phase else {
            return Err(CommandError::NotReady);
        };
        if self.header_requests.contains_key(&request.request_id) {
            return Err(CommandError::Collision(request.request_id));
        }
        self.header_requests
            .insert(request.request_id, (request, now + self.config.request_timeout));
        self.send(
            u64::from(eth_offset) + u64::from(eth::GET_BLOCK_HEADERS),
            &request.encode_data(),
        );
        Ok(())
    }

    /// Feeds bytes received from the peer. Bytes beyond what the connection has room for
    /// stay buffered (see [`Self::wants_input`]).
    pub fn receive(&mut self, now: Instant, bytes: &[u8]) {
        if self.is_closed() {
            return;
        }
        if let Err(error) = self.try_receive(now, bytes) {
            self.fail(error);
        }
    }

    fn try_receive(&mut self, now: Instant, bytes: &[u8]) -> Result<(), ConnectionError> {
        let mut bytes = bytes.to_vec();
        if let Phase::Handshake(handshake) = &mut self.phase {
            let Some(outcome) = handshake.feed(&bytes)? else { return Ok(()) };
            self.outgoing.extend_from_slice(&outcome.reply);
            self.remote_id = Some(outcome.secrets.remote_id);
            self.frames = Some(frame_codecs(&outcome.secrets, self.config.max_message));
            if let Some(reason) = self.refusal {
                self.disconnect(reason);
                return Ok(());
            }
            self.phase = Phase::Hello;
            self.phase_deadline = Some(now + self.config.handshake_timeout);
            let hello = Hello {
                protocol_version: P2P_VERSION,
                client_id: self.config.client_id.clone(),
                capabilities: self.config.capabilities(),
                listen_port: 0,
                id: self.local_id,
            };
            self.send(p2p::HELLO_ID, &hello.encode_data());
            bytes = outcome.leftover;
        }
        let Some((_, decoder)) = &mut self.frames else { return Ok(()) };
        decoder.feed(&bytes);
        self.decode_frames(now)
    }

    fn decode_frames(&mut self, now: Instant) -> Result<(), ConnectionError> {
        loop {
            if !self.has_room() {
                return Ok(());
            }
            let Some((_, decoder)) = &mut self.frames else { return Ok(()) };
            let Some(frame) = decoder.next_frame()? else { return Ok(()) };
            // Hello is never compressed; everything after it is once both sides speak v5.
            let codec = if matches!(self.phase, Phase::Hello) {
                MessageCodec { snappy: false, ..self.codec }
            } else {
                self.codec
            };
            let (code, data) = codec.decode(&frame)?;
            self.last_heard = now;
            // Shared, so that what an answer passes on to a write batch is sliced, not copied.
            self.on_message(code, &Bytes::from(data), now)?;
            if self.is_closed() {
                return Ok(());
            }
        }
    }

    fn on_message(&mut self, code: u64, data: &Bytes, now: Instant) -> Result<(), ConnectionError> {
        let unexpected = |phase: &Phase| ConnectionError::Unexpected { code, phase: phase.name() };
        match code {
            p2p::DISCONNECT_ID => {
                self.close(CloseReason::Remote(DisconnectReason::decode_data(data)));
                return Ok(());
            }
            p2p::PING_ID => {
                self.send(p2p::PONG_ID, &[alloy_rlp::EMPTY_LIST_CODE]);
                return Ok(());
            }
            p2p::PONG_ID => return Ok(()),
            _ => {}
        }
        match self.phase {
            Phase::Hello if code == p2p::HELLO_ID => self.on_hello(data, now),
            Phase::Status { eth, eth_offset, snap }
                if code == u64::from(eth_offset) + u64::from(eth::STATUS) =>
            {
                let status = Status::decode_data(eth, data)?;
                if let Err(error) = self.config.chain.validate(eth, &status) {
                    let ours = self.config.chain.status(eth);
                    let wrong = WrongNetwork { theirs: status, ours, error };
                    return Err(ConnectionError::WrongNetwork(Box::new(wrong)));
                }
                self.phase = Phase::Ready { eth, eth_offset, snap };
                self.phase_deadline = None;
                self.next_ping = Some(now + self.config.ping_interval);
                self.tracker = snap.map(|(version, _)| {
                    SnapTracker::new(version, self.config.limits, self.config.max_snap_in_flight)
                });
                self.events.push_back(Event::Ready {
                    remote_id: self.remote_id.unwrap_or_default(),
                    client_id: std::mem::take(&mut self.client_id),
                    status,
                    eth,
                    snap: snap.map(|(version, _)| version),
                });
                Ok(())
            }
            Phase::Ready { eth, eth_offset, snap } => {
                let eth_end = u64::from(eth_offset) + u64::from(eth.message_space());
                if (u64::from(eth_offset)..eth_end).contains(&code) {
                    return self.on_eth((code - u64::from(eth_offset)) as u8, data, eth_offset);
                }
                if let Some((version, offset)) = snap {
                    let end = u64::from(offset) + u64::from(version.message_space());
                    if (u64::from(offset)..end).contains(&code) {
                        return self.on_snap(version, (code - u64::from(offset)) as u8, data);
                    }
                }
                Err(unexpected(&self.phase))
            }
            _ => Err(unexpected(&self.phase)),
        }
    }

    fn on_hello(&mut self, data: &[u8], now: Instant) -> Result<(), ConnectionError> {
        let hello = Hello::decode_data(data)?;
        if Some(hello.id) != self.remote_id {
            return Err(ConnectionError::UnexpectedIdentity);
        }
        if hello.id == self.local_id {
            return Err(ConnectionError::ConnectedToSelf);
        }
        let ours = self.config.capabilities();
        let shared =
            p2p::negotiate(&ours, &hello.capabilities, |n, v| self.config.message_space(n, v))?;
        let find = |name: &str| shared.iter().find(|c| c.name == name);
        let Some(SharedCapability { version, offset: eth_offset, .. }) = find("eth").cloned()
        else {
            return Err(P2pError::NoSharedCapability.into());
        };
        let eth = EthVersion::from_number(version).ok_or(P2pError::NoSharedCapability)?;
        let snap = find("snap").and_then(|c| snap_version(c.version).map(|v| (v, c.offset)));
        self.codec.snappy = hello.protocol_version >= 5;
        self.client_id = hello.client_id;
        self.phase = Phase::Status { eth, eth_offset, snap };
        self.phase_deadline = Some(now + self.config.handshake_timeout);
        let status = self.config.chain.status(eth);
        self.send(u64::from(eth_offset) + u64::from(eth::STATUS), &status.encode_data(eth));
        Ok(())
    }

    fn on_eth(&mut self, id: u8, data: &[u8], offset: u8) -> Result<(), ConnectionError> {
        let code = |id: u8| u64::from(offset) + u64::from(id);
        match id {
            eth::GET_BLOCK_HEADERS => {
                let request = GetBlockHeaders::decode_data(data)?;
                let headers = self.server.headers(&request);
                self.send(
                    code(eth::BLOCK_HEADERS),
                    &BlockHeaders::encode_raw(request.request_id, &headers),
                );
            }
            eth::BLOCK_HEADERS => {
                let request_id = eth::request_id_of(data).ok_or(EthError::Rlp(
                    "BlockHeaders",
                    alloy_rlp::Error::Custom("no request id"),
                ))?;
                let Some((request, _)) = self.header_requests.remove(&request_id) else {
                    if let Some(at) = self.forgotten_headers.iter().position(|i| *i == request_id) {
                        self.forgotten_headers.remove(at);
                        self.events.push_back(Event::Late(request_id));
                        return Ok(());
                    }
                    return Err(ConnectionError::Unexpected {
                        code: code(id),
                        phase: "without a header request",
                    });
                };
                let reply = BlockHeaders::decode_data(data)?;
                reply.verify(&request)?;
                self.events.push_back(Event::Headers(reply));
            }
            eth::STATUS => {
                return Err(ConnectionError::Unexpected { code: code(id), phase: "ready" });
            }
            other => {
                if let Some(response) = eth::empty_response_for(other) {
                    let request_id = eth::request_id_of(data).ok_or(EthError::Rlp(
                        "request",
                        alloy_rlp::Error::Custom("no request id"),
                    ))?;
                    self.send(code(response), &eth::empty_reply(request_id));
                }
                // Everything else (transaction and block gossip, responses to requests we
                // never make, BlockRangeUpdate) is ignored.
            }
        }
        Ok(())
    }

    fn on_snap(
        &mut self,
        version: SnapVersion,
        id: u8,
        data: &Bytes,
    ) -> Result<(), ConnectionError> {
        if id % 2 == 1 {
            let tracker = self.tracker.as_mut().ok_or(TrackError::UnknownMessage(id))?;
            let event = match tracker.on_response(id, data)? {
                Admitted::Response(message) => Event::Snap(message),
                Admitted::Late(request_id) => Event::Late(request_id),
            };
            self.events.push_back(event);
            return Ok(());
        }
        let request = SnapMessage::decode(version, id, data, &self.config.limits)
            .map_err(|e: DecodeError| ConnectionError::SnapRequest(e.to_string()))?;
        self.queued_bytes += data.len();
        self.queued.push_back((request, data.len()));
        Ok(())
    }

    /// Frames message `code` for sending; a message that cannot be framed closes the
    /// connection (only our own oversized messages can do that).
    fn send(&mut self, code: u64, data: &[u8]) {
        let codec = if code == p2p::HELLO_ID {
            MessageCodec { snappy: false, ..self.codec }
        } else {
            self.codec
        };
        let Some((encoder, _)) = &mut self.frames else { return };
        let framed = codec.encode(code, data).map_err(ConnectionError::from).and_then(|payload| {
            encoder.encode(&payload, &mut self.outgoing).map_err(ConnectionError::from)
        });
        if let Err(error) = framed {
            self.close(CloseReason::Error(error));
        }
    }

    fn send_disconnect(&mut self, reason: DisconnectReason) {
        if self.frames.is_some() {
            self.send(p2p::DISCONNECT_ID, &reason.encode_data());
        }
    }

    fn fail(&mut self, error: ConnectionError) {
        if !matches!(error, ConnectionError::TransportClosed) {
            self.send_disconnect(error.reason());
        }
        self.close(CloseReason::Error(error));
    }

    fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closed;
        self.phase_deadline = None;
        self.header_requests.clear();
        self.queued.clear();
        self.queued_bytes = 0;
        self.next_ping = None;
        self.tracker = None;
        self.events.push_back(Event::Closed(reason));
    }
}
