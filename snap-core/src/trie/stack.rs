//! A streaming trie builder that hands every node, with its path, to a sink as soon as no later
//! leaf can change it.
//!
//! Leaves arrive in increasing key order. The builder keeps one leaf back (its depth depends on
//! the next key) and a stack of open branches of strictly increasing depth along the path of
//! that leaf. When a key arrives that leaves a branch's prefix, the branch is closed and handed
//! to the sink, and the reference the sink returns goes to its parent. Nodes therefore reach
//! the sink in post-order: every node after all the nodes below it, and subtrees in key order.
//!
//! The builder knows only the shape of the trie. What a node becomes is the sink's business:
//! the range-proof verifier encodes and hashes every node (keeping them, to be written), the
//! trie generator writes the nodes its chunk determines and skips the others.

use alloy_trie::{TrieMask, nodes::RlpNode};
use nybbles::Nibbles;

/// Receives the nodes of a trie being built, children before parents. Each call returns the
/// node's reference as its parent holds it (its RLP if shorter than 32 bytes, else the RLP of
/// its hash). The path of a node is `key[..depth]`, where `key` is a full key below it.
pub(crate) trait NodeSink {
    /// The leaf of `key` at path length `depth`, holding `value`.
    fn leaf(&mut self, key: &Nibbles, depth: usize, value: &[u8]) -> RlpNode;

    /// An extension at `depth` whose child (a branch) sits at `child_depth`.
    fn extension(
        &mut self,
        key: &Nibbles,
        depth: usize,
        child_depth: usize,
        child: &RlpNode,
    ) -> RlpNode;

    /// A branch at `depth` with the children in `mask`, whose references are `children` in
    /// nibble order.
    fn branch(
        &mut self,
        key: &Nibbles,
        depth: usize,
        mask: TrieMask,
        children: &[RlpNode],
    ) -> RlpNode;
}

/// A branch that may still receive children.
#[derive(Debug)]
struct OpenBranch {
    depth: usize,
    mask: TrieMask,
    /// Index of its first child in the builder's child stack.
    first_child: usize,
}

/// The streaming builder. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct StackBuilder {
    open: Vec<OpenBranch>,
    /// The references of the open branches' children, branch after branch.
    children: Vec<RlpNode>,
    /// The last pushed key, whose leaf is not built yet.
    held_key: Option<Nibbles>,
    /// The held leaf's value (the buffer is reused from leaf to leaf).
    held_value: Vec<u8>,
    /// Path length of the topmost node: every key pushed shares its first `root_depth` nibbles.
    root_depth: usize,
}

impl StackBuilder {
    /// Starts a trie (or a subtree) whose topmost node sits at path length `root_depth`, every
    /// key pushed sharing that prefix. The builder must be empty (new, or finished).
    pub(crate) fn start(&mut self, root_depth: usize) {
        debug_assert!(self.held_key.is_none() && self.open.is_empty());
        self.root_depth = root_depth;
    }

    /// Adds a leaf. `key` must be greater than every key pushed since the last `finish` and
    /// have 64 nibbles (the caller checks). Finished nodes go to `sink`.
    pub(crate) fn push(&mut self, key: Nibbles, value: &[u8], sink: &mut impl NodeSink) {
        if let Some(held_key) = self.held_key.take() {
            let shared = held_key.common_prefix_length(&key);
            self.close_above(&held_key, shared, sink);
        }
        self.held_key = Some(key);
        self.held_value.clear();
        self.held_value.extend_from_slice(value);
    }

    /// Closes everything, handing every remaining node to `sink` up to and including the
    /// topmost one, and returns the topmost node's reference (`None` for no leaves). The builder
    /// is empty afterwards.
    pub(crate) fn finish(&mut self, sink: &mut impl NodeSink) -> Option<RlpNode> {
        let key = self.held_key.take()?;
        // Close every branch; what remains is the topmost branch (or the lone leaf).
        let (node, depth) = self.close_to(&key, None, sink);
        if depth == self.root_depth {
            return Some(node);
        }
        // The topmost branch sits below the root: an extension leads to it.
        Some(sink.extension(&key, self.root_depth, depth, &node))
    }

    /// Closes the held leaf and every open branch deeper than `shared`, then makes sure a
    /// branch at depth `shared` is open and holds the closed subtree.
    fn close_above(&mut self, key: &Nibbles, shared: usize, sink: &mut impl NodeSink) {
        let (node, depth) = self.close_to(key, Some(shared), sink);
        if self.open.last().is_none_or(|top| top.depth != shared) {
            let first_child = self.children.len();
            self.open.push(OpenBranch { depth: shared, mask: TrieMask::default(), first_child });
        }
        if let Some(top) = self.open.last_mut() {
            let child = attach(top, key, node, depth, sink);
            self.children.push(child);
        }
    }

    /// Closes the held leaf, then pops and closes every open branch deeper than `floor` (all of
    /// them for `None`), each time attaching the previous node to it. Returns the last node's
    /// reference and path length.
    fn close_to(
        &mut self,
        key: &Nibbles,
        floor: Option<usize>,
        sink: &mut impl NodeSink,
    ) -> (RlpNode, usize) {
        // The leaf hangs below the deeper of the innermost open branch and the next branch.
        let parent_depth = match (self.open.last().map(|b| b.depth), floor) {
            (Some(open), Some(next)) => Some(open.max(next)),
            (open, next) => open.or(next),
        };
        let leaf_depth = parent_depth.map_or(self.root_depth, |depth| depth + 1);
        let mut node = sink.leaf(key, leaf_depth, &self.held_value);
        let mut depth = leaf_depth;
        while let Some(mut branch) =
            self.open.pop_if(|top| floor.is_none_or(|floor| top.depth > floor))
        {
            let child = attach(&mut branch, key, node, depth, sink);
            self.children.push(child);
            depth = branch.depth;
            node = sink.branch(key, depth, branch.mask, &self.children[branch.first_child..]);
            self.children.truncate(branch.first_child);
        }
        (node, depth)
    }
}

/// Makes the node at path `key[..depth]` a child of `branch`: through an extension when the
/// node sits deeper than directly below the branch (the node is then a branch itself). Returns
/// the reference to push as the branch's child.
fn attach(
    branch: &mut OpenBranch,
    key: &Nibbles,
    node: RlpNode,
    depth: usize,
    sink: &mut impl NodeSink,
) -> RlpNode {
    let child_depth = branch.depth + 1;
    branch.mask.set_bit(key.get_unchecked(branch.depth));
    if depth > child_depth { sink.extension(key, child_depth, depth, &node) } else { node }
}
