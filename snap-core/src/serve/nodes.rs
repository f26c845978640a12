//! Serving `GetTrieNodes` (snap/1).

use alloy_primitives::Bytes;

use super::{
    ServeError, ServeLimits,
    view::{StateError, StateView},
};
use crate::wire::{GetTrieNodes, PathSetRequest, TrieNodes};

/// Answers `GetTrieNodes`.
///
/// Nodes come back in request order, one item per requested path, with an **empty item** for a
/// path at which no stored node sits (geth's behaviour, which its conformance suite relies on).
/// A storage path set naming an account that does not exist gets an empty item for each of its
/// paths, so items stay aligned with the request (geth skips such a set instead). A read that
/// fails ends its path set. The reply stops, between two reads, once its size exceeds the byte
/// budget, [`ServeLimits::max_trie_node_lookups`] nodes were read, or the work spent (one unit
/// per node read, [`ServeLimits::account_read_work`] per storage path set) reaches
/// [`ServeLimits::trie_node_work_budget`], a deterministic stand-in for geth's five-second
/// clock. The first read always happens, so at least one item goes out. An unavailable root
/// gives an empty reply.
///
/// Every path set is parsed before anything is read: an empty path set, or one that does not
/// parse, is [`ServeError::BadRequest`] wherever it sits in the request, and the caller
/// disconnects.
pub fn trie_nodes<S: StateView + ?Sized>(
    request: &GetTrieNodes,
    state: &S,
    limits: &ServeLimits,
) -> Result<TrieNodes, ServeError> {
    let sets = request
        .paths
        .iter()
        .map(|set| set.parse())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ServeError::BadRequest(format!("trie node path set: {error}")))?;
    let mut reply = TrieNodes { request_id: request.request_id, nodes: Vec::new() };
    let root = &request.root;
    if !state.has_root(root) {
        return Ok(reply);
    }
    let mut budget = Budget::new(limits, limits.clamp(request.response_bytes));
    'sets: for set in &sets {
        match set {
            PathSetRequest::Account(path) => {
                if budget.exhausted() {
                    break;
                }
                budget.read();
                match state.trie_node(root, None, path) {
                    Ok(node) => budget.push(&mut reply.nodes, node.unwrap_or_default()),
                    Err(_) => continue,
                }
            }
            PathSetRequest::Storage { account, paths } => {
                budget.work = budget.work.saturating_add(limits.account_read_work);
                for path in paths {
                    if budget.exhausted() {
                        break 'sets;
                    }
                    budget.read();
                    match state.trie_node(root, Some(account), path) {
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
