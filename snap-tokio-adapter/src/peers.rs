//! A bounded set of peers: the per-peer plumbing a node needs around its sessions.
//!
//! [`PeerSet`] dials the static peers it is given and dials them again after a drop, with
//! exponential backoff; accepts inbound peers from a listener (accept errors back off too);
//! bans misbehaving peers by node id for a while; holds at most
//! [`PeerSetConfig::max_peers`] peers and [`PeerSetConfig::max_peers_per_ip`] per address,
//! refusing the others with `TooManyPeers`; stops dialling a peer on another chain; and
//! delivers every session's events, tagged with a [`PeerKey`] never reused, through one
//! bounded channel read with [`PeerSet::next_event`]. Commands go out with
//! [`PeerSet::send`], which never waits: a full queue means the session is behind, and the
//! command's owner times the request out.

use std::{
    collections::{HashMap, VecDeque},
    io,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use snap_core::wire::SnapVersion;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinHandle,
};

use crate::{
    connection::{CloseReason, ConnectionError, Event},
    enode::Enode,
    eth::{EthVersion, Status},
    p2p::DisconnectReason,
    rlpx::NodeId,
    session::{COMMAND_QUEUE, Command, Node, SessionEvent},
};

/// A peer's handle in a [`PeerSet`]: unique for the set's lifetime, never reused.
pub type PeerKey = u64;

/// The limits and timings of a [`PeerSet`].
#[derive(Clone, Debug)]
pub struct PeerSetConfig {
    /// Most peers at once (inbound and outbound, handshaking included).
    pub max_peers: usize,
    /// Most peers from one IP address.
    pub max_peers_per_ip: usize,
    /// The first redial of a dropped static peer waits this long; each failure in a row
    /// doubles it.
    pub redial_after: Duration,
    /// The longest redial wait.
    pub max_redial_after: Duration,
    /// How long a banned node id stays banned.
    pub ban_for: Duration,
    /// Most node ids banned at once (the oldest ban goes first).
    pub max_bans: usize,
    /// Events queued from all sessions before sessions wait for the owner.
    pub event_queue: usize,
}

impl Default for PeerSetConfig {
    /// 50 peers, 8 per IP, redials from 2 s up to 5 min, 15-minute bans.
    fn default() -> Self {
        Self {
            max_peers: 50,
            max_peers_per_ip: 8,
            redial_after: Duration::from_secs(2),
            max_redial_after: Duration::from_secs(300),
            ban_for: Duration::from_secs(15 * 60),
            max_bans: 4096,
            event_queue: 1024,
        }
    }
}

/// What the set reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A peer finished its handshake.
    Ready {
        /// Its key.
        peer: PeerKey,
        /// Its node id and address.
        enode: Enode,
        /// Its client name.
        client: String,
        /// Its Status.
        status: Box<Status>,
        /// Negotiated eth version.
        eth: EthVersion,
        /// Negotiated snap version, if any.
        snap: Option<SnapVersion>,
    },
    /// An event of a ready peer's connection (a response, a header reply, a timeout, a
    /// late answer).
    Connection {
        /// The peer.
        peer: PeerKey,
        /// The event.
        event: Event,
    },
    /// A command a ready peer's session could not carry out.
    Rejected {
        /// The peer.
        peer: PeerKey,
        /// The command.
        command: Command,
        /// Why.
        error: crate::connection::CommandError,
    },
    /// A peer's session ended (`ready`: whether it had been reported ready).
    Gone {
        /// The peer.
        peer: PeerKey,
        /// Its address (and node id, when known).
        enode: Option<Enode>,
        /// Why.
        reason: CloseReason,
        /// Whether [`PeerEvent::Ready`] was reported for it.
        ready: bool,
    },
    /// A static peer is on another chain: it is not dialled again.
    WrongNetwork {
        /// The peer.
        enode: Enode,
        /// What it is on, against what we are on.
        error: Box<crate::connection::WrongNetwork>,
    },
    /// A node id was banned.
    Banned {
        /// The node id.
        id: NodeId,
        /// For how long.
        duration: Duration,
    },
    /// An inbound peer was refused (`TooManyPeers`, or closed at once when even refusing
    /// sessions are at their limit).
    Refused {
        /// Its address.
        addr: SocketAddr,
    },
    /// Accepting failed (out of file descriptors, say); accepting resumes after `retry_in`.
    AcceptError {
        /// The error.
        error: String,
        /// The backoff before the next accept.
        retry_in: Duration,
    },
}

