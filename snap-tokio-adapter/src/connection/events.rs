//! What a connection reports: its errors, why it closed, its events for the owner, and the
//! errors of the owner's commands.

use crate::{
    eth::{BlockHeaders, EthError, EthVersion, Status},
    p2p::{DisconnectReason, P2pError},
    rlpx::{NodeId, RlpxError},
    snap::TrackError,
};
use snap_core::wire::{SnapMessage, SnapVersion};

/// Why a connection failed on our side.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// RLPx handshake or framing.
    #[error(transparent)]
    Rlpx(#[from] RlpxError),
    /// p2p layer.
    #[error(transparent)]
    P2p(#[from] P2pError),
    /// eth layer.
    #[error(transparent)]
    Eth(#[from] EthError),
    /// snap response tracking.
    #[error(transparent)]
    Snap(#[from] TrackError),
    /// A snap request that does not decode or cannot be served.
    #[error("bad snap request: {0}")]
    SnapRequest(String),
    /// A message that is not allowed at this point.
    #[error("unexpected message {code:#x} while {phase}")]
    Unexpected {
        /// Absolute message code.
        code: u64,
        /// What the connection was doing.
        phase: &'static str,
    },
    /// The node id in Hello differs from the handshake's.
    #[error("hello identity differs from the handshake's")]
    UnexpectedIdentity,
    /// The peer is this node.
    #[error("connected to self")]
    ConnectedToSelf,
    /// A handshake step took too long.
    #[error("timed out while {0}")]
    Timeout(&'static str),
    /// The transport closed.
    #[error("connection closed by transport")]
    TransportClosed,
    /// The TCP connection could not be opened.
    #[error("dial failed: {0}")]
    Dial(String),
    /// The peer's Status is for another chain.
    #[error(transparent)]
    WrongNetwork(Box<WrongNetwork>),
}

/// A peer on another chain: what it announced against what we announce.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the peer is on network {} (genesis {}, fork id {}), we are on network {} (genesis {}, \
     fork id {}): {error}",
    theirs.network_id,
    theirs.genesis,
    fork_id(&theirs.fork_id),
    ours.network_id,
    ours.genesis,
    fork_id(&ours.fork_id)
)]
pub struct WrongNetwork {
    /// The peer's Status.
    pub theirs: Status,
    /// Ours.
    pub ours: Status,
    /// What did not match.
    pub error: EthError,
}

fn fork_id(id: &crate::forkid::ForkId) -> String {
    format!("{}/{}", id.hash, id.next)
}

impl ConnectionError {
    /// Whether the peer broke the protocol (not a timeout, a closed socket, a failed dial or
    /// another chain): a reason to ban it for a while.
    pub const fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            Self::Rlpx(_)
                | Self::P2p(_)
                | Self::Eth(_)
                | Self::Snap(_)
                | Self::SnapRequest(_)
                | Self::Unexpected { .. }
                | Self::UnexpectedIdentity
        )
    }

    /// Whether the peer is on another chain (dialling it again is pointless).
    pub const fn is_wrong_network(&self) -> bool {
        matches!(self, Self::WrongNetwork(_))
    }
}

impl ConnectionError {
    /// The disconnect reason we tell the peer.
    pub fn reason(&self) -> DisconnectReason {
        match self {
            Self::UnexpectedIdentity => DisconnectReason::UnexpectedIdentity,
            Self::ConnectedToSelf => DisconnectReason::ConnectedToSelf,
            Self::P2p(P2pError::NoSharedCapability) => DisconnectReason::UselessPeer,
            Self::Eth(_) | Self::Snap(_) | Self::SnapRequest(_) | Self::WrongNetwork(_) => {
                DisconnectReason::SubprotocolError
            }
            Self::Timeout(_) => DisconnectReason::PingTimeout,
            Self::TransportClosed | Self::Dial(_) => DisconnectReason::TcpError,
            _ => DisconnectReason::BreachOfProtocol,
        }
    }
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// We found fault with the peer (and told it, if framing was up).
    Error(ConnectionError),
    /// The peer sent Disconnect.
    Remote(DisconnectReason),
    /// Our owner asked to disconnect.
    Local(DisconnectReason),
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error(error) => write!(f, "{error}"),
            Self::Remote(reason) => write!(f, "the peer disconnected: {reason}"),
            Self::Local(reason) => write!(f, "we disconnected: {reason}"),
        }
    }
}

/// What the connection tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Handshake, Hello and Status are done.
    Ready {
        /// The peer's node id.
        remote_id: NodeId,
        /// The peer's client name.
        client_id: String,
        /// The peer's Status.
        status: Status,
        /// Negotiated eth version.
        eth: EthVersion,
        /// Negotiated snap version, if the peer speaks snap.
        snap: Option<SnapVersion>,
    },
    /// A tracked snap response, admitted and decoded.
    Snap(SnapMessage),
    /// An answer to a request forgotten recently (its id), dropped without decoding. Not
    /// the peer's fault: it was slow.
    Late(u64),
    /// A verified BlockHeaders answering our request.
    Headers(BlockHeaders),
    /// A header request that timed out (its id).
    HeadersTimeout(u64),
    /// The connection is over; nothing more will happen.
    Closed(CloseReason),
}

/// An owner's command that could not be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Not past Status yet, or already closed.
    #[error("connection is not ready")]
    NotReady,
    /// The peer does not speak snap (or not this message's version).
    #[error("snap not negotiated for this message")]
    NoSnap,
    /// No peer request is being served.
    #[error("no request is being served")]
    NotServing,
    /// The tracker refused the request.
    #[error(transparent)]
    Track(#[from] TrackError),
    /// A header request id already in flight.
    #[error("header request id {0} already in flight")]
    Collision(u64),
}
