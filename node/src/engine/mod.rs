//! The Engine API: the authenticated JSON-RPC endpoint a consensus client drives. Post-merge
//! the only trustworthy head comes from a consensus client; this module receives it.
//!
//! [`start`] binds an HTTP JSON-RPC server (jsonrpsee) on `--authrpc.addr:--authrpc.port`,
//! behind a JWT check ([`jwt`]: HS256, `iat` within ±60 s, secret file shared with the
//! consensus client). The node answers as a syncing execution client answers (see [`methods`]):
//! `engine_newPayloadV1..V4` are checked as far as they can be without executing them (block
//! hash from the fields, blob versioned hashes, request ordering) and answered `SYNCING`,
//! `engine_forkchoiceUpdatedV1..V3` are answered `SYNCING` with no payload build. Nothing is
//! ever answered `VALID`.
//!
//! What comes out is an [`AnchorReceiver`]: the latest [`ForkchoiceAnchor`] (head, safe and
//! finalized hashes, and their headers when the consensus client delivered those payloads, hash
//! checked), plus a lookup of the last [`PAYLOAD_CACHE`] delivered headers by hash. Memory stays
//! bounded whatever the consensus client sends: one anchor is held (a slow reader skips to the
//! newest), the header cache is fixed-size, request bodies are capped at
//! [`EngineConfig::max_request_body`] and only read after the token checks out.
//!
//! Connecting it to a sync is a few lines wherever the trusted anchors are consumed:
//!
//! ```no_run
//! # async fn example(secret: alloy_rpc_types_engine::JwtSecret) -> Result<(), snap_node::engine::EngineError> {
//! use snap_node::engine::{self, EngineConfig};
//! let (server, mut anchors) =
//!     engine::start(EngineConfig::new("127.0.0.1:8551".parse().unwrap(), secret, 560048)).await?;
//! while let Some(anchor) = anchors.next().await {
//!     // `anchor.head` (and `anchor.finalized`) are trusted: fetch the head's header from peers
//!     // by hash and check it against `anchor.head`, unless the consensus client already
//!     // delivered it (`anchor.head_header`, hash checked against its fields).
//!     let _ = (anchor.head, anchor.finalized, anchor.head_header.map(|h| h.header));
//! }
//! server.stop().await;
//! # Ok(())
//! # }
//! ```

mod anchors;
pub mod jwt;
pub mod methods;
mod payload;

use std::net::SocketAddr;

pub use alloy_rpc_types_engine::JwtSecret;
pub use anchors::{AnchorReceiver, ForkchoiceAnchor, PAYLOAD_CACHE, PayloadHeader};
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
pub use jwt::{SecretError, load_or_create_secret};
pub use methods::{CAPABILITIES, CLIENT_CODE, ClientVersion};

/// The Engine API's default port (the spec's).
pub const DEFAULT_PORT: u16 = 8551;

/// The largest request body read, as geth's Engine API: a payload near the gas limit, as hex
/// JSON, fits with room to spare. Only read once the request's token checks out.
pub const MAX_REQUEST_BODY: u32 = 128 * 1024 * 1024;

/// Connections served at once (a consensus client uses a few).
pub const MAX_CONNECTIONS: u32 = 32;

/// Calls in one JSON-RPC batch, as geth's Engine API.
pub const MAX_BATCH: u32 = 2000;

/// How to run the Engine API.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where to listen (port 0: any free port; see [`EngineServer::local_addr`]).
    pub addr: SocketAddr,
    /// The secret shared with the consensus client.
    pub secret: JwtSecret,
    /// What `eth_chainId` answers.
    pub chain_id: u64,
    /// The largest request body read (larger ones get `413`).
    pub max_request_body: u32,
    /// Connections served at once.
    pub max_connections: u32,
}

impl EngineConfig {
    /// The defaults ([`MAX_REQUEST_BODY`], [`MAX_CONNECTIONS`]) for `addr`, `secret` and
    /// `chain_id`.
    pub const fn new(addr: SocketAddr, secret: JwtSecret, chain_id: u64) -> Self {
        Self {
            addr,
            secret,
            chain_id,
            max_request_body: MAX_REQUEST_BODY,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Why the Engine API could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The address could not be bound.
    #[error("the engine API cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        error: std::io::Error,
    },
}

/// A running Engine API server; it stops when this is dropped or [`stop`](Self::stop)ped.
#[derive(Debug)]
pub struct EngineServer {
    handle: ServerHandle,
    local_addr: SocketAddr,
}

impl EngineServer {
    /// The address it listens on.
    pub const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits until the server has stopped.
    pub async fn stop(self) {
        if self.handle.stop().is_ok() {
            self.handle.stopped().await;
        }
    }
}

/// Starts the Engine API on the current tokio runtime.
pub async fn start(config: EngineConfig) -> Result<(EngineServer, AnchorReceiver), EngineError> {
    let server_config = ServerConfig::builder()
        .http_only()
        .max_request_body_size(config.max_request_body)
        .max_connections(config.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH))
        .build();
    let bind_error = |error| EngineError::Bind { addr: config.addr, error };
    let server = Server::builder()
        .set_config(server_config)
        .set_http_middleware(
            tower::ServiceBuilder::new().layer(jwt::JwtAuthLayer::new(config.secret)),
        )
        .build(config.addr)
        .await
        .map_err(bind_error)?;
    let local_addr = server.local_addr().map_err(bind_error)?;
    let (publisher, anchors) = anchors::AnchorPublisher::new();
    let module = methods::module(methods::EngineState { publisher, chain_id: config.chain_id });
    let handle = server.start(module);
    Ok((EngineServer { handle, local_addr }, anchors))
}
