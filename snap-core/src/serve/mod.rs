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
mod limits;
mod memory;
mod nodes;
mod requests;
mod view;

pub use accounts::account_range;
pub use limits::{ServeError, ServeLimits};
pub use memory::{InMemoryState, StateBuildError};
pub use nodes::trie_nodes;
pub use requests::{block_access_lists, byte_codes, storage_ranges};
pub use view::{AccountIter, BalStore, NoBals, SlotIter, StateError, StateView};

use crate::wire::SnapMessage;

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

#[cfg(test)]
mod bal_tests;
#[cfg(test)]
mod tests;
