//! Healing: walking the target trie from its root until the store holds all of it, exactly.
//!
//! The range phase leaves holes (nodes straddling chunk boundaries, accounts whose storage came
//! in chunks, and, when the target moved, whole subtries written for older roots). Healing
//! walks the target's tries from the root, one node at a time:
//!
//! 1. **Check**: ask the store (a [`Lookup::Nodes`](super::Lookup::Nodes)) whether it holds
//!    the node at that path with that hash. A stored node means its whole subtree is stored
//!    (the invariant below), so the walk stops there.
//! 2. **Fetch** what the store lacks with `GetTrieNodes`, deepest paths first (the walk is
//!    depth-first, which keeps the frontier small), and verify each node by its hash.
//! 3. **Expand** the node: its hashed children go to step 1; leaves met (also inside embedded
//!    children) become flat writes; an account leaf also waits for its storage trie (walked the
//!    same way, from the account's storage root) and for its bytecode; every range under the
//!    node's path that the node does not reach is pruned at once, nodes and flat entries alike,
//!    so no stale account, slot or node survives, and no stale node deeper down keeps claiming
//!    a subtree the walk changes. For the same reason a path the walk fetches loses its stored
//!    node as soon as the lookup misses.
//! 4. **Commit child-first**: a node is written, with its flat leaves and prunes, only once
//!    every child subtree is complete (stored or committed). So a stored node always means a
//!    complete subtree, also across crashes: a resumed walk loses nothing committed.
//!
//! Nothing of the walk is persisted; a resumed or re-rooted walk starts again from the root and
//! skips, by lookups, whatever is already complete.

mod expand;

use std::{
    cmp::Reverse,
    collections::{BTreeMap, btree_map::Entry},
};

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;

use super::{
    codes::{CodeQueue, Need},
    contract::{Counters, Misbehaviour, NodeQuery, WriteBatch},
};
use crate::{
    trie::{NodeKey, ProofError, PrunedRange},
    wire::{TrieNodePathSet, encode_compact},
};
use expand::{Expansion, expand};

/// A node of the walk: its owner and path.
type NodeId = (B256, Nibbles);

/// A node the walk wants: where it lives, its hash, and the fetched node waiting for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HealItem {
    owner: B256,
    path: Nibbles,
    hash: B256,
    parent: Option<NodeId>,
}

/// A fetched node waiting for its children, storage and code before it is committed.
#[derive(Debug)]
struct Pending {
    node: Bytes,
    /// Children, storage tries and codes not yet complete.
    deps: usize,
    parent: Option<NodeId>,
    accounts: Vec<(B256, TrieAccount)>,
    slots: Vec<(B256, Bytes)>,
    /// The storage of accounts whose storage is now empty.
    pruned: Vec<PrunedRange>,
}

/// What the walk writes to and reads from while it runs.
pub(crate) struct HealContext<'a> {
    pub(crate) batch: &'a mut WriteBatch,
    pub(crate) codes: &'a mut CodeQueue,
    pub(crate) counters: &'a mut Counters,
    /// Code hashes to ask the store about (the machine sends the lookup).
    pub(crate) code_checks: &'a mut Vec<B256>,
}

/// Deepest first; among equal depths, by owner then path.
type FetchKey = (Reverse<usize>, B256, Nibbles);

/// The heal walk for one root.
#[derive(Debug)]
pub(crate) struct Healer {
    root: B256,
    started: bool,
    done: bool,
    to_check: Vec<HealItem>,
    checking: BTreeMap<u64, Vec<HealItem>>,
    fetch: BTreeMap<FetchKey, HealItem>,
    pending: BTreeMap<NodeId, Pending>,
    waiting_code: BTreeMap<B256, Vec<NodeId>>,
}

/// The outcome of a `TrieNodes` response.
pub(crate) enum NodesOutcome {
    /// Nodes verified and taken.
    Delivered(u64),
    /// The peer sent no node at all: it lacks the state.
    Unavailable,
}

