//! Peer workers: one thread per peer doing that peer's blocking IO, reporting back on one
//! channel, and the owner's side of the loop that feeds a `Syncer` and applies its outputs.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::mpsc::{self, Receiver, RecvTimeoutError, Sender},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use snap_core::{
    sync::{Input, Output, PeerId, SyncEvent, Syncer, host::MemoryStore},
    wire::SnapMessage,
};

use crate::peer::{BlockingPeer, PeerError};

/// What a worker reports to its owner.
#[derive(Debug)]
pub enum WorkerEvent {
    /// A response from the worker's peer.
    Response {
        /// The peer.
        peer: PeerId,
        /// The response.
        message: SnapMessage,
    },
    /// The worker's peer is gone, or the worker crashed.
    Gone {
        /// The peer.
        peer: PeerId,
        /// Whether the worker thread panicked (a supervisor restarts it).
        crashed: bool,
    },
}

/// A running worker: a channel of requests into its thread.
#[derive(Debug)]
pub struct Worker {
    requests: Sender<SnapMessage>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// Starts a worker thread for `peer` over `client`, reporting to `events`.
    pub fn spawn(peer: PeerId, mut client: impl BlockingPeer, events: Sender<WorkerEvent>) -> Self {
        let (requests, inbox) = mpsc::channel::<SnapMessage>();
        let thread = thread::spawn(move || {
            // Reports the end of the worker, also when the client panics.
            let guard = GoneGuard { peer, events: events.clone() };
            for request in inbox {
                match client.request(&request) {
                    Ok(message) => {
                        if events.send(WorkerEvent::Response { peer, message }).is_err() {
                            break;
                        }
                    }
                    Err(PeerError::Disconnected | PeerError::Undecodable(_)) => break,
                }
            }
            drop(guard);
        });
        Self { requests, thread }
    }

    /// Hands a request to the worker (false if it is gone).
    pub fn send(&self, request: SnapMessage) -> bool {
        self.requests.send(request).is_ok()
    }

    /// Whether the worker's thread ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

struct GoneGuard {
    peer: PeerId,
    events: Sender<WorkerEvent>,
}

impl Drop for GoneGuard {
    fn drop(&mut self) {
        let crashed = thread::panicking();
        let _ = self.events.send(WorkerEvent::Gone { peer: self.peer, crashed });
    }
}

/// The owner's half of a thread-based host: the `Syncer`, the workers by peer, the store, and
/// the inputs the owner produces itself (acknowledgements and lookup answers).
#[derive(Debug)]
pub struct Owner {
    /// The sync.
    pub syncer: Syncer,
    /// The store batches are applied to.
    pub store: MemoryStore,
    workers: BTreeMap<PeerId, Worker>,
    local: VecDeque<Input>,
    events: Receiver<WorkerEvent>,
    sender: Sender<WorkerEvent>,
    /// Batches applied.
    pub batches: u64,
    done: bool,
}

/// What one turn of the owner's loop saw.
#[derive(Debug, Default)]
pub struct Turn {
    /// Progress and other events the core emitted.
    pub events: Vec<SyncEvent>,
    /// Workers that crashed (their peers were reported gone to the core).
    pub crashed: Vec<PeerId>,
}

impl Owner {
    /// An owner of `syncer` writing into `store`.
    pub fn new(syncer: Syncer, store: MemoryStore) -> Self {
        let (sender, events) = mpsc::channel();
        Self {
            syncer,
            store,
            workers: BTreeMap::new(),
            local: VecDeque::new(),
            events,
            sender,
            batches: 0,
            done: false,
        }
    }

    /// Starts a worker for `peer` and tells the core the peer connected.
    pub fn connect(&mut self, peer: PeerId, client: impl BlockingPeer) {
        let versions = client.versions();
        self.workers.insert(peer, Worker::spawn(peer, client, self.sender.clone()));
        self.syncer.handle_input(Instant::now(), Input::PeerConnected { peer, versions });
    }

    /// Feeds one input now.
    pub fn input(&mut self, input: Input) {
        self.syncer.handle_input(Instant::now(), input);
    }

    /// Whether the core reported `Done`.
    pub const fn is_done(&self) -> bool {
        self.done
    }

    /// Drains the core's outputs (sending requests to workers, applying batches, answering
    /// lookups), feeds the owner's own inputs, then waits for one worker event or the core's
    /// deadline, at most `max_wait`.
    pub fn turn(&mut self, max_wait: Duration) -> Turn {
        let mut turn = Turn::default();
        loop {
            while let Some(output) = self.syncer.poll_output() {
                self.apply(output, &mut turn);
            }
            match self.local.pop_front() {
                Some(input) => self.input(input),
                None => break,
            }
        }
        if self.done {
            return turn;
        }
        let now = Instant::now();
        let wait = self
            .syncer
            .poll_timeout()
            .map_or(max_wait, |deadline| deadline.saturating_duration_since(now))
            .min(max_wait);
        match self.events.recv_timeout(wait) {
            Ok(WorkerEvent::Response { peer, message }) => {
                self.input(Input::Response { peer, message });
            }
            Ok(WorkerEvent::Gone { peer, crashed }) => {
                self.workers.remove(&peer);
                if crashed {
                    turn.crashed.push(peer);
                }
                self.input(Input::PeerDisconnected { peer });
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.syncer.handle_timeout(Instant::now());
            }
        }
        turn
    }

    fn apply(&mut self, output: Output, turn: &mut Turn) {
        match output {
            Output::Send { peer, message } => {
                if !self.workers.get(&peer).is_some_and(|worker| worker.send(message)) {
                    self.local.push_back(Input::PeerDisconnected { peer });
                }
            }
            Output::Write(batch) => {
                // One atomic write: the data and the progress record that covers it.
                let id = batch.id;
                self.store.apply(batch);
                self.batches += 1;
                self.local.push_back(Input::Written(id));
            }
            Output::Lookup { id, lookup } => {
                let answer = self.store.answer(&lookup);
                self.local.push_back(Input::LookupDone { id, answer });
            }
            Output::Disconnect { peer, .. } => {
                // Dropping the worker's channel ends its thread after the request at hand.
                self.workers.remove(&peer);
            }
            Output::Event(event) => {
                if matches!(event, SyncEvent::Done { .. }) {
                    self.done = true;
                }
                turn.events.push(event);
            }
        }
    }

    /// Stops every worker (their threads end after the request at hand) and returns the store.
    pub fn into_store(self) -> MemoryStore {
        self.store
    }
}
