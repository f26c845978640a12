//! The driver: one task owns the [`Syncer`], feeds it peers' events, the writer's
//! acknowledgements and its one timer, and carries out its outputs (`docs/EMBEDDING.md`).
//!
//! - Peers: one devp2p session per `--peer` (dialed again after a drop); each session's events
//!   are forwarded into one channel, tagged with a host peer id never reused.
//! - Store: batches and lookups go, in order, to the blocking [`Writer`]; its bounded queue and
//!   the core's limit on unacknowledged batches hold the download back when the disk is slow.
//! - Target: resumed from the store's progress record, or fixed (`--root`), or chosen and
//!   followed by [`Pivot`] from the peers' headers.
//! - Stop: when the `shutdown` future completes, the driver stops asking, lets the writer
//!   apply what is queued (each batch carries its progress record) and returns; a restart on
//!   the same store resumes.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use k256::SecretKey;
use snap_core::{
    sync::{
        Counters, Input, Output, PeerId, ProgressDecodeError, ProgressRecord, SyncConfig,
        SyncEvent, Syncer, Target,
    },
    wire::SnapVersion,
};
use snap_store::{StoreError, SyncStore};
use snap_tokio_adapter::{
    connection::{ConnectionConfig, Event},
    p2p::DisconnectReason,
    server::Server,
    session::{Command, Enode, Node, SessionEvent},
};
use tokio::sync::mpsc;

pub use crate::pivot::TargetChoice;
use crate::{
    metrics::Metrics,
    network::Network,
    pivot::{Pivot, PivotAction},
    writer::{Writer, WriterDone, WriterJob},
};

/// How a sync runs.
#[derive(Debug)]
pub struct DriverConfig {
    /// The peers to sync from.
    pub peers: Vec<Enode>,
    /// How the target is chosen (ignored when the store holds a sync to resume).
    pub target: TargetChoice,
    /// The network we announce and check peers against.
    pub network: Network,
    /// Our node key.
    pub key: SecretKey,
    /// The core's configuration.
    pub sync: SyncConfig,
    /// How often peers are asked for newer heads.
    pub follow_interval: Duration,
    /// How long after a dropped session its peer is dialed again.
    pub redial_after: Duration,
    /// Jobs (batches and lookups) queued for the writer before the driver waits.
    pub writer_queue: usize,
    /// What our sessions answer peers with.
    pub server: Arc<dyn Server>,
}

impl DriverConfig {
    /// Defaults around `peers`, `target` and `network`: a fresh key, the core's default
    /// configuration, heads re-polled every 12 s, redial after 2 s, a 16-job writer queue,
    /// serving nothing.
    pub fn new(peers: Vec<Enode>, target: TargetChoice, network: Network) -> Self {
        Self {
            peers,
            target,
            network,
            key: SecretKey::random(&mut rand_core::OsRng),
            sync: SyncConfig::default(),
            follow_interval: Duration::from_secs(12),
            redial_after: Duration::from_secs(2),
            writer_queue: 16,
            server: Arc::new(snap_tokio_adapter::server::NoServer),
        }
    }
}

/// Something the driver reports while it runs (for progress display and logs).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DriverEvent {
    /// A peer finished its handshake.
    PeerReady {
        /// The peer.
        enode: Enode,
        /// Its client name.
        client: String,
        /// Whether it speaks snap.
        snap: bool,
    },
    /// A peer's session ended.
    PeerGone {
        /// The peer.
        enode: Enode,
        /// Why.
        reason: String,
    },
    /// A peer was dropped for breaking the protocol.
    Misbehaved {
        /// The peer.
        enode: Enode,
        /// What it did.
        reason: String,
    },
    /// The sync continues from the store's progress record.
    Resumed(Target),
    /// No peer serves this candidate pivot's state.
    Unserved(Target),
    /// The sync started on this target.
    Started(Target),
    /// An event of the core.
    Sync(SyncEvent),
}

/// How a sync ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncOutcome {
    /// The target synced (or being synced when interrupted).
    pub target: Option<Target>,
    /// Totals written.
    pub counters: Counters,
    /// Whether the core reported `Done`.
    pub done: bool,
    /// Time spent.
    pub elapsed: Duration,
}

