//! The thin tokio layer: one session task per TCP connection, pumping bytes between the
//! socket and a sans-IO [`Connection`], timers into its deadlines, its serve jobs onto a
//! bounded pool of blocking threads, and its events and the owner's commands through
//! channels. Sessions are independent tasks: a slow or silent peer only ever stalls its own
//! session.
//!
//! The session obeys the connection's back-pressure: it reads from the socket only while
//! [`Connection::wants_input`] holds, takes outgoing bytes only once the previous ones were
//! written, and drops a peer that does not take our bytes for [`WRITE_STALL`].

use std::{
    io,
    net::SocketAddr,
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use k256::SecretKey;
use rand_core::OsRng;
use snap_core::{serve::ServeError, wire::SnapMessage};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
    task::JoinHandle,
};

use crate::{
    connection::{CommandError, Connection, ConnectionConfig, Event, ServeJob},
    eth::GetBlockHeaders,
    p2p::DisconnectReason,
    rlpx::{HandshakeRandom, NodeId, node_id},
    server::Server,
};
pub use crate::{enode::Enode, nodekey::load_or_generate_key};

/// Events queued for a lone session's owner before the session waits for it.
const EVENT_QUEUE: usize = 256;
/// Commands queued for a session.
pub const COMMAND_QUEUE: usize = 256;
/// Time the session gives its last bytes (a Disconnect) to leave after closing.
const LINGER: Duration = Duration::from_secs(1);
/// A peer that takes none of our bytes for this long is dropped.
pub const WRITE_STALL: Duration = Duration::from_secs(30);
/// Bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;

/// What the owner can ask of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send a snap request (tracked; its response comes back as an event, its timeout is
    /// the owner's).
    Snap(SnapMessage),
    /// Forget a snap request the owner gave up on (a late answer is then dropped quietly).
    Forget(u64),
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

/// The sending side of a session's events: every event is tagged with the session's tag, so
/// that many sessions can share one bounded channel.
pub type EventSender = mpsc::Sender<(u64, SessionEvent)>;

/// The owner's side of a lone session: send commands, receive events.
#[derive(Debug)]
pub struct PeerHandle {
    /// The peer's address.
    pub addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<(u64, SessionEvent)>,
    task: JoinHandle<()>,
}

impl PeerHandle {
    /// Queues a command; fails once the session is over.
    pub async fn send(&self, command: Command) -> Result<(), Command> {
        self.commands.send(command).await.map_err(|e| e.0)
    }

    /// The next event; `None` after the session ended and all events were read.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await.map(|(_, event)| event)
    }

    /// Whether the session task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// The blocking threads snap requests are served on, shared by all sessions of a node: at
/// most `threads` requests are served at once, off the runtime's worker threads. A request
/// whose serving panics (a damaged store, say) is answered as "state unavailable".
#[derive(Clone, Debug)]
pub struct ServePool {
    permits: Arc<Semaphore>,
}

impl ServePool {
    /// A pool serving at most `threads` requests at once.
    pub fn new(threads: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(threads.max(1))) }
    }

    /// Serves `job` on a blocking thread once a slot is free.
    pub fn serve(&self, job: ServeJob) -> JoinHandle<Result<SnapMessage, ServeError>> {
        let permits = self.permits.clone();
        tokio::spawn(async move {
            let Ok(permit) = permits.acquire_owned().await else { return job.unavailable() };
            let blocking = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                std::panic::catch_unwind(AssertUnwindSafe(|| job.run()))
                    .unwrap_or_else(|_| job.unavailable())
            });
            blocking.await.unwrap_or_else(|_| Err(ServeError::BadRequest("serving failed".into())))
        })
    }
}

impl Default for ServePool {
    /// As many slots as the machine has cores (at least two).
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get().max(2)))
    }
}

/// A node: key, connection settings, what it serves and the pool it serves on.
#[derive(Clone, Debug)]
pub struct Node {
    key: SecretKey,
    config: Arc<ConnectionConfig>,
    server: Arc<dyn Server>,
    pool: ServePool,
}

impl Node {
    /// A node with this key, configuration and server, serving on a default [`ServePool`].
    pub fn new(key: SecretKey, config: ConnectionConfig, server: Arc<dyn Server>) -> Self {
        Self { key, config: Arc::new(config), server, pool: ServePool::default() }
    }

