//! discv5 node discovery through sigp's `discv5` crate (as Lighthouse and reth), next to our
//! own discv4: a service on its own UDP port with our node key, an ENR carrying `ip`, `tcp`,
//! `udp` and the `eth` entry of our fork id, bootstrapped from ENRs, running a random lookup
//! every `lookup_interval`. Every node seen (lookup results, sessions) whose ENR has an IP, a
//! TCP port and a fork id of our chain (the same check as discv4's) becomes a
//! [`Candidate`], handed out through a bounded channel.
//!
//! Bounds: the crate's routing table and session cache are bounded; ours are the candidate
//! channel and the map of recently proposed nodes.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use discv5::{
    ConfigBuilder, Discv5, Event, ListenConfig,
    enr::{CombinedKey, CombinedPublicKey, NodeId as Discv5NodeId},
};
use k256::SecretKey;
use tokio::{net::UdpSocket, sync::mpsc, task::JoinHandle};

pub use discv5::Enr;

use crate::{
    discv4::{
        Candidate,
        bounded::BoundedMap,
        protocol::{EthEntry, enr_fork_id, fork_compatible},
    },
    eth::ChainInfo,
    rlpx::NodeId,
    session::Enode,
};

/// reth's default discv5 port (`--discovery.v5.port`).
pub const DEFAULT_PORT: u16 = 9200;

/// How to start a discv5 service.
#[derive(Clone, Debug)]
pub struct Discv5Config {
    /// The node key (the RLPx key: one node id).
    pub key: SecretKey,
    /// The UDP address to bind.
    pub listen: SocketAddr,
    /// The IP to announce (default: the bound IP, unless unspecified).
    pub external_ip: Option<IpAddr>,
    /// The TCP port our RLPx listener is on (announced in our ENR).
    pub tcp_port: u16,
    /// ENRs to start from.
    pub bootnodes: Vec<Enr>,
    /// Our chain: fork-id filter and ENR `eth` entry.
    pub chain: Option<ChainInfo>,
    /// Propose nodes without an `eth` ENR entry too.
    pub accept_without_fork_id: bool,
    /// Candidates buffered in the channel for the dialler.
    pub candidate_buffer: usize,
    /// Interval between random lookups.
    pub lookup_interval: Duration,
    /// When a proposed node may be proposed again.
    pub repropose_after: Duration,
    /// Nodes remembered as proposed.
    pub max_proposed: usize,
}

impl Discv5Config {
    /// Defaults for a node with `key`, listening on `listen` (UDP), whose RLPx is on
    /// `tcp_port`, on `chain`.
    pub fn new(
        key: SecretKey,
        listen: SocketAddr,
        tcp_port: u16,
        chain: Option<ChainInfo>,
    ) -> Self {
        Self {
            key,
            listen,
            external_ip: None,
            tcp_port,
            bootnodes: Vec::new(),
            chain,
            accept_without_fork_id: false,
            candidate_buffer: 64,
            lookup_interval: Duration::from_secs(5),
            repropose_after: Duration::from_secs(30 * 60),
            max_proposed: 8192,
        }
    }
}

/// Parses an `enr:-…` record.
pub fn parse_enr(s: &str) -> Result<Enr, String> {
    s.trim().parse::<Enr>().map_err(|e| format!("{s}: {e}"))
}

/// Our RLPx node id from an ENR's key (`None` for non-secp256k1 records).
pub fn enr_node_id(enr: &Enr) -> Option<NodeId> {
    match enr.public_key() {
        CombinedPublicKey::Secp256k1(key) => {
            Some(NodeId::from_slice(&key.to_encoded_point(false).as_bytes()[1..]))
        }
        _ => None,
    }
}

/// The RLPx address an ENR announces: its IP and TCP port (IPv4 first).
pub fn enr_tcp_addr(enr: &Enr) -> Option<SocketAddr> {
    let v4 = enr.ip4().zip(enr.tcp4()).map(|(ip, port)| SocketAddr::new(ip.into(), port));
    let v6 = || enr.ip6().zip(enr.tcp6()).map(|(ip, port)| SocketAddr::new(ip.into(), port));
    v4.or_else(v6).filter(|addr| addr.port() != 0 && !addr.ip().is_unspecified())
}