struct Entry {
    enode: Option<Enode>,
    addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    task: Option<JoinHandle<()>>,
    ready: bool,
    refused: bool,
    static_id: Option<NodeId>,
}

struct StaticPeer {
    enode: Enode,
    failures: u32,
    next_dial: Option<Instant>,
    stopped: bool,
}

enum Step {
    Session(PeerKey, SessionEvent),
    Dial,
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Dialed(PeerKey, io::Result<TcpStream>),
}

/// Accept backoff: 5 ms after the first error, doubling up to 1 s; reset by a success.
#[derive(Clone, Copy, Debug, Default)]
struct AcceptBackoff {
    delay: Option<Duration>,
    until: Option<Instant>,
}

impl AcceptBackoff {
    fn failed(&mut self, now: Instant) -> Duration {
        let delay =
            self.delay.map_or(Duration::from_millis(5), |d| (d * 2).min(Duration::from_secs(1)));
        self.delay = Some(delay);
        self.until = Some(now + delay);
        delay
    }

    const fn succeeded(&mut self) {
        self.delay = None;
        self.until = None;
    }
}

/// The set (see the module docs).
pub struct PeerSet {
    node: Node,
    config: PeerSetConfig,
    events_tx: mpsc::Sender<(PeerKey, SessionEvent)>,
    events_rx: mpsc::Receiver<(PeerKey, SessionEvent)>,
    dialed_tx: mpsc::Sender<(PeerKey, io::Result<TcpStream>)>,
    dialed_rx: mpsc::Receiver<(PeerKey, io::Result<TcpStream>)>,
    peers: HashMap<PeerKey, Entry>,
    pending_commands: HashMap<PeerKey, mpsc::Receiver<Command>>,
    statics: HashMap<NodeId, StaticPeer>,
    bans: HashMap<NodeId, Instant>,
    listener: Option<TcpListener>,
    accept: AcceptBackoff,
    queued: VecDeque<PeerEvent>,
    next_key: PeerKey,
}

impl std::fmt::Debug for PeerSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSet")
            .field("peers", &self.peers.len())
            .field("statics", &self.statics.len())
            .field("bans", &self.bans.len())
            .finish_non_exhaustive()
    }
}

impl PeerSet {
    /// An empty set of `node`'s peers.
    pub fn new(node: Node, config: PeerSetConfig) -> Self {
        let (events_tx, events_rx) = mpsc::channel(config.event_queue.max(1));
        let (dialed_tx, dialed_rx) = mpsc::channel(config.event_queue.max(1));
        Self {
            node,
            config,
            events_tx,
            events_rx,
            dialed_tx,
            dialed_rx,
            peers: HashMap::new(),
            pending_commands: HashMap::new(),
            statics: HashMap::new(),
            bans: HashMap::new(),
            listener: None,
            accept: AcceptBackoff::default(),
            queued: VecDeque::new(),
            next_key: 1,
        }
    }

    /// The node.
    pub const fn node(&self) -> &Node {
        &self.node
    }

    /// Peers with a session (handshaking ones included, refused ones not).
    pub fn len(&self) -> usize {
        self.peers.values().filter(|p| !p.refused).count()
    }

    /// Whether the set has no peer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Peers that finished their handshake.
    pub fn ready(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.peers.iter().filter(|(_, p)| p.ready && !p.refused).map(|(key, _)| *key)
    }

    /// A peer's address (and node id, when known).
    pub fn enode(&self, peer: PeerKey) -> Option<Enode> {
        self.peers.get(&peer).and_then(|p| p.enode)
    }

    /// Static peers still dialled (not found on another chain).
    pub fn statics_left(&self) -> usize {
        self.statics.values().filter(|s| !s.stopped).count()
    }

    /// Accepts inbound peers from `listener` from now on.
    pub fn listen(&mut self, listener: TcpListener) {
        self.listener = Some(listener);
    }