    /// The same node serving on `pool`.
    pub fn with_pool(mut self, pool: ServePool) -> Self {
        self.pool = pool;
        self
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        node_id(&self.key.public_key())
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Dials `enode` (the TCP connect is bounded by the handshake timeout) and starts a lone
    /// session.
    pub async fn dial(&self, enode: &Enode) -> io::Result<PeerHandle> {
        let stream = self.connect(enode).await?;
        let connection = self.outbound(enode)?;
        self.lone(stream, connection)
    }

    /// Opens the TCP connection to `enode`, bounded by the handshake timeout.
    pub async fn connect(&self, enode: &Enode) -> io::Result<TcpStream> {
        tokio::time::timeout(self.config.handshake_timeout, TcpStream::connect(enode.addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
    }

    /// A fresh outbound connection to `enode`.
    pub fn outbound(&self, enode: &Enode) -> io::Result<Connection> {
        Connection::outbound(
            self.config.clone(),
            self.server.clone(),
            self.key.clone(),
            &enode.id,
            HandshakeRandom::generate(&mut OsRng),
            Instant::now(),
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }

    /// A fresh inbound connection.
    pub fn inbound(&self) -> Connection {
        Connection::inbound(
            self.config.clone(),
            self.server.clone(),
            self.key.clone(),
            HandshakeRandom::generate(&mut OsRng),
            Instant::now(),
        )
    }

    /// Starts a lone session on a connection a peer opened to us.
    pub fn accept(&self, stream: TcpStream) -> io::Result<PeerHandle> {
        let connection = self.inbound();
        self.lone(stream, connection)
    }

    /// Accepts the next inbound connection on `listener` and starts its lone session (no
    /// limits: a serving node uses a `PeerSet`).
    pub async fn accept_from(&self, listener: &TcpListener) -> io::Result<PeerHandle> {
        let (stream, _) = listener.accept().await?;
        self.accept(stream)
    }

    fn lone(&self, stream: TcpStream, connection: Connection) -> io::Result<PeerHandle> {
        let addr = stream.peer_addr()?;
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (commands, task) = self.spawn(stream, connection, 0, events)?;
        Ok(PeerHandle { addr, commands, events: events_rx, task })
    }

    /// Spawns the session task for `connection` over `stream`, its events tagged `tag` into
    /// `events`; returns its command sender and task.
    pub fn spawn(
        &self,
        stream: TcpStream,
        connection: Connection,
        tag: u64,
        events: EventSender,
    ) -> io::Result<(mpsc::Sender<Command>, JoinHandle<()>)> {
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let task = self.spawn_with(stream, connection, tag, events, commands)?;
        Ok((commands_tx, task))
    }

    /// [`Self::spawn`] with the command queue given.
    pub fn spawn_with(
        &self,
        stream: TcpStream,
        connection: Connection,
        tag: u64,
        events: EventSender,
        commands: mpsc::Receiver<Command>,
    ) -> io::Result<JoinHandle<()>> {
        stream.set_nodelay(true)?;
        let session = Session { connection, pool: self.pool.clone(), tag, events };
        Ok(tokio::spawn(session.run(stream, commands)))
    }
}

struct Session {
    connection: Connection,
    pool: ServePool,
    tag: u64,
    events: EventSender,
}

impl Session {
    async fn emit(&mut self) {
        while let Some(event) = self.connection.poll_event() {
            if self.events.send((self.tag, SessionEvent::Connection(event))).await.is_err()
                && !self.connection.is_closed()
            {
                self.connection.disconnect(DisconnectReason::ClientQuitting);
            }
        }
    }

    async fn run(mut self, stream: TcpStream, mut commands: mpsc::Receiver<Command>) {
        let (mut reader, mut writer) = stream.into_split();
        let mut buffer = vec![0u8; READ_CHUNK];
        let mut out: Vec<u8> = Vec::new();
        let mut written = 0;
        let mut last_progress = Instant::now();
        let mut serving: Option<JoinHandle<Result<SnapMessage, ServeError>>> = None;
        let mut commands_open = true;
        loop {
            let now = Instant::now();
            self.connection.resume(now);
            if written == out.len() {
                out = self.connection.take_outgoing();
                written = 0;
                last_progress = now;
            }
            self.emit().await;
            if self.connection.is_closed() {
                break;
            }
            if serving.is_none() {
                serving = self.connection.next_serve_job().map(|job| self.pool.serve(job));
            }
            let timer = self.connection.poll_timeout();
            let stall = (written < out.len()).then(|| last_progress + WRITE_STALL);
            let deadline = timer.into_iter().chain(stall).min();
            tokio::select! {
                read = reader.read(&mut buffer), if self.connection.wants_input() => match read {
                    Ok(0) | Err(_) => self.connection.transport_closed(),
                    Ok(n) => self.connection.receive(Instant::now(), &buffer[..n]),
                },
                result = writer.write(&out[written..]), if written < out.len() => match result {
                    Ok(0) | Err(_) => self.connection.transport_closed(),
                    Ok(n) => {
                        written += n;
                        last_progress = Instant::now();
                    }
                },
                result = async { serving.as_mut().expect("guarded").await }, if serving.is_some() => {
                    serving = None;
                    let result = result.unwrap_or_else(|_| Err(ServeError::BadRequest("serving failed".into())));
                    let _ = self.connection.answer(Instant::now(), result);
                },
                command = commands.recv(), if commands_open => {
                    let now = Instant::now();
                    let result = match &command {
                        Some(Command::Snap(request)) => self.connection.send_snap(now, request),
                        Some(Command::Forget(id)) => {
                            self.connection.forget(*id);
                            Ok(())
                        }
                        Some(Command::GetHeaders(request)) => {
                            self.connection.send_get_headers(now, *request)
                        }
                        Some(Command::Disconnect(reason)) => {
                            self.connection.disconnect(*reason);
                            Ok(())
                        }
                        None => {
                            commands_open = false;
                            Ok(())
                        }
                    };
                    if let (Err(error), Some(command)) = (result, command) {
                        let _ = self.events.send((self.tag, SessionEvent::Rejected(command, error))).await;
                    }
                },
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    if stall.is_some_and(|at| at <= now) {
                        self.connection.timed_out("waiting for the peer to read");
                    } else {
                        self.connection.handle_timeout(now);
                    }
                },
            }
        }
        // The last bytes (a Disconnect, say) get a moment to leave.
        let mut last = out.split_off(written.min(out.len()));
        last.extend(self.connection.take_outgoing());
        let _ = tokio::time::timeout(LINGER, async {
            let _ = writer.write_all(&last).await;
            let _ = writer.shutdown().await;
        })
        .await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}