impl Healer {
    /// A walk of `root`, not started.
    pub(crate) fn new(root: B256) -> Self {
        Self {
            root,
            started: false,
            done: false,
            to_check: Vec::new(),
            checking: BTreeMap::new(),
            fetch: BTreeMap::new(),
            pending: BTreeMap::new(),
            waiting_code: BTreeMap::new(),
        }
    }

    /// The root being healed.
    pub(crate) const fn root(&self) -> B256 {
        self.root
    }

    pub(crate) const fn is_started(&self) -> bool {
        self.started
    }

    /// The root node is committed (or was found stored): the state is complete.
    pub(crate) const fn is_done(&self) -> bool {
        self.done
    }

    /// Starts the walk at the root. An empty state has nothing to fetch: everything is pruned.
    pub(crate) fn start(&mut self, ctx: &mut HealContext<'_>) {
        if self.started {
            return;
        }
        self.started = true;
        if self.root == EMPTY_ROOT_HASH {
            ctx.batch.pruned.push(PrunedRange::subtree(B256::ZERO, Nibbles::new()));
            self.done = true;
            return;
        }
        self.to_check.push(HealItem {
            owner: B256::ZERO,
            path: Nibbles::new(),
            hash: self.root,
            parent: None,
        });
    }

    /// Fetched nodes waiting for their subtrees.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Paths queued to check or fetch.
    pub(crate) fn queued(&self) -> usize {
        self.to_check.len() + self.checking.values().map(Vec::len).sum::<usize>() + self.fetch.len()
    }

    /// The queued checks as one lookup with id `id`, if any.
    pub(crate) fn take_lookup(&mut self, id: u64) -> Option<Vec<NodeQuery>> {
        if self.to_check.is_empty() {
            return None;
        }
        let items = std::mem::take(&mut self.to_check);
        let queries = items
            .iter()
            .map(|item| NodeQuery { owner: item.owner, path: item.path, hash: item.hash })
            .collect();
        self.checking.insert(id, items);
        Some(queries)
    }

    /// The store's answer to lookup `id`: stored subtrees are complete, the rest is fetched.
    /// An unknown id (a lookup of an earlier walk) is ignored.
    ///
    /// Whatever other node the store holds at a path the walk fetches is deleted at once,
    /// before anything below it is committed: its subtree is about to change, and a stored
    /// node must keep meaning a complete subtree (a later target may want that very node
    /// again, as when a target returns to an earlier root).
    pub(crate) fn on_lookup(&mut self, id: u64, held: &[bool], ctx: &mut HealContext<'_>) {
        let Some(items) = self.checking.remove(&id) else { return };
        for (index, item) in items.into_iter().enumerate() {
            if held.get(index).copied().unwrap_or(false) {
                self.complete(item.parent, ctx);
            } else {
                ctx.batch.nodes.deletes.push(NodeKey { owner: item.owner, path: item.path });
                self.fetch.insert(fetch_key(&item), item);
            }
        }
    }

    /// Whether paths wait to be fetched.
    pub(crate) fn has_fetch(&self) -> bool {
        !self.fetch.is_empty()
    }

    /// Takes up to `count` paths to fetch, deepest first, in the order a request must carry
    /// them, with the path sets of that request.
    pub(crate) fn take_fetch(&mut self, count: usize) -> (Vec<HealItem>, Vec<TrieNodePathSet>) {
        let mut items = Vec::with_capacity(count.min(self.fetch.len()));
        while items.len() < count.max(1) {
            let Some((_, item)) = self.fetch.pop_first() else { break };
            items.push(item);
        }
        request_order(items)
    }

    /// Paths of a failed request of this walk go back to be fetched again.
    pub(crate) fn give_back(&mut self, items: Vec<HealItem>) {
        for item in items {
            self.fetch.insert(fetch_key(&item), item);
        }
    }

