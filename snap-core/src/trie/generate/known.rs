//! The verified nodes a generator was handed, looked up by path as its nodes close.
//!
//! The generator closes its nodes in post-order, and asks only for nodes it determines, which
//! are nodes of the full trie; verified nodes are full-trie nodes in post-order too. So each
//! batch of verified nodes is read with a cursor that only moves forward.
//!
//! A node on the boundary between two consecutive ranges closes only when the next range's
//! first key arrives, so the nodes of the previous range that are still ahead of its cursor
//! are kept when the next batch comes: those on the path of the last key (at most 65), copied
//! out so that the previous range's buffer is freed.

use alloy_primitives::{B256, Bytes};
use nybbles::Nibbles;

use crate::trie::verified::{KnownNode, VerifiedNodes, post_order_lt};

/// Verified nodes not passed yet: at most the carried-over path of the previous range and the
/// latest range's nodes.
#[derive(Debug, Default)]
pub(super) struct Known {
    runs: Vec<Run>,
}

#[derive(Debug)]
struct Run {
    nodes: VerifiedNodes,
    /// The first node not passed yet.
    next: usize,
}

impl Known {
    /// Adds the nodes of the next range. `last` is the last key the generator was given: the
    /// nodes still ahead on its path are kept; the rest of the earlier ranges is dropped.
    pub(super) fn add(&mut self, nodes: VerifiedNodes, last: Option<&Nibbles>) {
        self.compact(last);
        if !nodes.is_empty() {
            self.runs.push(Run { nodes, next: 0 });
        }
    }

    /// Keeps only the nodes still ahead on the path of `last` (the last key the generator was
    /// given), copied out so that the buffers of the ranges they came from are freed.
    pub(super) fn compact(&mut self, last: Option<&Nibbles>) {
        let carried = last.map(|last| self.carry_over(last)).filter(|run| !run.nodes.is_empty());
        self.runs.clear();
        self.runs.extend(carried);
    }

    /// Drops every node.
    pub(super) fn clear(&mut self) {
        self.runs.clear();
    }

    /// The nodes not passed yet on the path to `last`, copied into a buffer of their own.
    fn carry_over(&self, last: &Nibbles) -> Run {
        let mut arena = Vec::new();
        let mut kept = Vec::new();
        for run in &self.runs {
            for node in run.nodes.nodes[run.next..].iter().filter(|n| last.starts_with(&n.path)) {
                let start = arena.len();
                arena.extend_from_slice(&run.nodes.arena[node.start..node.end]);
                kept.push(KnownNode { path: node.path, hash: node.hash, start, end: arena.len() });
            }
        }
        // Runs are each in post-order and the kept nodes are all on one path: deepest first.
        kept.sort_by_key(|node| std::cmp::Reverse(node.path.len()));
        kept.dedup_by(|a, b| a.path == b.path);
        Run { nodes: VerifiedNodes { arena: Bytes::from(arena), nodes: kept }, next: 0 }
    }

    /// The verified node at `path`, if any: its encoding and hash. Calls must come in
    /// post-order of their paths.
    pub(super) fn find(&mut self, path: &Nibbles) -> Option<(Bytes, B256)> {
        for run in &mut self.runs {
            let nodes = &run.nodes.nodes;
            while run.next < nodes.len() && post_order_lt(&nodes[run.next].path, path) {
                run.next += 1;
            }
            if let Some(node) = nodes.get(run.next).filter(|node| node.path == *path) {
                run.next += 1;
                return Some((run.nodes.arena.slice(node.start..node.end), node.hash));
            }
        }
        None
    }
}
