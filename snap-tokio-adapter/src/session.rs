//! The thin tokio layer: one [`PeerSession`] task per TCP connection, pumping bytes between
//! the socket and a sans-IO [`Connection`], timers into its deadlines, and its events and
//! the owner's commands through channels. Sessions are independent tasks: a slow or silent
//! peer only ever stalls its own session.

use std::{
    io,
    net::SocketAddr,
    path::Path,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use k256::SecretKey;
use rand_core::OsRng;
use snap_core::wire::SnapMessage;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinHandle,
};

use crate::{
    connection::{CommandError, Connection, ConnectionConfig, Event},
    eth::GetBlockHeaders,
    p2p::DisconnectReason,
    rlpx::{HandshakeRandom, NodeId, node_id},
    server::Server,
};

/// Frames queued for the socket before a peer that does not read is dropped.
const WRITE_QUEUE: usize = 64;
/// Events queued for the owner before the session waits for it.
const EVENT_QUEUE: usize = 256;
/// Time the session gives its last bytes (a Disconnect) to leave after closing.
const LINGER: Duration = Duration::from_secs(1);

/// A peer address: `enode://<128 hex node id>@<ip>:<port>` (query string ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Enode {
    /// The node id.
    pub id: NodeId,
    /// Its TCP address.
    pub addr: SocketAddr,
}

/// An enode URL that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid enode url: {0}")]
pub struct EnodeError(&'static str);

impl FromStr for Enode {
    type Err = EnodeError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let rest = url.strip_prefix("enode://").ok_or(EnodeError("no enode:// scheme"))?;
        let (id, host) = rest.split_once('@').ok_or(EnodeError("no @host"))?;
        let host = host.split('?').next().unwrap_or_default();
        let bytes = ::hex::decode(id).map_err(|_| EnodeError("node id is not hex"))?;
        let id: [u8; 64] = bytes.try_into().map_err(|_| EnodeError("node id is not 64 bytes"))?;
        let addr = host.parse().map_err(|_| EnodeError("host is not ip:port"))?;
        Ok(Self { id: NodeId::from(id), addr })
    }
}

impl std::fmt::Display for Enode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "enode://{}@{}", ::hex::encode(self.id), self.addr)
    }
}

/// Loads a node key (64 hex characters, as geth's `nodekey`) from `path`, or generates one
/// and writes it there.
pub fn load_or_generate_key(path: &Path) -> io::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = ::hex::decode(text.trim())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            SecretKey::from_slice(&bytes)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not a secp256k1 key"))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let key = SecretKey::random(&mut OsRng);
            std::fs::write(path, ::hex::encode(key.to_bytes()))?;
            Ok(key)
        }
        Err(error) => Err(error),
    }
}

/// What the owner can ask of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send a snap request (tracked; its response or timeout comes back as an event).
    Snap(SnapMessage),
    /// Send a header request (its verified reply or timeout comes back as an event).
    GetHeaders(GetBlockHeaders),
    /// Disconnect with this reason.
    Disconnect(DisconnectReason),
}

/// What a session reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// An event of the connection; [`Event::Closed`] is the last one.
    Connection(Event),
    /// A command that could not be carried out.
    Rejected(Command, CommandError),
}

/// The owner's side of a session: send commands, receive events.
#[derive(Debug)]
pub struct PeerHandle {
    /// The peer's address.
    pub addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<SessionEvent>,
    task: JoinHandle<()>,
}

impl PeerHandle {
    /// Queues a command; fails once the session is over.
    pub async fn send(&self, command: Command) -> Result<(), Command> {
        self.commands.send(command).await.map_err(|e| e.0)
    }

    /// The next event; `None` after the session ended and all events were read.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// Whether the session task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The command sender (clonable, e.g. for a driver's peer table), the event receiver
    /// (e.g. to forward into one channel for all peers) and the session task.
    pub fn into_parts(
        self,
    ) -> (mpsc::Sender<Command>, mpsc::Receiver<SessionEvent>, JoinHandle<()>) {
        (self.commands, self.events, self.task)
    }
}

/// A node: key, connection settings and what it serves.
#[derive(Clone, Debug)]
pub struct Node {
    key: SecretKey,
    config: Arc<ConnectionConfig>,
    server: Arc<dyn Server>,
}

impl Node {
    /// A node with this key, configuration and server.
    pub fn new(key: SecretKey, config: ConnectionConfig, server: Arc<dyn Server>) -> Self {
        Self { key, config: Arc::new(config), server }
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        node_id(&self.key.public_key())
    }