    /// Adds a static peer: dialled now, and again whenever its session ends.
    pub fn add_static(&mut self, enode: Enode) {
        self.statics.entry(enode.id).or_insert(StaticPeer {
            enode,
            failures: 0,
            next_dial: Some(Instant::now()),
            stopped: false,
        });
    }

    /// Whether `id` is banned now.
    pub fn is_banned(&self, id: &NodeId) -> bool {
        self.bans.get(id).is_some_and(|until| *until > Instant::now())
    }

    /// Queues `command` for `peer`; false if the peer is gone or its queue is full.
    pub fn send(&self, peer: PeerKey, command: Command) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.commands.try_send(command).is_ok())
    }

    /// Disconnects `peer` with `reason` and bans its node id for
    /// [`PeerSetConfig::ban_for`]: it is neither dialled nor accepted until then.
    pub fn ban(&mut self, peer: PeerKey, reason: DisconnectReason) {
        if let Some(id) = self.keep_out(peer, reason, self.config.ban_for) {
            self.queued.push_back(PeerEvent::Banned { id, duration: self.config.ban_for });
        }
    }

    /// Disconnects `peer` with `UselessPeer` and keeps its node id out for `duration`, as a
    /// ban does but for a peer that broke no rule (it served us nothing): a static peer is
    /// redialled after it, a discovered one may be dialled again. Returns its node id.
    pub fn set_aside(&mut self, peer: PeerKey, duration: Duration) -> Option<NodeId> {
        self.keep_out(peer, DisconnectReason::UselessPeer, duration)
    }

    /// Disconnects `peer` with `reason` and refuses its node id for `duration`.
    fn keep_out(
        &mut self,
        peer: PeerKey,
        reason: DisconnectReason,
        duration: Duration,
    ) -> Option<NodeId> {
        let entry = self.peers.get(&peer)?;
        let _ = entry.commands.try_send(Command::Disconnect(reason));
        let id = entry.enode.map(|e| e.id)?;
        let now = Instant::now();
        self.bans.retain(|_, until| *until > now);
        if self.bans.len() >= self.config.max_bans.max(1)
            && let Some(oldest) =
                self.bans.iter().min_by_key(|(_, until)| **until).map(|(id, _)| *id)
        {
            self.bans.remove(&oldest);
        }
        self.bans.insert(id, now + duration);
        Some(id)
    }

    /// Disconnects every peer (the sessions end on their own).
    pub fn disconnect_all(&mut self, reason: DisconnectReason) {
        for entry in self.peers.values() {
            let _ = entry.commands.try_send(Command::Disconnect(reason));
        }
        for peer in self.statics.values_mut() {
            peer.stopped = true;
        }
    }

    /// The next event. Cancel-safe: dropping the future loses nothing.
    pub async fn next_event(&mut self) -> PeerEvent {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return event;
            }
            let dial =
                self.statics.values().filter(|s| !s.stopped).filter_map(|s| s.next_dial).min();
            let listener = self.listener.as_ref();
            let backoff = self.accept.until;
            let step = tokio::select! {
                Some((peer, event)) = self.events_rx.recv() => Step::Session(peer, event),
                Some((peer, stream)) = self.dialed_rx.recv() => Step::Dialed(peer, stream),
                () = sleep_until(dial) => Step::Dial,
                accepted = accept_one(listener, backoff) => Step::Accepted(accepted),
            };
            match step {
                Step::Session(peer, event) => self.on_session(peer, event),
                Step::Dial => self.dial_due(),
                Step::Dialed(peer, stream) => self.on_dialed(peer, stream),
                Step::Accepted(Ok((stream, addr))) => {
                    self.accept.succeeded();
                    self.on_accepted(stream, addr);
                }
                Step::Accepted(Err(error)) => {
                    let retry_in = self.accept.failed(Instant::now());
                    self.queued
                        .push_back(PeerEvent::AcceptError { error: error.to_string(), retry_in });
                }
            }
        }
    }

    fn key(&mut self) -> PeerKey {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    fn per_ip(&self, ip: IpAddr) -> usize {
        self.peers.values().filter(|p| !p.refused && p.addr.ip() == ip).count()
    }

    fn dial_due(&mut self) {
        let now = Instant::now();
        let due: Vec<NodeId> = self
            .statics
            .iter()
            .filter(|(_, s)| !s.stopped && s.next_dial.is_some_and(|at| at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(until) = self.bans.get(&id).copied().filter(|until| *until > now) {
                if let Some(peer) = self.statics.get_mut(&id) {
                    peer.next_dial = Some(until);
                }
                continue;
            }
            if self.len() >= self.config.max_peers {
                if let Some(peer) = self.statics.get_mut(&id) {
                    peer.next_dial = Some(now + self.config.redial_after);
                }
                continue;
            }
            let Some(peer) = self.statics.get_mut(&id) else { continue };
            peer.next_dial = None;
            let enode = peer.enode;
            self.start_dial(enode, Some(id));
        }
    }

    /// Dials `enode` once (a peer discovery found): not again after its session ends, and not
    /// at all when it is banned, already connected, or the peer limits are reached. Says
    /// whether it is dialled.
    pub fn dial(&mut self, enode: Enode) -> bool {
        let now = Instant::now();
        if enode.id == self.node.id()
            || self.bans.get(&enode.id).is_some_and(|until| *until > now)
            || self.peers.values().any(|p| p.enode.is_some_and(|e| e.id == enode.id))
            || self.len() >= self.config.max_peers
            || self.per_ip(enode.addr.ip()) >= self.config.max_peers_per_ip
        {
            return false;
        }
        self.start_dial(enode, None);
        true
    }

    fn start_dial(&mut self, enode: Enode, static_id: Option<NodeId>) {
        let key = self.key();
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        self.pending_commands.insert(key, commands_rx);
        self.peers.insert(
            key,
            Entry {
                enode: Some(enode),
                addr: enode.addr,
                commands,
                task: None,
                ready: false,
                refused: false,
                static_id,
            },
        );
        let node = self.node.clone();
        let dialed = self.dialed_tx.clone();
        tokio::spawn(async move {
            let _ = dialed.send((key, node.connect(&enode).await)).await;
        });
    }

    fn on_dialed(&mut self, peer: PeerKey, stream: io::Result<TcpStream>) {
        let commands = self.pending_commands.remove(&peer);
        let Some(entry) = self.peers.get(&peer) else { return };
        let Some(enode) = entry.enode else { return };
        let spawned = stream.and_then(|stream| {
            let connection = self.node.outbound(&enode)?;
            let commands = commands.ok_or_else(|| io::Error::other("no command queue"))?;
            self.node.spawn_with(stream, connection, peer, self.events_tx.clone(), commands)
        });
        match spawned {
            Ok(task) => {
                if let Some(entry) = self.peers.get_mut(&peer) {
                    entry.task = Some(task);
                }
            }
            Err(error) => {
                let reason = CloseReason::Error(ConnectionError::Dial(error.to_string()));
                self.on_closed(peer, reason);
            }
        }
    }

    fn on_accepted(&mut self, stream: TcpStream, addr: SocketAddr) {
        let refusing = self.peers.values().filter(|p| p.refused).count();
        let full = self.len() >= self.config.max_peers
            || self.per_ip(addr.ip()) >= self.config.max_peers_per_ip;
        if full && refusing >= self.config.max_peers.max(1) {
            // Even the refusing sessions are at their limit: close at once.
            drop(stream);
            self.queued.push_back(PeerEvent::Refused { addr });
            return;
        }
        let mut connection = self.node.inbound();
        if full {
            connection.refuse(DisconnectReason::TooManyPeers);
            self.queued.push_back(PeerEvent::Refused { addr });
        }
        let key = self.key();
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        if let Ok(task) =
            self.node.spawn_with(stream, connection, key, self.events_tx.clone(), commands_rx)
        {
            {
                self.peers.insert(
                    key,
                    Entry {
                        enode: None,
                        addr,
                        commands,
                        task: Some(task),
                        ready: false,
                        refused: full,
                        static_id: None,
                    },
                );
            }
        }
    }

    fn on_session(&mut self, peer: PeerKey, event: SessionEvent) {
        let Some(entry) = self.peers.get_mut(&peer) else { return };
        match event {
            SessionEvent::Connection(Event::Ready { remote_id, client_id, status, eth, snap }) => {
                let enode = Enode { id: remote_id, addr: entry.addr };
                entry.enode = Some(enode);
                let duplicate = self.peers.iter().any(|(key, p)| {
                    *key != peer && p.ready && p.enode.is_some_and(|e| e.id == remote_id)
                });
                let reason = if self.is_banned(&remote_id) {
                    Some(DisconnectReason::UselessPeer)
                } else if duplicate {
                    Some(DisconnectReason::AlreadyConnected)
                } else {
                    None
                };
                let Some(entry) = self.peers.get_mut(&peer) else { return };
                if let Some(reason) = reason {
                    entry.refused = true;
                    let _ = entry.commands.try_send(Command::Disconnect(reason));
                    return;
                }
                entry.ready = true;
                if let Some(id) = entry.static_id
                    && let Some(static_peer) = self.statics.get_mut(&id)
                {
                    static_peer.failures = 0;
                }
                self.queued.push_back(PeerEvent::Ready {
                    peer,
                    enode,
                    client: client_id,
                    status: Box::new(status),
                    eth,
                    snap,
                });
            }
            SessionEvent::Connection(Event::Closed(reason)) => self.on_closed(peer, reason),
            SessionEvent::Connection(event) => {
                if entry.ready && !entry.refused {
                    self.queued.push_back(PeerEvent::Connection { peer, event });
                }
            }
            SessionEvent::Rejected(command, error) => {
                if entry.ready {
                    self.queued.push_back(PeerEvent::Rejected { peer, command, error });
                }
            }
        }
    }

    fn on_closed(&mut self, peer: PeerKey, reason: CloseReason) {
        self.pending_commands.remove(&peer);
        if let CloseReason::Error(error) = &reason
            && error.is_misbehaviour()
        {
            self.ban(peer, DisconnectReason::BreachOfProtocol);
        }
        let Some(entry) = self.peers.remove(&peer) else { return };
        let ready = entry.ready && !entry.refused;
        if let Some(id) = entry.static_id
            && let Some(static_peer) = self.statics.get_mut(&id)
        {
            if let CloseReason::Error(ConnectionError::WrongNetwork(error)) = &reason {
                static_peer.stopped = true;
                self.queued.push_back(PeerEvent::WrongNetwork {
                    enode: static_peer.enode,
                    error: error.clone(),
                });
            } else if !static_peer.stopped {
                let backoff = self
                    .config
                    .redial_after
                    .saturating_mul(1 << static_peer.failures.min(16))
                    .min(self.config.max_redial_after);
                static_peer.failures = static_peer.failures.saturating_add(1);
                static_peer.next_dial = Some(Instant::now() + backoff);
            }
        }
        if entry.refused && !ready {
            return;
        }
        self.queued.push_back(PeerEvent::Gone { peer, enode: entry.enode, reason, ready });
    }
}

impl Drop for PeerSet {
    fn drop(&mut self) {
        for entry in self.peers.values() {
            let _ = entry.commands.try_send(Command::Disconnect(DisconnectReason::ClientQuitting));
        }
    }
}

async fn accept_one(
    listener: Option<&TcpListener>,
    backoff: Option<Instant>,
) -> io::Result<(TcpStream, SocketAddr)> {
    let Some(listener) = listener else { return std::future::pending().await };
    if backoff.is_some() {
        sleep_until(backoff).await;
    }
    listener.accept().await
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) if deadline > Instant::now() => {
            tokio::time::sleep_until(deadline.into()).await;
        }
        Some(_) => {}
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_exponentially_up_to_a_second_and_reset() {
        let now = Instant::now();
        let mut backoff = AcceptBackoff::default();
        let delays: Vec<u64> = (0..10).map(|_| backoff.failed(now).as_millis() as u64).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(backoff.until, Some(now + Duration::from_secs(1)));
        backoff.succeeded();
        assert_eq!(backoff.failed(now), Duration::from_millis(5));
    }
}
