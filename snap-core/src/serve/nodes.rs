//! Serving `GetTrieNodes` (snap/1).

use alloy_primitives::{B256, Bytes};
use nybbles::Nibbles;

use super::{
    ServeError, ServeLimits,
    view::{StateError, StateView},
};
use crate::wire::{GetTrieNodes, TrieNodes, decode_compact};

/// Answers `GetTrieNodes`.
///
/// Nodes come back in request order, one item per requested path, with an **empty item** for a
/// path at which no stored node sits (geth's behaviour, which its conformance suite relies on),
/// and likewise for a path that cannot name a node: longer than 64 nibbles, leaf-flagged, or
/// not a valid compact encoding (geth walks such a path, finds nothing and answers an empty
/// item too; it keeps the peer, and so do we). A storage path set naming an account that does
/// not exist, or whose account element is not a 32-byte hash, gets an empty item for each of
/// its paths, so items stay aligned with the request (geth skips such a set instead). A read
/// that fails ends its path set. The reply stops, between two paths, once its size exceeds the
/// byte budget, [`ServeLimits::max_trie_node_lookups`] paths were looked at, or the work spent
/// (one unit per path, [`ServeLimits::account_read_work`] per storage path set) reaches
/// [`ServeLimits::trie_node_work_budget`], a deterministic stand-in for geth's five-second
/// clock. The first path is always looked at, so at least one item goes out. An unavailable
/// root gives an empty reply.
///
/// An empty path set is [`ServeError::BadRequest`] wherever it sits in the request (geth's one
/// trie-node error), and the caller disconnects.
pub fn trie_nodes<S: StateView + ?Sized>(
    request: &GetTrieNodes,
    state: &S,
    limits: &ServeLimits,
) -> Result<TrieNodes, ServeError> {
    if request.paths.iter().any(|set| set.0.is_empty()) {
        return Err(ServeError::BadRequest("empty trie node path set".into()));
    }
    let mut reply = TrieNodes { request_id: request.request_id, nodes: Vec::new() };
    let root = &request.root;
    if !state.has_root(root) {
        return Ok(reply);
    }
    let mut budget = Budget::new(limits, limits.clamp(request.response_bytes));
    'sets: for set in &request.paths {
        match set.0.as_slice() {
            [] => {}
            [path] => {
                if budget.exhausted() {
                    break;
                }
                budget.read();
                let Some(path) = node_path(path) else {
                    budget.push(&mut reply.nodes, Bytes::new());
                    continue;
                };
                match state.trie_node(root, None, &path) {
                    Ok(node) => budget.push(&mut reply.nodes, node.unwrap_or_default()),
                    Err(_) => continue,
                }
            }
            [account, paths @ ..] => {
                let account = B256::try_from(account.as_ref()).ok();
                budget.work = budget.work.saturating_add(limits.account_read_work);
                for path in paths {
                    if budget.exhausted() {
                        break 'sets;
                    }
                    budget.read();
                    let (Some(account), Some(path)) = (account, node_path(path)) else {
                        budget.push(&mut reply.nodes, Bytes::new());
                        continue;
                    };
                    match state.trie_node(root, Some(&account), &path) {
                        Ok(node) => budget.push(&mut reply.nodes, node.unwrap_or_default()),
                        Err(StateError::UnknownAccount(_)) => {
                            budget.push(&mut reply.nodes, Bytes::new());
                        }
                        Err(_) => continue 'sets,
                    }
                }
            }
        }
    }
    Ok(reply)
}

/// The node path a compact path names, if it names one.
fn node_path(bytes: &[u8]) -> Option<Nibbles> {
    match decode_compact(bytes) {
        Ok((path, false)) => Some(path),
        _ => None,
    }
}

/// What a trie-node reply has spent so far.
struct Budget<'a> {
    limits: &'a ServeLimits,
    bytes: u64,
    size: u64,
    lookups: usize,
    work: u64,
}

impl<'a> Budget<'a> {
    const fn new(limits: &'a ServeLimits, bytes: u64) -> Self {
        Self { limits, bytes, size: 0, lookups: 0, work: 0 }
    }

    /// Whether no further read may happen; never before the first read.
    const fn exhausted(&self) -> bool {
        self.lookups > 0
            && (self.size > self.bytes
                || self.lookups >= self.limits.max_trie_node_lookups
                || self.work >= self.limits.trie_node_work_budget)
    }

    const fn read(&mut self) {
        self.lookups = self.lookups.saturating_add(1);
        self.work = self.work.saturating_add(1);
    }

    fn push(&mut self, nodes: &mut Vec<Bytes>, node: Bytes) {
        self.size = self.size.saturating_add(node.len() as u64);
        nodes.push(node);
    }
}
