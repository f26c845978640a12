//! Blocking snap clients: the transport a thread-based host talks through, and a simulated peer
//! over the real server and codec for examples and tests.

use std::{
    sync::{Arc, RwLock},
    thread,
    time::Duration,
};

use alloy_primitives::B256;
use snap_core::{
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    wire::{Limits, SnapMessage, SnapVersion},
};

/// Why a request to a peer failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The peer is gone; the client cannot be used again.
    #[error("peer disconnected")]
    Disconnected,
    /// The peer sent bytes that do not decode.
    #[error("undecodable response: {0}")]
    Undecodable(String),
}

/// A blocking snap client for one peer: sends one request and waits for its response. A host
/// runs each on its own thread; the core's own deadlines decide when a slow answer is too late.
pub trait BlockingPeer: Send + 'static {
    /// The snap versions negotiated with the peer.
    fn versions(&self) -> Vec<SnapVersion>;

    /// Sends `request` and waits for the response.
    fn request(&mut self, request: &SnapMessage) -> Result<SnapMessage, PeerError>;
}

/// A factory of blocking clients for one peer slot: called again to restart a crashed worker.
pub type ClientFactory = Box<dyn FnMut() -> Box<dyn BlockingPeer> + Send>;

/// The states simulated peers serve, addressed by root, shared by all of them. New states can
/// be added while they run (the chain moving).
#[derive(Clone, Debug, Default)]
pub struct ServedStates(Arc<RwLock<Vec<Arc<InMemoryState>>>>);

impl ServedStates {
    /// Peers serving `states`.
    pub fn new(states: impl IntoIterator<Item = InMemoryState>) -> Self {
        Self(Arc::new(RwLock::new(states.into_iter().map(Arc::new).collect())))
    }

    /// Starts serving one more state.
    pub fn push(&self, state: InMemoryState) {
        self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()).push(Arc::new(state));
    }

    /// The state with this root, or the newest one (which answers an unknown root empty).
    fn for_root(&self, root: Option<B256>) -> Option<Arc<InMemoryState>> {
        let states = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        root.and_then(|root| states.iter().find(|state| state.root() == root).cloned())
            .or_else(|| states.last().cloned())
    }
}

/// Faults a simulated peer injects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Panic (crash the worker thread) on every n-th request.
    pub crash_every: Option<u64>,
    /// Sleep this long before answering every n-th request (past the core's timeout).
    pub stall_every: Option<(u64, Duration)>,
    /// Latency of every answer.
    pub latency: Duration,
}

/// A simulated peer: requests and responses cross as encoded bytes through the project's
/// codec and server, with injected faults.
#[derive(Debug)]
pub struct SimulatedPeer {
    states: ServedStates,
    faults: Faults,
    requests: u64,
}

impl SimulatedPeer {
    /// A peer serving `states` with `faults`.
    pub const fn new(states: ServedStates, faults: Faults) -> Self {
        Self { states, faults, requests: 0 }
    }
}

impl SimulatedPeer {
    /// One boxed client per fault set, for hosts that take a list of peers.
    pub fn clients(states: &ServedStates, faults: &[Faults]) -> Vec<Box<dyn BlockingPeer>> {
        faults.iter().map(|faults| Box::new(Self::new(states.clone(), *faults)) as _).collect()
    }

    /// One client factory per fault set (a supervisor calls a factory again to restart a
    /// crashed worker).
    pub fn factories(states: &ServedStates, faults: &[Faults]) -> Vec<ClientFactory> {
        faults
            .iter()
            .map(|&faults| {
                let states = states.clone();
                Box::new(move || {
                    Box::new(Self::new(states.clone(), faults)) as Box<dyn BlockingPeer>
                }) as ClientFactory
            })
            .collect()
    }
}

impl BlockingPeer for SimulatedPeer {
    fn versions(&self) -> Vec<SnapVersion> {
        vec![SnapVersion::V1]
    }

    fn request(&mut self, request: &SnapMessage) -> Result<SnapMessage, PeerError> {
        self.requests += 1;
        if self.faults.crash_every.is_some_and(|every| self.requests.is_multiple_of(every.max(1))) {
            panic!("simulated worker crash on request {}", self.requests);
        }
        if let Some((every, stall)) = self.faults.stall_every
            && self.requests.is_multiple_of(every.max(1))
        {
            thread::sleep(stall);
        }
        thread::sleep(self.faults.latency);
        // Through the wire both ways, as a real peer would be.
        let bytes = request.to_vec();
        let request =
            SnapMessage::decode(SnapVersion::V1, request.id() as u8, &bytes, &Limits::default())
                .map_err(|error| PeerError::Undecodable(error.to_string()))?;
        let root = match &request {
            SnapMessage::GetAccountRange(m) => Some(m.root),
            SnapMessage::GetStorageRanges(m) => Some(m.root),
            SnapMessage::GetTrieNodes(m) => Some(m.root),
            _ => None,
        };
        let state = self.states.for_root(root).ok_or(PeerError::Disconnected)?;
        let response = serve(&request, &*state, &NoBals, &ServeLimits::default())
            .map_err(|_| PeerError::Disconnected)?;
        let bytes = response.to_vec();
        SnapMessage::decode(SnapVersion::V1, response.id() as u8, &bytes, &Limits::default())
            .map_err(|error| PeerError::Undecodable(error.to_string()))
    }
}

impl BlockingPeer for Box<dyn BlockingPeer> {
    fn versions(&self) -> Vec<SnapVersion> {
        (**self).versions()
    }

    fn request(&mut self, request: &SnapMessage) -> Result<SnapMessage, PeerError> {
        (**self).request(request)
    }
}