/// A running discv5 service; dropping it stops the lookups and the crate's service.
#[derive(Debug)]
pub struct Discv5Discovery {
    local: Enr,
    udp: SocketAddr,
    candidates: mpsc::Receiver<Candidate>,
    other_chain: Arc<std::sync::atomic::AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Discv5Discovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Discv5Discovery {
    /// Binds the UDP socket and starts the service.
    pub async fn spawn(config: Discv5Config) -> io::Result<Self> {
        let socket = UdpSocket::bind(config.listen).await?;
        let udp = socket.local_addr()?;
        let ip = config.external_ip.or_else(|| Some(udp.ip()).filter(|ip| !ip.is_unspecified()));
        let signing = k256::ecdsa::SigningKey::from(&config.key);
        let key = CombinedKey::Secp256k1(signing);
        let mut builder = Enr::builder();
        match ip {
            Some(IpAddr::V4(ip)) => {
                builder.ip4(ip).udp4(udp.port()).tcp4(config.tcp_port);
            }
            Some(IpAddr::V6(ip)) => {
                builder.ip6(ip).udp6(udp.port()).tcp6(config.tcp_port);
            }
            None => {
                builder.udp4(udp.port()).tcp4(config.tcp_port);
            }
        }
        if let Some(chain) = &config.chain {
            let fork_id = chain.forks.fork_id(chain.head_number, chain.head_time);
            builder.add_value("eth", &EthEntry(fork_id));
        }
        let local = builder.build(&key).map_err(io::Error::other)?;
        let socket = Arc::new(socket);
        let listen = match udp {
            SocketAddr::V4(_) => ListenConfig::FromSockets { ipv4: Some(socket), ipv6: None },
            SocketAddr::V6(_) => ListenConfig::FromSockets { ipv4: None, ipv6: Some(socket) },
        };
        let mut service = Discv5::new(local.clone(), key, ConfigBuilder::new(listen).build())
            .map_err(io::Error::other)?;
        for enr in &config.bootnodes {
            // A record the table refuses (our own, no UDP endpoint) is skipped.
            let _ = service.add_enr(enr.clone());
        }
        service.start().await.map_err(|e| io::Error::other(e.to_string()))?;
        let events = service.event_stream().await.map_err(|e| io::Error::other(e.to_string()))?;
        let (candidates_tx, candidates) = mpsc::channel(config.candidate_buffer.max(1));
        let other_chain = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let filter = Filter {
            chain: config.chain,
            accept_without_fork_id: config.accept_without_fork_id,
            proposed: BoundedMap::new(config.max_proposed.max(1)),
            repropose_after: config.repropose_after,
            local: enr_node_id(&local),
            other_chain: other_chain.clone(),
            candidates: candidates_tx,
        };
        let task = tokio::spawn(run(service, events, filter, config.lookup_interval));
        Ok(Self { local, udp, candidates, other_chain, task })
    }

    /// Our ENR (for others' bootnodes).
    pub fn local_enr(&self) -> &Enr {
        &self.local
    }

    /// The bound UDP address.
    pub const fn local_udp(&self) -> SocketAddr {
        self.udp
    }

    /// Nodes seen whose fork id is not of our chain (or missing).
    pub fn other_chain(&self) -> u64 {
        self.other_chain.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The next candidate (waits until one is found; `None` once the service stopped).
    pub async fn next_candidate(&mut self) -> Option<Candidate> {
        self.candidates.recv().await
    }

    /// A candidate if one is waiting.
    pub fn try_next_candidate(&mut self) -> Option<Candidate> {
        self.candidates.try_recv().ok()
    }
}

/// What decides and remembers which nodes are proposed.
struct Filter {
    chain: Option<ChainInfo>,
    accept_without_fork_id: bool,
    proposed: BoundedMap<NodeId, Instant>,
    repropose_after: Duration,
    local: Option<NodeId>,
    other_chain: Arc<std::sync::atomic::AtomicU64>,
    candidates: mpsc::Sender<Candidate>,
}

impl Filter {
    fn consider(&mut self, enr: &Enr) {
        let Some(id) = enr_node_id(enr) else { return };
        if Some(id) == self.local {
            return;
        }
        let now = Instant::now();
        if self.proposed.get(&id).is_some_and(|t| now.duration_since(*t) < self.repropose_after) {
            return;
        }
        let fork_id = enr_fork_id(enr);
        if !fork_compatible(self.chain.as_ref(), fork_id, self.accept_without_fork_id) {
            self.other_chain.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let Some(addr) = enr_tcp_addr(enr) else { return };
        self.proposed.insert(id, now);
        // A full channel: the dialler is behind, the node is dropped (found again later).
        let _ = self.candidates.try_send(Candidate { enode: Enode { id, addr }, fork_id });
    }
}

async fn run(
    service: Discv5,
    mut events: mpsc::Receiver<Event>,
    mut filter: Filter,
    lookup_interval: Duration,
) {
    let service = Arc::new(service);
    let (found_tx, mut found) = mpsc::channel::<Vec<Enr>>(4);
    let mut lookups = tokio::time::interval(lookup_interval.max(Duration::from_millis(10)));
    lookups.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running: Option<JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = lookups.tick() => {
                // One lookup at a time, and none from an empty table (the crate warns).
                if running.as_ref().is_none_or(JoinHandle::is_finished)
                    && !service.table_entries_id().is_empty()
                {
                    let lookup = service.find_node(Discv5NodeId::random());
                    let found_tx = found_tx.clone();
                    running = Some(tokio::spawn(async move {
                        if let Ok(enrs) = lookup.await {
                            let _ = found_tx.send(enrs).await;
                        }
                    }));
                }
            }
            Some(enrs) = found.recv() => {
                for enr in &enrs {
                    filter.consider(enr);
                }
            }
            event = events.recv() => match event {
                Some(Event::Discovered(enr) | Event::SessionEstablished(enr, _)) => {
                    filter.consider(&enr);
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    if let Some(lookup) = running {
        lookup.abort();
    }
}

#[cfg(test)]
mod tests;
