//! What a connection answers peers' requests with.

use alloy_primitives::Bytes;
use snap_core::{
    serve::{InMemoryState, NoBals, ServeError, ServeLimits, serve},
    wire::{
        AccountRange, BlockAccessLists, ByteCodes, SnapMessage, SnapVersion, StorageRanges,
        TrieNodes,
    },
};

use crate::{chain::HeaderChain, eth::GetBlockHeaders};

/// Answers peers' requests. Implementations must be quick and must not block: they run on
/// the connection's task.
pub trait Server: Send + Sync + std::fmt::Debug {
    /// The response to a snap request; an error drops the peer (a malformed request).
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError>;
    /// The raw headers answering a header request (empty if unknown).
    fn headers(&self, request: &GetBlockHeaders) -> Vec<Bytes>;
    /// Whether it holds block access lists to answer snap/2 `GetBlockAccessLists` with. A
    /// serving node offers snap/2 only if so ([`served_snap_versions`]): on a connection that
    /// negotiates snap/2 trie nodes are gone, so a peer healing from us would get nothing.
    fn serves_block_access_lists(&self) -> bool {
        false
    }
}

/// The snap versions a node serving with `server` offers: snap/1, and snap/2 as well when the
/// server holds block access lists.
pub fn served_snap_versions(server: &dyn Server) -> Vec<SnapVersion> {
    if server.serves_block_access_lists() {
        vec![SnapVersion::V1, SnapVersion::V2]
    } else {
        vec![SnapVersion::V1]
    }
}

/// The empty response to a snap request ("state unavailable"), `None` for a response.
pub fn empty_snap_response(request: &SnapMessage) -> Option<SnapMessage> {
    let request_id = request.request_id();
    Some(match request {
        SnapMessage::GetAccountRange(_) => {
            SnapMessage::AccountRange(AccountRange { request_id, accounts: vec![], proof: vec![] })
        }
        SnapMessage::GetStorageRanges(_) => {
            SnapMessage::StorageRanges(StorageRanges { request_id, slots: vec![], proof: vec![] })
        }
        SnapMessage::GetByteCodes(_) => {
            SnapMessage::ByteCodes(ByteCodes { request_id, codes: vec![] })
        }
        SnapMessage::GetTrieNodes(_) => {
            SnapMessage::TrieNodes(TrieNodes { request_id, nodes: vec![] })
        }
        SnapMessage::GetBlockAccessLists(_) => {
            SnapMessage::BlockAccessLists(BlockAccessLists { request_id, access_lists: vec![] })
        }
        _ => return None,
    })
}

/// A node that serves nothing: every request gets its empty reply.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoServer;

impl Server for NoServer {
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
        empty_snap_response(request).ok_or(ServeError::NotARequest(request.id()))
    }

    fn headers(&self, _request: &GetBlockHeaders) -> Vec<Bytes> {
        Vec::new()
    }
}

/// A node serving a state with `snap_core::serve::serve` and, optionally, a header chain.
#[derive(Debug)]
pub struct StateServer {
    /// The served state.
    pub state: InMemoryState,
    /// The served headers, if any.
    pub chain: Option<HeaderChain>,
    /// Serving limits.
    pub limits: ServeLimits,
}

impl Server for StateServer {
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
        serve(request, &self.state, &NoBals, &self.limits)
    }

    fn headers(&self, request: &GetBlockHeaders) -> Vec<Bytes> {
        self.chain.as_ref().map(|chain| chain.serve(request)).unwrap_or_default()
    }
}
