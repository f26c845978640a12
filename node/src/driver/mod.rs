//! The driver: one task owns the [`Syncer`], feeds it peers' events, the writer's
//! acknowledgements and its one timer, and carries out its outputs (`docs/EMBEDDING.md`).
//!
//! - Peers: the adapter's [`PeerSet`] dials every `--peer` (again after a drop, with
//!   backoff), bans misbehaving peers by node id, stops dialling peers on another chain and
//!   delivers all sessions' events through one bounded channel. The driver only maps its
//!   peer keys to the core's peer ids. When no static peer on our chain is left, the sync
//!   fails with a sentence saying what the peers are on.
//! - Timeouts: the core's `Syncer` and `PivotSelector` time out their own requests (and
//!   forgive late answers); the adapter times out nothing of snap.
//! - Store: batches and lookups go, in order, to the blocking [`Writer`]; its bounded queue and
//!   the core's limit on unacknowledged batches hold the download back when the disk is slow.
//! - Target: chosen and followed by the core's [`PivotSelector`] from a trusted anchor (the
//!   user's root or block hash, a consensus client's fork choice, or headers a quorum of peers
//!   agree on); its headers go to the `Syncer` as `Input::Header`. A resumed sync keeps its
//!   target until the selector, following its anchor, hands out a newer one.
//! - Stop: when the `shutdown` future completes, the driver stops asking, lets the writer
//!   apply what is queued (each batch carries its progress record) and returns; a restart on
//!   the same store resumes.

use std::{
    collections::HashMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use k256::SecretKey;
use snap_core::{
    pivot::{PivotEvent, PivotInput, PivotOutput, PivotSelector},
    sync::{Input, Output, PeerId, ProgressRecord, SyncConfig, SyncEvent, Syncer, Target},
    wire::{SnapMessage, SnapVersion},
};
use snap_store::SyncStore;
use snap_tokio_adapter::{
    connection::{ConnectionConfig, Event},
    enode::Enode,
    p2p::DisconnectReason,
    peers::{PeerEvent, PeerKey, PeerSet, PeerSetConfig},
    server::Server,
    session::{Command, Node},
};
use tokio::{net::TcpListener, sync::mpsc};

pub use crate::pivot::TargetChoice;
mod report;
mod usefulness;

pub use report::{DriverError, DriverEvent, SyncOutcome, wrong_network_advice};
use usefulness::Usefulness;
pub use usefulness::UselessRule;

use crate::{
    engine::AnchorReceiver,
    metrics::Metrics,
    network::Network,
    pivot::{ProbeBook, core_headers, header_request},
    serving::{HeldHeaders, RecentHeaders},
    writer::{Writer, WriterDone, WriterJob},
};

/// Pivot probes remembered at once (the selector probes one candidate at a time).
const PROBES_KEPT: usize = 256;

/// Received headers remembered until the pivot choice trusts them (two full replies).
const RECENT_HEADERS: usize = 2 * snap_tokio_adapter::eth::MAX_HEADERS;

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
    /// How often peers are asked for newer heads (and a stalled pivot choice is retried).
    pub follow_interval: Duration,
    /// Peer limits, redial backoff and bans.
    pub peer_set: PeerSetConfig,
    /// Jobs (batches and lookups) queued for the writer before the driver waits.
    pub writer_queue: usize,
    /// What our sessions answer peers with.
    pub server: Arc<dyn Server>,
    /// Peers discovery found: each is dialled once while the peer set has room.
    pub candidates: Option<mpsc::Receiver<Enode>>,
    /// Where peers connect to us (within the peer set's limits); `None`: we only dial.
    pub listener: Option<TcpListener>,
    /// Where the trusted headers of the pivot choice are kept as received, to answer peers'
    /// header requests with (`serving::LiveServer`); `None`: not kept.
    pub held_headers: Option<Arc<HeldHeaders>>,
    /// When a peer that speaks snap but serves nothing is set aside.
    pub useless: UselessRule,
}