    /// A `TrieNodes` response to a request for `items`: blobs are matched to the requested
    /// hashes in order (gaps allowed, an empty blob stands for one missing node), every node is
    /// verified and expanded before anything is taken, and the paths left unanswered are
    /// fetched again.
    pub(crate) fn on_nodes(
        &mut self,
        items: Vec<HealItem>,
        nodes: Vec<Bytes>,
        ctx: &mut HealContext<'_>,
    ) -> Result<NodesOutcome, Misbehaviour> {
        if nodes.len() > items.len() {
            return Err(Misbehaviour::TooManyItems { got: nodes.len(), requested: items.len() });
        }
        if nodes.iter().all(|node| node.is_empty()) {
            return Ok(NodesOutcome::Unavailable);
        }
        let mut matched = Vec::with_capacity(nodes.len());
        let mut missing = Vec::new();
        let mut position = 0;
        for node in nodes {
            if node.is_empty() {
                if let Some(item) = items.get(position) {
                    missing.push(*item);
                    position += 1;
                }
                continue;
            }
            let hash = keccak256(&node);
            let offset = items
                .get(position..)
                .unwrap_or_default()
                .iter()
                .position(|item| item.hash == hash)
                .ok_or(Misbehaviour::UnrequestedNode)?;
            missing.extend_from_slice(&items[position..position + offset]);
            let item = items[position + offset];
            position += offset + 1;
            let expansion = expand(item.owner, item.path, &node)
                .and_then(|expansion| decode_accounts(item.owner, expansion))
                .map_err(Misbehaviour::BadTrieNode)?;
            matched.push((item, node, expansion));
        }
        missing.extend_from_slice(items.get(position..).unwrap_or_default());
        let delivered = matched.len() as u64;
        for (item, node, (expansion, accounts)) in matched {
            self.take_node(item, node, expansion, accounts, ctx);
        }
        self.give_back(missing);
        Ok(NodesOutcome::Delivered(delivered))
    }

    /// These codes are stored (or in a batch): accounts waiting for them may complete.
    pub(crate) fn codes_arrived(&mut self, arrived: &[B256], ctx: &mut HealContext<'_>) {
        for hash in arrived {
            for id in self.waiting_code.remove(hash).unwrap_or_default() {
                self.complete(Some(id), ctx);
            }
        }
    }

    fn take_node(
        &mut self,
        item: HealItem,
        node: Bytes,
        expansion: Expansion,
        accounts: Vec<(B256, TrieAccount)>,
        ctx: &mut HealContext<'_>,
    ) {
        let id = (item.owner, item.path);
        if self.pending.contains_key(&id) {
            return; // already fetched (cannot happen for a well-formed walk; never count twice)
        }
        // What the node does not reach goes now, before anything below it is committed: a
        // stored node deeper down (left by an earlier target) would otherwise keep claiming a
        // subtree the walk is about to change (a leaf moved up, an extension's interior).
        let owner = item.owner;
        ctx.batch.pruned.extend(expansion.pruned);
        ctx.batch
            .nodes
            .deletes
            .extend(expansion.embedded.into_iter().map(|path| NodeKey { owner, path }));
        let mut pending = Pending {
            node,
            deps: 0,
            parent: item.parent,
            accounts: Vec::with_capacity(accounts.len()),
            slots: Vec::new(),
            pruned: Vec::new(),
        };
        for (path, hash) in expansion.children {
            self.to_check.push(HealItem { owner: item.owner, path, hash, parent: Some(id) });
            pending.deps += 1;
        }
        for (hash, account) in accounts {
            if account.storage_root == EMPTY_ROOT_HASH {
                pending.pruned.push(PrunedRange::subtree(hash, Nibbles::new()));
            } else {
                self.to_check.push(HealItem {
                    owner: hash,
                    path: Nibbles::new(),
                    hash: account.storage_root,
                    parent: Some(id),
                });
                pending.deps += 1;
            }
            if account.code_hash != KECCAK_EMPTY {
                let code = account.code_hash;
                let wait = match ctx.codes.want(code) {
                    Need::Known => false,
                    Need::Pending => true,
                    Need::Check => {
                        ctx.code_checks.push(code);
                        true
                    }
                };
                if wait {
                    self.waiting_code.entry(code).or_default().push(id);
                    pending.deps += 1;
                }
            }
            pending.accounts.push((hash, account));
        }
        if item.owner != B256::ZERO {
            pending.slots =
                expansion.leaves.into_iter().map(|(key, value)| (key, value.into())).collect();
        }
        if pending.deps == 0 {
            Self::commit(id, pending, ctx);
            self.complete(item.parent, ctx);
        } else {
            self.pending.insert(id, pending);
        }
    }