/// Why the driver failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The store's progress record does not decode.
    #[error("progress record: {0}")]
    Progress(#[from] ProgressDecodeError),
    /// The writer thread died.
    #[error(transparent)]
    Writer(#[from] crate::writer::DriverJoinError),
    /// Nothing to sync from.
    #[error("no peers given")]
    NoPeers,
}

struct PeerEntry {
    enode: Enode,
    commands: mpsc::Sender<Command>,
    ready: bool,
    snap: Option<SnapVersion>,
    in_syncer: bool,
}

type PeerMessage = (PeerId, Option<SessionEvent>);

struct Driver<F> {
    config: DriverConfig,
    node: Node,
    peers: HashMap<PeerId, PeerEntry>,
    next_peer: u64,
    events_tx: mpsc::UnboundedSender<PeerMessage>,
    redials: Vec<(Instant, Enode)>,
    pivot: Pivot,
    syncer: Option<Syncer>,
    done: bool,
    observe: F,
    metrics: Arc<Metrics>,
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// Syncs into `store` until done or until `shutdown` completes; returns the outcome and the
/// store (every queued batch applied). `observe` sees every [`DriverEvent`].
pub async fn run_sync<S, F>(
    config: DriverConfig,
    store: S,
    shutdown: impl Future<Output = ()>,
    metrics: Arc<Metrics>,
    observe: F,
) -> Result<(SyncOutcome, S), DriverError>
where
    S: SyncStore + Send + 'static,
    F: FnMut(&DriverEvent),
{
    if config.peers.is_empty() {
        return Err(DriverError::NoPeers);
    }
    let started = Instant::now();
    let resumed = match store.progress()? {
        Some(bytes) => Some(ProgressRecord::decode_versioned(&bytes)?),
        None => None,
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let writer = Writer::spawn(store, config.writer_queue, done_tx);
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let mut connection = ConnectionConfig::new(config.network.info.clone());
    connection.max_snap_in_flight = config.sync.max_requests_per_peer.max(1) + 4;
    // This node takes its pivot from the peers' Status heads, without a header stream carrying
    // block access list hashes, so it catches up by healing, and healing fetches trie nodes,
    // which only snap/1 carries: offering snap/2 too would negotiate snap/2 with every peer
    // that has it (devp2p keeps the highest common version) and leave nothing to heal from.
    // (It serves both versions, BALs included, from `snap serve`.)
    connection.snap_versions = vec![SnapVersion::V1];
    let node = Node::new(config.key.clone(), connection, config.server.clone());
    let mut driver = Driver {
        pivot: Pivot::new(config.target, resumed.as_ref().map(|r| r.target)),
        node,
        peers: HashMap::new(),
        next_peer: 1,
        events_tx,
        redials: Vec::new(),
        syncer: None,
        done: false,
        observe,
        metrics,
        config,
    };
    if let Some(record) = resumed {
        (driver.observe)(&DriverEvent::Resumed(record.target));
        driver.syncer = Some(Syncer::resume(driver.config.sync.clone(), record, Instant::now()));
    } else if let Some(target) = driver.pivot.started() {
        driver.start(target);
    }
    for enode in driver.config.peers.clone() {
        driver.dial(enode);
    }
    let mut follow = tokio::time::interval(driver.config.follow_interval);
    follow.tick().await;
    let mut failure = None;
    tokio::pin!(shutdown);
    loop {
        if let Err(error) = driver.drain(&writer).await {
            failure = Some(error);
            break;
        }
        if driver.done {
            break;
        }
        let timeout = driver.syncer.as_ref().and_then(Syncer::poll_timeout);
        let redial = driver.redials.iter().map(|(at, _)| *at).min();
        tokio::select! {
            Some((peer, event)) = events_rx.recv() => driver.on_peer(peer, event).await,
            Some(done) = done_rx.recv() => {
                if let Err(error) = driver.on_written(done) {
                    failure = Some(error);
                    break;
                }
            }
            () = sleep_until(timeout) => {
                if let Some(syncer) = &mut driver.syncer {
                    syncer.handle_timeout(Instant::now());
                }
            }
            () = sleep_until(redial) => driver.redial_due(),
            _ = follow.tick() => {
                let ready: Vec<PeerId> =
                    driver.peers.iter().filter(|(_, p)| p.ready).map(|(id, _)| *id).collect();
                let actions = driver.pivot.on_follow_tick(&ready);
                driver.act(actions).await;
            }
            () = &mut shutdown => break,
        }
    }
    for peer in driver.peers.values() {
        let _ = peer.commands.try_send(Command::Disconnect(DisconnectReason::ClientQuitting));
    }
    let outcome = SyncOutcome {
        target: driver.syncer.as_ref().map(Syncer::target).or(driver.pivot.started()),
        counters: driver.syncer.as_ref().map(Syncer::counters).unwrap_or_default(),
        done: driver.done,
        elapsed: started.elapsed(),
    };
    let store = writer.finish().await?;
    // Acknowledgements of the last batches arrive after the loop; they change nothing stored.
    while let Ok(done) = done_rx.try_recv() {
        if let WriterDone::Failed(error) = done {
            return Err(error.into());
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok((outcome, store)),
    }
}

impl<F: FnMut(&DriverEvent)> Driver<F> {
    fn dial(&mut self, enode: Enode) {
        let id = PeerId(self.next_peer);
        self.next_peer += 1;
        let node = self.node.clone();
        let events = self.events_tx.clone();
        let (commands_tx, mut commands_rx) = mpsc::channel::<Command>(256);
        self.peers.insert(
            id,
            PeerEntry { enode, commands: commands_tx, ready: false, snap: None, in_syncer: false },
        );
        tokio::spawn(async move {
            let handle = match node.dial(&enode).await {
                Ok(handle) => handle,
                Err(error) => {
                    let reason = format!("dial failed: {error}");
                    let closed = Event::Closed(snap_tokio_adapter::connection::CloseReason::Error(
                        snap_tokio_adapter::connection::ConnectionError::TransportClosed,
                    ));
                    tracing::debug!(%enode, %reason);
                    let _ = events.send((id, Some(SessionEvent::Connection(closed))));
                    let _ = events.send((id, None));
                    return;
                }
            };
            let (commands, mut session_events, _task) = handle.into_parts();
            // Commands and events flow independently, so a session waiting for its events to
            // be read never holds up the commands queued for it, nor the other way round.
            let relay = tokio::spawn(async move {
                while let Some(command) = commands_rx.recv().await {
                    if commands.send(command).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(event) = session_events.recv().await {
                let _ = events.send((id, Some(event)));
            }
            relay.abort();
            let _ = events.send((id, None));
        });
    }

    fn redial_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = self.redials.drain(..).partition(|(at, _)| *at <= now);
        self.redials = later;
        for (_, enode) in due {
            self.dial(enode);
        }
    }

    fn start(&mut self, target: Target) {
        (self.observe)(&DriverEvent::Started(target));
        let mut syncer = Syncer::new(self.config.sync.clone(), target, Instant::now());
        for (id, peer) in &mut self.peers {
            if let (true, Some(version)) = (peer.ready, peer.snap) {
                peer.in_syncer = true;
                syncer.handle_input(
                    Instant::now(),
                    Input::PeerConnected { peer: *id, versions: vec![version] },
                );
            }
        }
        self.syncer = Some(syncer);
    }

    fn send(&self, peer: PeerId, command: Command) {
        if let Some(entry) = self.peers.get(&peer) {
            // The relay's queue holds more than the session allows in flight; a full queue
            // means the session is gone, and its requests time out in the core.
            let _ = entry.commands.try_send(command);
        }
    }

    async fn act(&mut self, actions: Vec<PivotAction>) {
        for action in actions {
            match action {
                PivotAction::Headers(peer, request) => {
                    self.send(peer, Command::GetHeaders(request))
                }
                PivotAction::Probe(peer, message) => self.send(peer, Command::Snap(message)),
                PivotAction::Start(target) => {
                    if self.syncer.is_none() {
                        self.start(target);
                    }
                }
                PivotAction::Move(target) => {
                    if let Some(syncer) = &mut self.syncer {
                        syncer.handle_input(Instant::now(), Input::NewTarget(target));
                    }
                }
                PivotAction::Unserved(target) => (self.observe)(&DriverEvent::Unserved(target)),
            }
        }
    }

    async fn on_peer(&mut self, id: PeerId, event: Option<SessionEvent>) {
        let Some(event) = event else {
            self.on_gone(id, "session ended".into());
            return;
        };
        let now = Instant::now();
        match event {
            SessionEvent::Connection(Event::Ready { client_id, status, snap, .. }) => {
                let Some(peer) = self.peers.get_mut(&id) else { return };
                peer.ready = true;
                peer.snap = snap;
                self.metrics.peers.fetch_add(1, Relaxed);
                let enode = peer.enode;
                if let (Some(syncer), Some(version)) = (&mut self.syncer, snap) {
                    peer.in_syncer = true;
                    syncer.handle_input(
                        now,
                        Input::PeerConnected { peer: id, versions: vec![version] },
                    );
                }
                (self.observe)(&DriverEvent::PeerReady {
                    enode,
                    client: client_id,
                    snap: snap.is_some(),
                });
                if snap.is_some() {
                    let actions = self.pivot.on_ready(id, status.head_hash);
                    self.act(actions).await;
                }
            }
            SessionEvent::Connection(Event::Snap(message)) => {
                self.metrics.responses.fetch_add(1, Relaxed);
                let request_id = message.request_id();
                if self.pivot.owns_probe(request_id) {
                    let actions = self.pivot.on_probe(id, request_id, Some(&message));
                    self.act(actions).await;
                } else if let Some(syncer) = &mut self.syncer {
                    syncer.handle_input(now, Input::Response { peer: id, message });
                }
            }
            SessionEvent::Connection(Event::SnapTimeout(request_id)) => {
                self.metrics.error("snap_timeout");
                if self.pivot.owns_probe(request_id) {
                    let actions = self.pivot.on_probe(id, request_id, None);
                    self.act(actions).await;
                }
                // The core times its own requests out by its deadlines.
            }
            SessionEvent::Connection(Event::Headers(headers)) => {
                let actions = self.pivot.on_headers(id, headers.request_id, Some(&headers));
                self.act(actions).await;
            }
            SessionEvent::Connection(Event::HeadersTimeout(request_id)) => {
                self.metrics.error("headers_timeout");
                let actions = self.pivot.on_headers(id, request_id, None);
                self.act(actions).await;
            }
            SessionEvent::Connection(Event::Closed(reason)) => {
                self.metrics.error("session_closed");
                self.on_gone(id, format!("{reason:?}"));
            }
            SessionEvent::Rejected(command, error) => {
                self.metrics.error("command_rejected");
                tracing::debug!(?command, %error, "command rejected");
            }
        }
    }

    fn on_gone(&mut self, id: PeerId, reason: String) {
        let Some(peer) = self.peers.remove(&id) else { return };
        if peer.ready {
            self.metrics.peers.fetch_sub(1, Relaxed);
        }
        if peer.in_syncer
            && let Some(syncer) = &mut self.syncer
        {
            syncer.handle_input(Instant::now(), Input::PeerDisconnected { peer: id });
        }
        (self.observe)(&DriverEvent::PeerGone { enode: peer.enode, reason });
        if !self.done {
            self.redials.push((Instant::now() + self.config.redial_after, peer.enode));
        }
    }

    fn on_written(&mut self, done: WriterDone) -> Result<(), DriverError> {
        let Some(syncer) = &mut self.syncer else { return Ok(()) };
        match done {
            WriterDone::Written { id, bytes } => {
                self.metrics.batches.fetch_add(1, Relaxed);
                self.metrics.bytes_written.fetch_add(bytes as u64, Relaxed);
                syncer.handle_input(Instant::now(), Input::Written(id));
            }
            WriterDone::Looked(id, answer) => {
                syncer.handle_input(Instant::now(), Input::LookupDone { id, answer });
            }
            WriterDone::Failed(error) => return Err(error.into()),
        }
        Ok(())
    }

    /// Carries out every output of the core.
    async fn drain<S: SyncStore + Send + 'static>(
        &mut self,
        writer: &Writer<S>,
    ) -> Result<(), DriverError> {
        loop {
            let Some(output) = self.syncer.as_mut().and_then(Syncer::poll_output) else {
                return Ok(());
            };
            match output {
                Output::Send { peer, message } => {
                    self.metrics.requests.fetch_add(1, Relaxed);
                    self.send(peer, Command::Snap(message));
                }
                Output::Write(batch) => {
                    if !writer.submit(WriterJob::Batch(batch)).await {
                        return Err(crate::writer::DriverJoinError.into());
                    }
                }
                Output::Lookup { id, lookup } => {
                    if !writer.submit(WriterJob::Lookup(id, lookup)).await {
                        return Err(crate::writer::DriverJoinError.into());
                    }
                }
                Output::Disconnect { peer, reason } => {
                    self.metrics.error("misbehaviour");
                    if let Some(entry) = self.peers.get(&peer) {
                        (self.observe)(&DriverEvent::Misbehaved {
                            enode: entry.enode,
                            reason: reason.to_string(),
                        });
                    }
                    self.send(peer, Command::Disconnect(DisconnectReason::BreachOfProtocol));
                }
                Output::Event(event) => {
                    if let SyncEvent::Progress(report) = &event {
                        self.metrics.report(report);
                    }
                    if matches!(event, SyncEvent::Done { .. }) {
                        self.done = true;
                        self.metrics.phase.store(3, Relaxed);
                    }
                    (self.observe)(&DriverEvent::Sync(event));
                }
            }
        }
    }
}