impl DriverConfig {
    /// Defaults around `peers`, `target` and `network`: a fresh key, the core's default
    /// configuration, heads re-polled every 12 s, the peer set's defaults (redial after 2 s
    /// doubling to 5 min, 15-minute bans), a 16-job writer queue, serving nothing, not
    /// listening.
    pub fn new(peers: Vec<Enode>, target: TargetChoice, network: Network) -> Self {
        Self {
            peers,
            target,
            network,
            key: SecretKey::random(&mut rand_core::OsRng),
            sync: SyncConfig::default(),
            follow_interval: Duration::from_secs(12),
            peer_set: PeerSetConfig::default(),
            writer_queue: 16,
            server: Arc::new(snap_tokio_adapter::server::NoServer),
            candidates: None,
            listener: None,
            held_headers: None,
            useless: UselessRule::default(),
        }
    }
}

struct PeerEntry {
    enode: Enode,
    snap: Option<SnapVersion>,
    in_syncer: bool,
    /// Given with `--peer` (never set aside as useless).
    fixed: bool,
    usefulness: Usefulness,
    /// Already set aside (its session is ending).
    aside: bool,
}

struct Driver<F> {
    config: DriverConfig,
    set: PeerSet,
    peers: HashMap<PeerId, PeerEntry>,
    probes: ProbeBook,
    wrong_network: Option<String>,
    selector: PivotSelector,
    /// Headers received lately, kept only when trusted ones are held.
    recent: RecentHeaders,
    consensus: Option<AnchorReceiver>,
    first_anchor: bool,
    syncer: Option<Syncer>,
    done: bool,
    observe: F,
    metrics: Arc<Metrics>,
}

