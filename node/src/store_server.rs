//! Serving a synced store to peers: the adapter's [`Server`] over a [`SyncStore`], reading
//! through `snap_store::StoreView` (state, and snap/2 block access lists).

use std::sync::Arc;

use alloy_primitives::Bytes;
use snap_core::{
    serve::{ServeError, ServeLimits, serve},
    wire::SnapMessage,
};
use snap_store::{StoreView, SyncStore};
use snap_tokio_adapter::{
    chain::HeaderChain,
    eth::GetBlockHeaders,
    server::{Server, empty_snap_response},
};

/// A node serving the state in a store and, optionally, a header chain.
#[derive(Debug)]
pub struct StoreServer<S> {
    /// The store (read-only while served).
    pub store: Arc<S>,
    /// The served headers, if any.
    pub chain: Option<HeaderChain>,
    /// Serving limits.
    pub limits: ServeLimits,
}

impl<S: SyncStore + Send + Sync + std::fmt::Debug + 'static> Server for StoreServer<S> {
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
        match StoreView::new(&*self.store) {
            // State from the store's flat data and tries, access lists from its table of them.
            Ok(view) => serve(request, &view, &view, &self.limits),
            // The store cannot be read right now: answer "unavailable" (an empty response).
            Err(_) => empty_snap_response(request).ok_or(ServeError::NotARequest(request.id())),
        }
    }

    fn headers(&self, request: &GetBlockHeaders) -> Vec<Bytes> {
        self.chain.as_ref().map(|chain| chain.serve(request)).unwrap_or_default()
    }

    fn serves_block_access_lists(&self) -> bool {
        // Read once, when the node starts: a store without lists offers snap/1 only.
        self.store.holds_block_access_lists().unwrap_or(false)
    }
}
