//! The serving side: answering snap requests from a local state.
//!
//! [`serve`] is a pure function of (request, state view, access-list store, limits): the same
//! inputs always give the same response, nothing is read from a clock, and nothing is kept
//! between calls. That makes a server easy to wrap: the simulator's honest peers call it
//! directly and its faulty peers post-process what it returns.
//!
//! The rules follow the snap spec and the limits geth has proven in production:
//!
//! - every byte budget is clamped to [`ServeLimits::soft_response_limit`];
//! - a reply that cannot be served from the state (unknown root, unknown account, a read that
//!   fails) is **empty**, which the requester reads as "state unavailable";
//! - at least one item goes out whenever one exists, however small the byte budget;
//! - only malformed requests (an empty trie-node path set, a path set that does not parse) and
//!   response messages given as requests are errors, after which the caller disconnects.

mod accounts;
mod lean_trie;
mod memory;
mod nodes;
mod requests;
mod view;

pub use accounts::account_range;
pub use memory::{InMemoryState, StateBuildError};
pub use nodes::trie_nodes;
pub use requests::{block_access_lists, byte_codes, storage_ranges};
pub use view::{AccountIter, BalStore, NoBals, SlotIter, StateError, StateView};

use crate::wire::{MessageId, SnapMessage};

/// Answers one snap request from `state` (and, for snap/2 access lists, from `bals`).
///
/// Pure: the response depends only on the arguments. Errors mean the request must not be
/// answered and the peer that sent it should be disconnected: a response message given as a
/// request ([`ServeError::NotARequest`]) or a malformed trie-node request
/// ([`ServeError::BadRequest`]). Whether a message is allowed on the negotiated protocol
/// version is the caller's concern.
pub fn serve<S, B>(
    request: &SnapMessage,
    state: &S,
    bals: &B,
    limits: &ServeLimits,
) -> Result<SnapMessage, ServeError>
where
    S: StateView + ?Sized,
    B: BalStore + ?Sized,
{
    Ok(match request {
        SnapMessage::GetAccountRange(request) => {
            SnapMessage::AccountRange(account_range(request, state, limits))
        }
        SnapMessage::GetStorageRanges(request) => {
            SnapMessage::StorageRanges(storage_ranges(request, state, limits))
        }
        SnapMessage::GetByteCodes(request) => {
            SnapMessage::ByteCodes(byte_codes(request, state, limits))
        }
        SnapMessage::GetTrieNodes(request) => {
            SnapMessage::TrieNodes(trie_nodes(request, state, limits)?)
        }
        SnapMessage::GetBlockAccessLists(request) => {
            SnapMessage::BlockAccessLists(block_access_lists(request, bals, limits))
        }
        SnapMessage::AccountRange(_)
        | SnapMessage::StorageRanges(_)
        | SnapMessage::ByteCodes(_)
        | SnapMessage::TrieNodes(_)
        | SnapMessage::BlockAccessLists(_) => return Err(ServeError::NotARequest(request.id())),
    })
}

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

#[cfg(test)]
mod tests;