    /// One dependency of `parent` completed; commits every node this completes, upwards.
    fn complete(&mut self, mut parent: Option<NodeId>, ctx: &mut HealContext<'_>) {
        while let Some(id) = parent {
            let Entry::Occupied(mut entry) = self.pending.entry(id) else { return };
            let waiting = entry.get_mut();
            waiting.deps = waiting.deps.saturating_sub(1);
            if waiting.deps > 0 {
                return;
            }
            let pending = entry.remove();
            parent = pending.parent;
            Self::commit(id, pending, ctx);
        }
        self.done = true;
    }

    fn commit((owner, path): NodeId, pending: Pending, ctx: &mut HealContext<'_>) {
        let batch = &mut *ctx.batch;
        batch.pruned.extend(pending.pruned);
        batch.nodes.writes.push((NodeKey { owner, path }, pending.node));
        ctx.counters.nodes += 1;
        ctx.counters.healed_accounts += pending.accounts.len() as u64;
        ctx.counters.healed_slots += pending.slots.len() as u64;
        batch.accounts.extend(pending.accounts);
        batch.storage.extend(pending.slots.into_iter().map(|(slot, value)| (owner, slot, value)));
    }
}

/// Decodes the account leaves of an account-trie node (a storage trie's leaves stay raw).
fn decode_accounts(
    owner: B256,
    expansion: Expansion,
) -> Result<(Expansion, Vec<(B256, TrieAccount)>), ProofError> {
    if owner != B256::ZERO {
        return Ok((expansion, Vec::new()));
    }
    let accounts = expansion
        .leaves
        .iter()
        .map(|(hash, leaf)| Ok((*hash, TrieAccount::decode(&mut leaf.as_slice())?)))
        .collect::<Result<Vec<_>, alloy_rlp::Error>>()?;
    Ok((expansion, accounts))
}

fn fetch_key(item: &HealItem) -> FetchKey {
    let depth = if item.owner == B256::ZERO { item.path.len() } else { 64 + item.path.len() };
    (Reverse(depth), item.owner, item.path)
}

/// Orders paths as geth does for a request: by the first element of their sync path (an
/// account path's compact encoding, or the owner's hash for a storage path), account paths
/// before storage paths with the same first element, storage paths of one account together in
/// compact order; and builds the request's path sets.
fn request_order(mut items: Vec<HealItem>) -> (Vec<HealItem>, Vec<TrieNodePathSet>) {
    let key = |item: &HealItem| {
        let compact = encode_compact(&item.path, false);
        if item.owner == B256::ZERO {
            (compact.clone(), false, compact)
        } else {
            (Bytes::copy_from_slice(item.owner.as_slice()), true, compact)
        }
    };
    items.sort_by_cached_key(key);
    let mut sets = Vec::new();
    let mut index = 0;
    while let Some(item) = items.get(index) {
        if item.owner == B256::ZERO {
            sets.push(TrieNodePathSet::account(&item.path));
            index += 1;
            continue;
        }
        let owner = item.owner;
        let paths: Vec<Nibbles> =
            items[index..].iter().take_while(|next| next.owner == owner).map(|i| i.path).collect();
        index += paths.len();
        sets.push(TrieNodePathSet::storage(owner, &paths));
    }
    (items, sets)
}

#[cfg(test)]
mod tests;
