//! The tokio side of discv4: one task owns the UDP socket and a [`Discv4`], and hands
//! candidates out through a bounded channel. A dialler pulls them with
//! [`Discovery::next_candidate`] and reports bad peers with [`DiscoveryHandle::report_bad`].

use std::{
    io,
    net::{IpAddr, SocketAddr},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use k256::SecretKey;
use tokio::{net::UdpSocket, sync::mpsc, sync::oneshot, task::JoinHandle};

use super::{
    protocol::{Candidate, Discv4, Discv4Config, Discv4Limits, Discv4Stats, Discv4Timing},
    wire::{Endpoint, MAX_PACKET_SIZE},
};
use crate::{eth::ChainInfo, rlpx::NodeId, session::Enode};

/// How to start a discovery service.
#[derive(Clone, Debug)]
pub struct DiscoveryConfig {
    /// The node key (the RLPx key: one node id).
    pub key: SecretKey,
    /// The UDP address to bind.
    pub listen: SocketAddr,
    /// The IP to announce (default: the bound IP, unless unspecified).
    pub external_ip: Option<IpAddr>,
    /// The TCP port our RLPx listener is on (announced in Ping and our ENR).
    pub tcp_port: u16,
    /// Nodes to start from.
    pub bootnodes: Vec<Enode>,
    /// Our chain: fork-id filter and ENR `eth` entry.
    pub chain: Option<ChainInfo>,
    /// Propose nodes without an `eth` ENR entry too.
    pub accept_without_fork_id: bool,
    /// Randomness seed (default: from the OS).
    pub seed: Option<u64>,
    /// Candidates buffered in the channel for the dialler.
    pub candidate_buffer: usize,
    /// Bounds.
    pub limits: Discv4Limits,
    /// Timers.
    pub timing: Discv4Timing,
}

impl DiscoveryConfig {
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
            seed: None,
            candidate_buffer: 64,
            limits: Discv4Limits::default(),
            timing: Discv4Timing::default(),
        }
    }
}

#[derive(Debug)]
enum Command {
    Ban(NodeId),
    SetHead(u64, u64),
    Stats(oneshot::Sender<Discv4Stats>),
}

/// A cloneable handle to a running service: report bad peers, follow the head, read stats.
#[derive(Clone, Debug)]
pub struct DiscoveryHandle {
    commands: mpsc::Sender<Command>,
}

impl DiscoveryHandle {
    /// Stops proposing `id` (dialled and found useless: another chain, no snap, never served).
    pub fn report_bad(&self, id: NodeId) {
        let _ = self.commands.try_send(Command::Ban(id));
    }

    /// Our head moved: the ENR's fork id and the filter follow.
    pub fn set_head(&self, number: u64, time: u64) {
        let _ = self.commands.try_send(Command::SetHead(number, time));
    }

    /// The node's counters, `None` once the service stopped.
    pub async fn stats(&self) -> Option<Discv4Stats> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Stats(tx)).await.ok()?;
        rx.await.ok()
    }
}

/// A running discovery service; dropping it stops the task.
#[derive(Debug)]
pub struct Discovery {
    local: Enode,
    udp: SocketAddr,
    handle: DiscoveryHandle,
    candidates: mpsc::Receiver<Candidate>,
    task: JoinHandle<()>,
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Discovery {
    /// Binds the UDP socket and starts the service.
    pub async fn spawn(config: DiscoveryConfig) -> io::Result<Self> {
        let socket = UdpSocket::bind(config.listen).await?;
        let udp = socket.local_addr()?;
        let ip = config.external_ip.or_else(|| Some(udp.ip()).filter(|ip| !ip.is_unspecified()));
        let endpoint = Endpoint { ip, udp: udp.port(), tcp: config.tcp_port };
        let seed = config.seed.unwrap_or_else(|| {
            let mut bytes = [0u8; 8];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
            u64::from_le_bytes(bytes)
        });
        let mut core_config = Discv4Config::new(config.key, endpoint, config.chain);
        core_config.bootnodes = config.bootnodes;
        core_config.accept_without_fork_id = config.accept_without_fork_id;
        core_config.seed = seed;
        core_config.limits = config.limits;
        core_config.timing = config.timing;
        let core = Discv4::new(core_config, Instant::now(), unix_now());
        let local = Enode {
            id: core.local_id(),
            addr: SocketAddr::new(ip.unwrap_or(udp.ip()), config.tcp_port),
        };
        let (commands_tx, commands_rx) = mpsc::channel(64);
        let (candidates_tx, candidates) = mpsc::channel(config.candidate_buffer.max(1));
        let task = tokio::spawn(run(core, socket, commands_rx, candidates_tx));
        Ok(Self { local, udp, handle: DiscoveryHandle { commands: commands_tx }, candidates, task })
    }

    /// Our enode (the announced IP and TCP port).
    pub const fn local_enode(&self) -> Enode {
        self.local
    }

    /// Our discovery enode: the bound UDP address (for others' `--bootnodes`, when UDP and
    /// TCP ports differ; an enode's port is both unless told otherwise).
    pub fn local_udp(&self) -> SocketAddr {
        self.udp
    }

    /// A handle for reporting bad peers and reading stats.
    pub fn handle(&self) -> DiscoveryHandle {
        self.handle.clone()
    }

    /// The next candidate (waits until one is found; `None` once the service stopped).
    pub async fn next_candidate(&mut self) -> Option<Candidate> {
        self.candidates.recv().await
    }

    /// A candidate if one is waiting.
    pub fn try_next_candidate(&mut self) -> Option<Candidate> {
        self.candidates.try_recv().ok()
    }

    /// Up to `max` waiting candidates, without waiting.
    pub fn next_candidates(&mut self, max: usize) -> Vec<Candidate> {
        std::iter::from_fn(|| self.try_next_candidate()).take(max).collect()
    }
}

async fn run(
    mut core: Discv4,
    socket: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    candidates: mpsc::Sender<Candidate>,
) {
    // One byte more than the largest packet: a longer datagram arrives truncated and is
    // refused by size.
    let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
    loop {
        while let Some(transmit) = core.poll_transmit() {
            // Send errors (unreachable hosts, full buffers) are normal for discovery.
            let _ = socket.send_to(&transmit.packet, transmit.to).await;
        }
        let deadline = core.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                // Receive errors (ICMP unreachable on some systems) are not fatal.
                if let Ok((len, from)) = received {
                    core.handle_packet(Instant::now(), from, &buf[..len]);
                }
            }
            command = commands.recv() => match command {
                Some(Command::Ban(id)) => core.ban(id),
                Some(Command::SetHead(number, time)) => core.set_head(number, time),
                Some(Command::Stats(reply)) => {
                    let _ = reply.send(core.stats());
                }
                None => return,
            },
            permit = candidates.reserve(), if core.has_candidate() => match permit {
                Ok(permit) => {
                    if let Some(candidate) = core.poll_candidate() {
                        permit.send(candidate);
                    }
                }
                // Nobody pulls candidates any more; discovery still answers others.
                Err(_) => while core.poll_candidate().is_some() {},
            },
            () = sleep => core.handle_timeout(Instant::now()),
        }
    }
}
