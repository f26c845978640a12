//! What a server may spend on one request, and the requests it refuses.

use crate::wire::MessageId;

/// The serving limits. [`Default`] gives geth's production values, with a deterministic work
/// budget in place of geth's five-second clock for trie-node requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Every requested byte budget is clamped to this (2 MiB).
    pub soft_response_limit: u64,
    /// Storage ranges may exceed the byte budget by this many percent (10) before a slot list
    /// is cut, so that the last contract is less often split.
    pub storage_slack_percent: u64,
    /// At most this many code hashes of a request are looked up (1,024); the rest are ignored.
    pub max_code_lookups: usize,
    /// At most this many trie nodes are read for one request (1,024).
    pub max_trie_node_lookups: usize,
    /// The work a trie-node request may spend, in units of one node read (4,096). An account
    /// read for a storage path set costs [`Self::account_read_work`] units.
    pub trie_node_work_budget: u64,
    /// The work units one account read costs in a trie-node request (8, about the node reads
    /// of one lookup through the account trie).
    pub account_read_work: u64,
    /// At most this many block access lists are looked up per request (1,024).
    pub max_access_list_lookups: usize,
    /// At most this many accounts of one `GetStorageRanges` are opened (1,024; geth opens
    /// every one, so a request naming ~300k storage-less accounts costs ~300k lookups there).
    /// Accounts past it are left unanswered, which the requester asks for again.
    pub max_storage_lookups: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            soft_response_limit: 2 * 1024 * 1024,
            storage_slack_percent: 10,
            max_code_lookups: 1024,
            max_trie_node_lookups: 1024,
            trie_node_work_budget: 4096,
            account_read_work: 8,
            max_access_list_lookups: 1024,
            max_storage_lookups: 1024,
        }
    }
}

impl ServeLimits {
    /// The request's byte budget clamped to the soft response limit.
    pub fn clamp(&self, requested: u64) -> u64 {
        requested.min(self.soft_response_limit)
    }
}

/// A request that must not be answered: the caller disconnects the peer that sent it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A response message (or any non-request) was given as a request.
    #[error("{0:?} is not a request")]
    NotARequest(MessageId),
    /// The request is malformed (an empty trie-node path set, say).
    #[error("bad request: {0}")]
    BadRequest(String),
}
