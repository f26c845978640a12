//! A peer's request handed out to be served off the connection, and the empty answers.

use std::sync::Arc;

use snap_core::{
    serve::ServeError,
    wire::{MessageId, SnapMessage},
};

use crate::server::{Server, empty_snap_response};

/// A peer's snap request to be served: run it anywhere (it may block) and hand the result
/// to [`Connection::answer`].
pub struct ServeJob {
    pub(super) request: SnapMessage,
    pub(super) server: Arc<dyn Server>,
}

impl std::fmt::Debug for ServeJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeJob").field("request", &self.request.id()).finish_non_exhaustive()
    }
}

impl ServeJob {
    /// The request.
    pub const fn request(&self) -> &SnapMessage {
        &self.request
    }

    /// Serves the request (may block on storage).
    pub fn run(&self) -> Result<SnapMessage, ServeError> {
        self.server.snap(&self.request)
    }

    /// The "state unavailable" answer, for when serving failed on our side.
    pub fn unavailable(&self) -> Result<SnapMessage, ServeError> {
        empty_snap_response(&self.request).ok_or(ServeError::NotARequest(self.request.id()))
    }
}

/// The empty answer of kind `kind` to request `request_id`.
pub(super) fn empty_response(kind: MessageId, request_id: u64) -> SnapMessage {
    use snap_core::wire::{AccountRange, BlockAccessLists, ByteCodes, StorageRanges, TrieNodes};
    match kind {
        MessageId::StorageRanges => {
            SnapMessage::StorageRanges(StorageRanges { request_id, slots: vec![], proof: vec![] })
        }
        MessageId::ByteCodes => SnapMessage::ByteCodes(ByteCodes { request_id, codes: vec![] }),
        MessageId::TrieNodes => SnapMessage::TrieNodes(TrieNodes { request_id, nodes: vec![] }),
        MessageId::BlockAccessLists => {
            SnapMessage::BlockAccessLists(BlockAccessLists { request_id, access_lists: vec![] })
        }
        _ => {
            SnapMessage::AccountRange(AccountRange { request_id, accounts: vec![], proof: vec![] })
        }
    }
}
