//! A streaming trie builder that reports every node, with its path and full encoding, as soon
//! as no later leaf can change it.
//!
//! Leaves arrive in increasing key order. The builder keeps one leaf back (its depth depends on
//! the next key) and a stack of open branches of strictly increasing depth along the path of
//! that leaf. When a key arrives that leaves a branch's prefix, the branch is closed, encoded
//! and reported, and its reference is handed to its parent. Nothing here knows about chunk
//! boundaries; the generator decides what each reported node means for the database.

use alloy_trie::{
    TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};
use nybbles::Nibbles;

/// The shape of a reported node, as far as the generator needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NodeShape {
    /// A leaf holding the value of `Reported::key`.
    Leaf,
    /// An extension whose child starts at nibble depth `child_depth`.
    Extension {
        /// Length of the child's path.
        child_depth: usize,
    },
    /// A branch node.
    Branch,
}

/// A finished node of the trie built from the leaves pushed so far.
#[derive(Clone, Debug)]
pub(super) struct Reported {
    /// A full key below (or at) the node; the node's path is `key[..depth]`.
    pub key: Nibbles,
    /// Length of the node's path.
    pub depth: usize,
    /// The node's shape.
    pub shape: NodeShape,
    /// The node's RLP encoding.
    pub encoded: Vec<u8>,
}

impl Reported {
    /// The node's path from the root.
    pub(crate) fn path(&self) -> Nibbles {
        self.key.slice(..self.depth)
    }
}

/// A branch that may still receive children.
#[derive(Debug)]
struct OpenBranch {
    depth: usize,
    mask: TrieMask,
    children: Vec<RlpNode>,
}

/// The streaming builder. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct StackBuilder {
    open: Vec<OpenBranch>,
    /// The last pushed key, whose leaf is not reported yet.
    held_key: Option<Nibbles>,
    /// The held leaf's value (the buffer is reused from leaf to leaf).
    held_value: Vec<u8>,
}

impl StackBuilder {
    /// Adds a leaf. `key` must be greater than every key pushed since the last `finish` and
    /// have 64 nibbles (the caller checks). Finished nodes are appended to `out`.
    pub(crate) fn push(&mut self, key: Nibbles, value: &[u8], out: &mut Vec<Reported>) {
        if let Some(held_key) = self.held_key.take() {
            let shared = held_key.common_prefix_length(&key);
            self.close_above(&held_key, shared, out);
        }
        self.held_key = Some(key);
        self.held_value.clear();
        self.held_value.extend_from_slice(value);
    }

    /// Closes everything, reporting every remaining node up to and including the root, and
    /// returns the root reference (`None` for no leaves). The builder is empty afterwards.
    pub(crate) fn finish(&mut self, out: &mut Vec<Reported>) -> Option<RlpNode> {
        let key = self.held_key.take()?;
        // Close every branch down to depth 0; what remains is the topmost node.
        let (node, depth) = self.close_to(&key, None, out);
        if depth == 0 {
            return Some(node);
        }
        // The topmost branch sits below the root: an extension at the root leads to it.
        Some(report_extension(&key, 0, depth, &node, out))
    }

    /// Reports the held leaf and closes every open branch deeper than `shared`, then makes sure
    /// a branch at depth `shared` is open and holds the closed subtree.
    fn close_above(&mut self, key: &Nibbles, shared: usize, out: &mut Vec<Reported>) {
        let (node, depth) = self.close_to(key, Some(shared), out);
        match self.open.last_mut() {
            Some(top) if top.depth == shared => attach(top, key, node, depth, out),
            _ => {
                let mut branch =
                    OpenBranch { depth: shared, mask: TrieMask::default(), children: Vec::new() };
                attach(&mut branch, key, node, depth, out);
                self.open.push(branch);
            }
        }
    }

    /// Reports the held leaf, then pops and reports every open branch deeper than `floor`
    /// (all of them for `None`), each time attaching the previous node to it. Returns the last
    /// node's reference and path length.
    fn close_to(
        &mut self,
        key: &Nibbles,
        floor: Option<usize>,
        out: &mut Vec<Reported>,
    ) -> (RlpNode, usize) {
        // The leaf hangs below the deeper of the innermost open branch and the next branch.
        let parent_depth = match (self.open.last().map(|b| b.depth), floor) {
            (Some(open), Some(next)) => Some(open.max(next)),
            (open, next) => open.or(next),
        };
        let leaf_depth = parent_depth.map_or(0, |depth| depth + 1);
        let mut node = report_leaf(key, leaf_depth, &self.held_value, out);
        let mut depth = leaf_depth;
        while let Some(top) = self.open.last() {
            if floor.is_some_and(|floor| top.depth <= floor) {
                break;
            }
            let Some(mut branch) = self.open.pop() else { break };
            attach(&mut branch, key, node, depth, out);
            depth = branch.depth;
            node = report_branch(key, branch, out);
        }
        (node, depth)
    }
}

/// Adds the node at path `key[..depth]` as a child of `branch`, through an extension when the
/// node sits deeper than directly below the branch (the node is then a branch itself).
fn attach(
    branch: &mut OpenBranch,
    key: &Nibbles,
    node: RlpNode,
    depth: usize,
    out: &mut Vec<Reported>,
) {
    let child_depth = branch.depth + 1;
    let node = if depth > child_depth {
        report_extension(key, child_depth, depth, &node, out)
    } else {
        node
    };
    branch.mask.set_bit(key.get_unchecked(branch.depth));
    branch.children.push(node);
}

fn report_leaf(key: &Nibbles, depth: usize, value: &[u8], out: &mut Vec<Reported>) -> RlpNode {
    let rest = key.slice(depth..);
    // List and string headers (at most 9 bytes each) around the packed path and the value.
    let mut encoded = Vec::with_capacity(rest.len() / 2 + value.len() + 24);
    let node = LeafNodeRef::new(&rest, value).rlp(&mut encoded);
    out.push(Reported { key: *key, depth, shape: NodeShape::Leaf, encoded });
    node
}

fn report_extension(
    key: &Nibbles,
    depth: usize,
    child_depth: usize,
    child: &RlpNode,
    out: &mut Vec<Reported>,
) -> RlpNode {
    let shared = key.slice(depth..child_depth);
    let mut encoded = Vec::with_capacity(shared.len() / 2 + child.len() + 16);
    let node = ExtensionNodeRef::new(&shared, child.as_slice()).rlp(&mut encoded);
    out.push(Reported { key: *key, depth, shape: NodeShape::Extension { child_depth }, encoded });
    node
}

fn report_branch(key: &Nibbles, branch: OpenBranch, out: &mut Vec<Reported>) -> RlpNode {
    // Sixteen children of at most 33 bytes, the empty value and the list header.
    let mut encoded = Vec::with_capacity(16 * 33 + 4);
    let node = BranchNodeRef::new(&branch.children, branch.mask).rlp(&mut encoded);
    out.push(Reported { key: *key, depth: branch.depth, shape: NodeShape::Branch, encoded });
    node
}