/// The consensus client's next forkchoice update (never, without a consensus client or once
/// the Engine API is gone).
async fn next_anchor(receiver: Option<AnchorReceiver>) -> Option<crate::engine::ForkchoiceAnchor> {
    match receiver {
        Some(mut receiver) => match receiver.next().await {
            Some(anchor) => Some(anchor),
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// The next peer discovery found (never, without discovery).
async fn next_candidate(candidates: &mut Option<mpsc::Receiver<Enode>>) -> Option<Enode> {
    match candidates {
        Some(receiver) => match receiver.recv().await {
            Some(enode) => Some(enode),
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

const fn peer_id(key: PeerKey) -> PeerId {
    PeerId(key)
}

/// Syncs into `store` until done or until `shutdown` completes; returns the outcome and the
/// store (every queued batch applied). `observe` sees every [`DriverEvent`]. Every peer is
/// disconnected at the end; [`run_sync_serving`] keeps them.
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
    let (outcome, store, mut set) = run_sync_serving(config, store, shutdown, metrics, observe)
        .await
        .map_err(|(error, mut set)| {
            set.disconnect_all(DisconnectReason::ClientQuitting);
            error
        })?;
    set.disconnect_all(DisconnectReason::ClientQuitting);
    Ok((outcome, store))
}

/// [`run_sync`], returning the peer set with its sessions still open (and still answered by
/// `config.server`), so a node can go on serving the peers it has (`serve_forever`-style)
/// without dropping them. On failure the set is returned beside the error.
pub async fn run_sync_serving<S, F>(
    mut config: DriverConfig,
    store: S,
    shutdown: impl Future<Output = ()>,
    metrics: Arc<Metrics>,
    observe: F,
) -> Result<(SyncOutcome, S, PeerSet), (DriverError, PeerSet)>
where
    S: SyncStore + Send + 'static,
    F: FnMut(&DriverEvent),
{
    let mut candidates = config.candidates.take();
    let mut connection = ConnectionConfig::new(config.network.info.clone());
    connection.max_snap_in_flight = config.sync.max_requests_per_peer.max(1) + 4;
    // snap/1, and snap/2 as well once the chain's Amsterdam is active: each peer settles on the
    // highest version both sides speak, and the core is told which (`Input::PeerConnected`).
    // Ranges come from either; trie nodes (healing) only from snap/1 peers and access lists
    // (BAL catch-up) only from snap/2 ones, so before Amsterdam a peer speaking both must
    // settle on snap/1 to heal us.
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    connection.snap_versions = config.network.sync_snap_versions(unix_now);
    let node = Node::new(config.key.clone(), connection, config.server.clone());
    let mut set = PeerSet::new(node, config.peer_set.clone());
    for enode in &config.peers {
        set.add_static(*enode);
    }
    if let Some(listener) = config.listener.take() {
        set.listen(listener);
    }
    // Peers that may connect to us are not a plan to find any.
    if config.peers.is_empty() && candidates.is_none() {
        return Err((DriverError::NoPeers, set));
    }
    let started = Instant::now();
    let resumed = match store.progress() {
        Ok(Some(bytes)) => match ProgressRecord::decode_versioned(&bytes) {
            Ok(record) => Some(record),
            Err(error) => return Err((error.into(), set)),
        },
        Ok(None) => None,
        Err(error) => return Err((error.into(), set)),
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let writer = Writer::spawn(store, config.writer_queue, done_tx);
    let now = Instant::now();
    let pivot_config = config.target.pivot_config(config.follow_interval);
    let probe_keep = pivot_config.request_timeout * 2;
    let anchor = config.target.anchor();
    let selector = if resumed.is_some() {
        PivotSelector::resume_without_header(pivot_config, anchor, now)
    } else {
        PivotSelector::new(pivot_config, anchor, now)
    };
    let mut driver = Driver {
        consensus: config.target.consensus(),
        first_anchor: true,
        selector,
        recent: RecentHeaders::new(RECENT_HEADERS),
        set,
        peers: HashMap::new(),
        probes: ProbeBook::new(probe_keep, PROBES_KEPT),
        wrong_network: None,
        syncer: None,
        done: false,
        observe,
        metrics,
        config,
    };
    if let Some(record) = resumed {
        (driver.observe)(&DriverEvent::Resumed(record.target));
        driver.syncer = Some(Syncer::resume(driver.config.sync.clone(), record, now));
    }
    let mut failure = None;
    tokio::pin!(shutdown);
    loop {
        driver.drain_pivot();
        if let Err(error) = driver.drain(&writer).await {
            failure = Some(error);
            break;
        }
        if driver.done {
            break;
        }
        if let Some(reason) = driver.no_peer_left() {
            failure = Some(DriverError::NoPeerOnOurNetwork(reason));
            break;
        }
        let timeout = driver.syncer.as_ref().and_then(Syncer::poll_timeout);
        let pivot_timeout = driver.selector.poll_timeout();
        let probe_expiry = driver.probes.next_expiry();
        let consensus = driver.consensus.clone();
        tokio::select! {
            event = driver.set.next_event() => driver.on_peer(event),
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
            () = sleep_until(pivot_timeout) => driver.selector.handle_timeout(Instant::now()),
            () = sleep_until(probe_expiry) => driver.forget_expired_probes(),
            anchor = next_anchor(consensus) => driver.on_anchor(anchor),
            Some(enode) = next_candidate(&mut candidates) => {
                if driver.set.dial(enode) {
                    tracing::debug!(peer = %enode.addr, "dialling a discovered peer");
                }
            }
            () = &mut shutdown => break,
        }
    }
    let outcome = SyncOutcome {
        target: driver.syncer.as_ref().map(Syncer::target),
        counters: driver.syncer.as_ref().map(Syncer::counters).unwrap_or_default(),
        done: driver.done,
        elapsed: started.elapsed(),
    };
    let set = driver.set;
    let store = match writer.finish().await {
        Ok(store) => store,
        Err(error) => return Err((error.into(), set)),
    };
    // Acknowledgements of the last batches arrive after the loop; they change nothing stored.
    while let Ok(done) = done_rx.try_recv() {
        if let WriterDone::Failed(error) = done {
            return Err((error.into(), set));
        }
    }
    match failure {
        Some(error) => Err((error, set)),
        None => Ok((outcome, store, set)),
    }
}

impl<F: FnMut(&DriverEvent)> Driver<F> {
    /// The reason to give up: every static peer is on another chain and none is connected.
    fn no_peer_left(&self) -> Option<String> {
        if self.set.statics_left() == 0 && self.set.is_empty() {
            return self.wrong_network.clone();
        }
        None
    }

    fn start(&mut self, target: Target, header: Option<snap_core::sync::Header>) {
        (self.observe)(&DriverEvent::Started(target));
        let now = Instant::now();
        let mut syncer = match header {
            Some(header) => Syncer::from_header(self.config.sync.clone(), header, now),
            None => Syncer::new(self.config.sync.clone(), target, now),
        };
        for (id, peer) in &mut self.peers {
            if let Some(version) = peer.snap {
                peer.in_syncer = true;
                syncer
                    .handle_input(now, Input::PeerConnected { peer: *id, versions: vec![version] });
            }
        }
        self.syncer = Some(syncer);
    }

    fn send(&self, peer: PeerId, command: Command) {
        // A full queue means the session is behind; the request times out in the core.
        let _ = self.set.send(peer.0, command);
    }

    /// Sends a snap request, and sets the peer aside if it has served nothing for long enough
    /// (its slot is better spent on a peer that serves).
    fn send_snap(&mut self, peer: PeerId, message: SnapMessage) {
        self.send(peer, Command::Snap(message));
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.usefulness.asked(Instant::now());
        }
        self.judge(peer);
    }

    /// Drops and bans `peer` for breaking the protocol (the core's or the pivot selector's
    /// finding), counted under `metric` and said once.
    fn ban_misbehaving(&mut self, peer: PeerId, metric: &'static str, reason: String) {
        self.metrics.error(metric);
        if let Some(entry) = self.peers.get(&peer) {
            (self.observe)(&DriverEvent::Misbehaved { enode: entry.enode, reason });
        }
        self.set.ban(peer.0, DisconnectReason::BreachOfProtocol);
    }

    /// Sets `peer` aside if it is useless by the configured rule.
    fn judge(&mut self, peer: PeerId) {
        let now = Instant::now();
        let rule = self.config.useless;
        let Some(entry) = self.peers.get_mut(&peer) else { return };
        if entry.fixed || entry.aside || !entry.usefulness.is_useless(&rule, now) {
            return;
        }
        entry.aside = true;
        let enode = entry.enode;
        self.metrics.error("useless_peer");
        self.set.set_aside(peer.0, rule.set_aside_for);
        (self.observe)(&DriverEvent::Useless { enode, kept_out: rule.set_aside_for });
    }

    /// Carries out every output of the pivot selector.
    fn drain_pivot(&mut self) {
        while let Some(output) = self.selector.poll_output() {
            let now = Instant::now();
            match output {
                PivotOutput::GetHeaders { peer, request } => {
                    self.send(peer, Command::GetHeaders(header_request(&request)));
                }
                PivotOutput::Probe { peer, request } => {
                    self.probes.sent(request.request_id, peer, now);
                    self.send_snap(peer, SnapMessage::GetAccountRange(request));
                }
                PivotOutput::Start { target, header } => {
                    if let Some(header) = &header {
                        self.hold(header);
                    }
                    if self.syncer.is_none() {
                        self.start(target, header);
                    }
                }
                PivotOutput::Header(header) => {
                    self.hold(&header);
                    if let Some(syncer) = &mut self.syncer {
                        syncer.handle_input(now, Input::Header(header));
                    }
                }
                PivotOutput::Jump(header) => {
                    self.hold(&header);
                    match &mut self.syncer {
                        Some(syncer) => {
                            syncer.handle_input(now, Input::NewTarget(header.target()));
                        }
                        None => self.start(header.target(), Some(header)),
                    }
                }
                PivotOutput::Penalize { peer, reason } => {
                    self.ban_misbehaving(peer, "pivot_misbehaviour", reason.to_string());
                }
                PivotOutput::Event(PivotEvent::Waiting(reason)) => {
                    (self.observe)(&DriverEvent::Waiting(reason));
                }
                PivotOutput::Event(PivotEvent::Unserved(target)) => {
                    (self.observe)(&DriverEvent::Unserved(target));
                }
                PivotOutput::Event(PivotEvent::Reorg { ancestor, depth }) => {
                    (self.observe)(&DriverEvent::Reorg { ancestor, depth });
                }
            }
        }
    }

    /// Keeps a header the pivot choice trusts, as it was received, to answer peers with.
    fn hold(&self, header: &snap_core::sync::Header) {
        let (Some(held), Some((number, raw))) =
            (&self.config.held_headers, self.recent.get(&header.hash))
        else {
            return;
        };
        if !held.hold(*number, header.hash, raw.clone()) {
            tracing::debug!(number, "a trusted header did not re-encode to its hash; not held");
        }
    }

    /// Probes the selector gave up on are forgotten at the adapter, so their late answers are
    /// dropped there.
    fn forget_expired_probes(&mut self) {
        for (id, peer) in self.probes.expired(Instant::now()) {
            self.metrics.error("snap_timeout");
            self.send(peer, Command::Forget(id));
        }
    }

    /// A forkchoice update: its delivered headers (not trusted by themselves), then its head
    /// and finalized hashes (trusted).
    fn on_anchor(&mut self, anchor: Option<crate::engine::ForkchoiceAnchor>) {
        let Some(anchor) = anchor else { return };
        let number = anchor.head_header.map(|h| h.header.number);
        if std::mem::take(&mut self.first_anchor) {
            tracing::info!("consensus client connected: head {} ({number:?})", anchor.head);
        } else {
            tracing::debug!("consensus client head {} ({number:?})", anchor.head);
        }
        let now = Instant::now();
        for payload in
            [anchor.finalized_header, anchor.safe_header, anchor.head_header].into_iter().flatten()
        {
            self.selector.handle_input(now, PivotInput::ConsensusHeader(payload.header));
        }
        self.selector.handle_input(
            now,
            PivotInput::ConsensusHead {
                head: anchor.head,
                finalized: anchor.finalized.unwrap_or_default(),
            },
        );
    }

    fn on_peer(&mut self, event: PeerEvent) {
        let now = Instant::now();
        match event {
            PeerEvent::Ready { peer, enode, client, status, snap, .. } => {
                let id = peer_id(peer);
                self.metrics.peers.increment(1.0);
                let fixed = self.config.peers.iter().any(|p| p.id == enode.id);
                let mut entry = PeerEntry {
                    enode,
                    snap,
                    in_syncer: false,
                    fixed,
                    usefulness: Usefulness::default(),
                    aside: false,
                };
                if let (Some(syncer), Some(version)) = (&mut self.syncer, snap) {
                    entry.in_syncer = true;
                    syncer.handle_input(
                        now,
                        Input::PeerConnected { peer: id, versions: vec![version] },
                    );
                }
                self.peers.insert(id, entry);
                (self.observe)(&DriverEvent::PeerReady { enode, client, snap: snap.is_some() });
                self.selector.handle_input(
                    now,
                    PivotInput::PeerReady {
                        peer: id,
                        head: status.head_hash,
                        snap: snap.is_some(),
                    },
                );
            }
            PeerEvent::Connection { peer, event } => self.on_connection(peer_id(peer), event),
            PeerEvent::Rejected { peer, command, error, .. } => {
                self.metrics.error("command_rejected");
                tracing::debug!(?command, %error, "command rejected");
                let id = match &command {
                    Command::GetHeaders(request) => Some(request.request_id),
                    Command::Snap(message) => Some(message.request_id()),
                    _ => None,
                };
                if let Some(id) = id {
                    self.selector.handle_input(now, PivotInput::Failed { peer: peer_id(peer), id });
                }
            }
            PeerEvent::Gone { peer, enode, reason, ready } => {
                if ready {
                    self.on_gone(peer_id(peer), enode, reason.to_string());
                } else if let Some(enode) = enode {
                    tracing::debug!(peer = %enode.addr, %reason, "could not connect");
                }
            }
            PeerEvent::WrongNetwork { enode, error } => {
                self.metrics.error("wrong_network");
                let reason = wrong_network_advice(&error);
                (self.observe)(&DriverEvent::WrongNetwork { enode, reason: reason.clone() });
                self.wrong_network = Some(reason);
            }
            PeerEvent::Banned { id, duration } => {
                self.metrics.error("banned");
                tracing::info!(
                    "banned node {}… for {} s",
                    &::hex::encode(id)[..16],
                    duration.as_secs()
                );
            }
            PeerEvent::Refused { .. } => self.metrics.error("refused"),
            PeerEvent::AcceptError { error, retry_in } => {
                tracing::warn!(
                    "accepting a peer: {error}; retrying in {} ms",
                    retry_in.as_millis()
                );
            }
            _ => {}
        }
    }

    fn on_connection(&mut self, id: PeerId, event: Event) {
        let now = Instant::now();
        match event {
            Event::Snap(message) => {
                self.metrics.responses.increment(1);
                if let Some(entry) = self.peers.get_mut(&id) {
                    entry.usefulness.answered(&message);
                }
                self.judge(id);
                let request_id = message.request_id();
                if self.probes.answered(request_id, id) {
                    let input = match message {
                        SnapMessage::AccountRange(reply) => PivotInput::Probe { peer: id, reply },
                        // Not an answer to a probe: the probe failed.
                        _ => PivotInput::Failed { peer: id, id: request_id },
                    };
                    self.selector.handle_input(now, input);
                } else if let Some(syncer) = &mut self.syncer {
                    syncer.handle_input(now, Input::Response { peer: id, message });
                }
            }
            Event::Late(_) => self.metrics.error("late_response"),
            Event::Headers(reply) => {
                if self.config.held_headers.is_some() {
                    for received in &reply.headers {
                        let raw = alloy_rlp::encode(&received.header).into();
                        self.recent.received(received.header.number, received.hash, raw);
                    }
                }
                let headers = core_headers(&reply);
                self.selector.handle_input(
                    now,
                    PivotInput::Headers { peer: id, id: reply.request_id, headers },
                );
            }
            Event::HeadersTimeout(request_id) => {
                self.metrics.error("headers_timeout");
                self.selector.handle_input(now, PivotInput::Failed { peer: id, id: request_id });
            }
            _ => {}
        }
    }

    fn on_gone(&mut self, id: PeerId, enode: Option<Enode>, reason: String) {
        self.metrics.error("session_closed");
        self.probes.peer_gone(id);
        self.selector.handle_input(Instant::now(), PivotInput::PeerGone { peer: id });
        let Some(peer) = self.peers.remove(&id) else { return };
        self.metrics.peers.decrement(1.0);
        if peer.in_syncer
            && let Some(syncer) = &mut self.syncer
        {
            syncer.handle_input(Instant::now(), Input::PeerDisconnected { peer: id });
        }
        (self.observe)(&DriverEvent::PeerGone { enode: enode.unwrap_or(peer.enode), reason });
    }

    fn on_written(&mut self, done: WriterDone) -> Result<(), DriverError> {
        let Some(syncer) = &mut self.syncer else { return Ok(()) };
        match done {
            WriterDone::Written { id, bytes, spare } => {
                self.metrics.batches.increment(1);
                self.metrics.bytes_written.increment(bytes as u64);
                syncer.recycle_batch(spare);
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
                    self.metrics.requests.increment(1);
                    self.send_snap(peer, message);
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
                    self.ban_misbehaving(peer, "misbehaviour", reason.to_string());
                }
                Output::Event(event) => {
                    if let SyncEvent::Progress(report) = &event {
                        self.metrics.report(report);
                    }
                    if matches!(event, SyncEvent::Done { .. }) {
                        self.done = true;
                        self.metrics.phase.set(3.0);
                    }
                    (self.observe)(&DriverEvent::Sync(event));
                }
            }
        }
    }
}