    /// Dials `enode` (the TCP connect is bounded by the handshake timeout) and starts a session.
    pub async fn dial(&self, enode: &Enode) -> io::Result<PeerHandle> {
        let stream =
            tokio::time::timeout(self.config.handshake_timeout, TcpStream::connect(enode.addr))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let connection = Connection::outbound(
            self.config.clone(),
            self.server.clone(),
            self.key.clone(),
            &enode.id,
            HandshakeRandom::generate(&mut OsRng),
            Instant::now(),
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        PeerSession::spawn(stream, connection)
    }

    /// Starts a session on a connection a peer opened to us.
    pub fn accept(&self, stream: TcpStream) -> io::Result<PeerHandle> {
        let connection = Connection::inbound(
            self.config.clone(),
            self.server.clone(),
            self.key.clone(),
            HandshakeRandom::generate(&mut OsRng),
            Instant::now(),
        );
        PeerSession::spawn(stream, connection)
    }

    /// Accepts the next inbound connection on `listener` and starts its session.
    pub async fn accept_from(&self, listener: &TcpListener) -> io::Result<PeerHandle> {
        let (stream, _) = listener.accept().await?;
        self.accept(stream)
    }
}

/// The task driving one connection.
#[derive(Debug)]
pub struct PeerSession;

impl PeerSession {
    /// Spawns the session task for `connection` over `stream` (on the current tokio runtime).
    pub fn spawn(stream: TcpStream, connection: Connection) -> io::Result<PeerHandle> {
        let addr = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        let (commands_tx, commands) = mpsc::channel(64);
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let task = tokio::spawn(run(stream, connection, commands, events));
        Ok(PeerHandle { addr, commands: commands_tx, events: events_rx, task })
    }
}

async fn write_loop(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut queue: mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
) {
    while let Some(bytes) = queue.recv().await {
        match tokio::time::timeout(timeout, writer.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let _ = tokio::time::timeout(LINGER, writer.shutdown()).await;
}

async fn run(
    stream: TcpStream,
    mut connection: Connection,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<SessionEvent>,
) {
    let (mut reader, writer) = stream.into_split();
    let (write_queue, write_rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    // A write that stalls longer than a request may take means the peer is not reading.
    let write_timeout = Duration::from_secs(30);
    let writer_task = tokio::spawn(write_loop(writer, write_rx, write_timeout));
    let mut buffer = vec![0u8; 64 * 1024];
    let mut commands_open = true;
    loop {
        let outgoing = connection.take_outgoing();
        if !outgoing.is_empty() && write_queue.try_send(outgoing).is_err() {
            connection.transport_closed();
        }
        while let Some(event) = connection.poll_event() {
            if events.send(SessionEvent::Connection(event)).await.is_err()
                && !connection.is_closed()
            {
                connection.disconnect(DisconnectReason::ClientQuitting);
            }
        }
        if connection.is_closed() {
            let last = connection.take_outgoing();
            if !last.is_empty() {
                let _ = write_queue.try_send(last);
            }
            break;
        }
        let deadline = connection.poll_timeout();
        tokio::select! {
            read = reader.read(&mut buffer) => match read {
                Ok(0) | Err(_) => connection.transport_closed(),
                Ok(n) => connection.receive(&buffer[..n], Instant::now()),
            },
            command = commands.recv(), if commands_open => {
                let now = Instant::now();
                let result = match &command {
                    Some(Command::Snap(request)) => connection.send_snap(request, now),
                    Some(Command::GetHeaders(request)) => connection.send_get_headers(*request, now),
                    Some(Command::Disconnect(reason)) => {
                        connection.disconnect(*reason);
                        Ok(())
                    }
                    None => {
                        commands_open = false;
                        Ok(())
                    }
                };
                if let (Err(error), Some(command)) = (result, command) {
                    let _ = events.send(SessionEvent::Rejected(command, error)).await;
                }
            },
            () = sleep_until(deadline) => connection.handle_timeout(Instant::now()),
        }
    }
    drop(write_queue);
    let _ = tokio::time::timeout(LINGER, writer_task).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_are_generated_once_then_loaded() {
        let path = std::env::temp_dir().join(format!("snap-nodekey-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let generated = load_or_generate_key(&path).expect("generated");
        let loaded = load_or_generate_key(&path).expect("loaded");
        assert_eq!(generated.to_bytes(), loaded.to_bytes());
        std::fs::write(&path, "not hex").expect("write");
        assert!(load_or_generate_key(&path).is_err());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn enode_urls_parse_and_print() {
        let id = "a".repeat(128);
        let enode: Enode =
            format!("enode://{id}@127.0.0.1:30303?discport=30301").parse().expect("parses");
        assert_eq!(enode.addr, "127.0.0.1:30303".parse().expect("addr"));
        assert_eq!(enode.to_string(), format!("enode://{id}@127.0.0.1:30303"));
        assert!("enode://abcd@127.0.0.1:1".parse::<Enode>().is_err());
        assert!(format!("enr://{id}@127.0.0.1:1").parse::<Enode>().is_err());
        assert!(format!("enode://{id}@localhost").parse::<Enode>().is_err());
    }
}
