//! Trie-node generation from verified ranges, chunk by chunk.
//!
//! Snap sync downloads the leaves of a trie (the account trie, or one account's storage trie)
//! as sorted, proven ranges, and the interior nodes are rebuilt locally. The key space is cut
//! into chunks that are downloaded independently, so one chunk's leaves do not determine every
//! node: a node whose key range reaches past the chunk may have children the chunk never saw.
//! [`TrieGenerator`] turns one chunk's leaves into exactly the nodes the chunk determines, keyed
//! by path, and deletes whatever an earlier, different trie may have left at the paths it is
//! responsible for, so that healing later finds either the right node or nothing.
//!
//! ## Which nodes a chunk determines
//!
//! Call the interval of keys a generator has seen completely its *covered* range: from the
//! chunk start up to the last pushed key, or further when the caller knows the chunk ends
//! further (see [`TrieGenerator::finish_through`]). Let `range(p)` be the keys starting with
//! the nibble path `p`. A node of the chunk's own trie at path `p` is a node of the full trie,
//! identical, when
//!
//! - `range(p)` lies inside the covered range, so the full trie has no other leaves below `p`;
//!   and
//! - `p` is not the root, so its parent in the chunk's trie is a branch at `p[..len-1]`; the
//!   full trie, having at least the same leaves there, has a branch at the same path.
//!
//! The root is determined only when the covered range is the whole key space. Every other
//! path on which the chunk's trie has a node *straddles* a boundary of the covered range; those
//! nodes are neither written nor trusted. Branches are the same in every trie that contains
//! their leaves, so the only full-trie nodes a chunk cannot emit besides the straddling ones are
//! leaves and extensions directly below a straddling branch whose siblings all lie outside the
//! chunk: their depth depends on leaves the chunk never saw.
//!
//! ## What is deleted
//!
//! A path-keyed store may hold nodes from an older trie. The generator deletes:
//!
//! - every path that straddles a boundary of a covered range (at most 64 per boundary), since
//!   no chunk can write it and healing must find it empty;
//! - every path of a determined node too small to be stored (it lives inside its parent);
//! - the paths inside an extension (between its path and its child's);
//! - below an undetermined leaf, the paths down to the first one inside the covered range,
//!   where the full trie may hold that leaf at a depth this chunk cannot know;
//! - every prefix of a [forgotten](TrieGenerator::forget) key.
//!
//! Writes and deletes never name the same path, within one generator or across generators of
//! consecutive chunks, so a batch may apply them in any order. Together they leave every path
//! on the way from the root to any leaf either holding the full trie's node, or empty where the
//! chunk could not know it.
//!
//! ## Hashing each node once
//!
//! A node the chunk determines is a node of the full trie, and verifying the range its leaves
//! came in already computed it (or found it in the proof). Given those nodes
//! ([`TrieGenerator::use_verified`]), the generator writes them as they are and computes only
//! what they lack; nodes it does not determine it never encodes at all.

mod known;

use std::collections::BTreeSet;

use alloy_primitives::{B256, Bytes, U256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieMask, nodes::RlpNode};
use nybbles::Nibbles;

use self::known::Known;
use super::{
    proof::ProofError,
    stack::{NodeSink, StackBuilder},
    verified::{MIN_STORED_NODE_LEN, VerifiedNodes, encode_branch, encode_extension, encode_leaf},
};

/// Number of nibbles in a key.
const KEY_NIBBLES: usize = 64;

/// Where a trie node lives in a path-keyed store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeKey {
    /// The account hash owning a storage trie, or `B256::ZERO` for the account trie.
    pub owner: B256,
    /// The node's nibble path from its trie's root.
    pub path: Nibbles,
}

/// Node writes and deletions for a write batch. No path appears in both lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeChanges {
    /// Nodes to store: key and RLP encoding.
    pub writes: Vec<(NodeKey, Bytes)>,
    /// Paths whose stored node, if any, must be removed.
    pub deletes: Vec<NodeKey>,
}

impl NodeChanges {
    /// Whether there is nothing to write or delete.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.deletes.is_empty()
    }

    /// Removes every write and deletion, keeping the buffers.
    pub fn clear(&mut self) {
        self.writes.clear();
        self.deletes.clear();
    }

    /// Moves everything from `other` into `self`.
    pub fn append(&mut self, other: &mut Self) {
        self.writes.append(&mut other.writes);
        self.deletes.append(&mut other.deletes);
    }
}

/// Why a leaf was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The key lies before the chunk start (or before a forgotten key's successor).
    #[error("key {key} precedes the chunk's next allowed key {next}")]
    BeforeStart {
        /// The refused key.
        key: B256,
        /// The smallest key still allowed.
        next: B256,
    },
    /// The key is not greater than the previous one.
    #[error("key {key} does not follow the previous key {previous}")]
    OutOfOrder {
        /// The refused key.
        key: B256,
        /// The previous key (pushed or forgotten).
        previous: B256,
    },
    /// The maximum key was forgotten; nothing can follow it.
    #[error("the chunk ended at the maximum key")]
    Exhausted,
    /// A trie leaf cannot hold an empty value.
    #[error("empty value for key {0}")]
    EmptyValue(B256),
}

/// Generates the determined trie nodes of one chunk of a trie's key space from its leaves,
/// streaming. See the [module documentation](self) for what is written and deleted.
#[derive(Debug)]
pub struct TrieGenerator {
    builder: StackBuilder,
    /// Start of the current covered segment (the chunk start, or just after a forgotten key).
    segment_start: Nibbles,
    /// Prefixes of `segment_start` shorter than this straddle the segment's left boundary.
    left_cut: usize,
    /// The last key pushed or forgotten.
    previous: Option<B256>,
    /// The last key pushed in the current segment.
    last_in_segment: Option<B256>,
    /// Set once the maximum key was forgotten.
    exhausted: bool,
    out: Output,
}

/// What the generator has produced and not handed out yet, and the verified nodes it may use.
#[derive(Debug)]
struct Output {
    owner: B256,
    known: Known,
    /// Encodings the generator computed itself, until the next hand-out.
    own: Vec<u8>,
    /// Writes; those of computed nodes hold an empty placeholder until the hand-out.
    writes: Vec<(NodeKey, Bytes)>,
    /// For each computed write: its index in `writes` and its encoding's place in `own`.
    own_writes: Vec<(usize, usize, usize)>,
    deletes: BTreeSet<Nibbles>,
}

#[cfg(test)]
thread_local! {
    /// Stored nodes that generators on this thread encoded themselves rather than took from
    /// verified nodes.
    static COMPUTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl TrieGenerator {
    /// A generator for the chunk of `owner`'s trie starting at `chunk_start`
    /// (`owner = B256::ZERO` for the account trie). Nodes reaching left of a non-zero start are
    /// not written, and their paths are deleted.
    pub fn new(owner: B256, chunk_start: B256) -> Self {
        let mut generator = Self {
            builder: StackBuilder::default(),
            segment_start: Nibbles::new(),
            left_cut: 0,
            previous: None,
            last_in_segment: None,
            exhausted: false,
            out: Output {
                owner,
                known: Known::default(),
                own: Vec::new(),
                writes: Vec::new(),
                own_writes: Vec::new(),
                deletes: BTreeSet::new(),
            },
        };
        generator.start_segment(chunk_start);
        generator
    }

    /// Hands the generator the nodes verified with the leaves it is given next (from
    /// [`verify_range_nodes`](crate::trie::proof::verify_range_nodes)); the nodes it determines
    /// are then taken from them instead of being encoded and hashed again.
    ///
    /// The nodes must come from verifying, against the root every leaf of this generator was
    /// verified against, the range that holds the leaves pushed next (they may extend beyond
    /// the leaves actually pushed). Call it once per range, before pushing its leaves; the
    /// nodes of the previous range that may still be needed are kept.
    pub fn use_verified(&mut self, nodes: VerifiedNodes) {
        let last = self.previous.map(Nibbles::unpack);
        self.out.known.add(nodes, last.as_ref());
    }

    /// Frees the verified nodes once every leaf of their range was pushed, keeping the few that
    /// nodes closing later still need (those on the last key's path). Call it when the
    /// generator waits for its next range, so that it does not hold a whole range's nodes.
    pub fn release_verified(&mut self) {
        let last = self.previous.map(Nibbles::unpack);
        self.out.known.compact(last.as_ref());
    }

    /// Adds the next leaf: `key` must be greater than every key pushed or forgotten so far and
    /// not before the chunk start; `value` is the leaf payload (RLP of an account or slot).
    pub fn push(&mut self, key: B256, value: &[u8]) -> Result<(), GenerateError> {
        self.check_next(key)?;
        if value.is_empty() {
            return Err(GenerateError::EmptyValue(key));
        }
        self.previous = Some(key);
        self.last_in_segment = Some(key);
        let mut sink = Emit {
            out: &mut self.out,
            start: &self.segment_start,
            left_cut: self.left_cut,
            right: None,
        };
        self.builder.push(Nibbles::unpack(key), value, &mut sink);
        Ok(())
    }

    /// Declares that the leaf at `key` must not be committed (for an account, because its
    /// storage is incomplete): no node whose key range contains `key` is written, and every
    /// prefix of its path is deleted so that healing fetches that path again. Same ordering
    /// rules as [`push`](Self::push); the generator continues with the keys after it.
    pub fn forget(&mut self, key: B256) -> Result<(), GenerateError> {
        self.check_next(key)?;
        self.previous = Some(key);
        // Everything up to just before `key` is covered; close that segment there.
        if let Some(before) = predecessor(key) {
            self.close_segment(Some(before));
        }
        let path = Nibbles::unpack(key);
        self.out.deletes.extend((0..=KEY_NIBBLES).map(|len| path.slice(..len)));
        match successor(key) {
            Some(after) => self.start_segment(after),
            None => self.exhausted = true,
        }
        Ok(())
    }

    /// Checks that `leaves` are the whole trie of `owner` with root `root` and, when they are,
    /// appends its nodes to `changes`: what a generator of the whole key space writes and
    /// deletes, in one pass that encodes and hashes each node once. For a range that came
    /// without a proof (a small contract's whole storage) this does the verifier's and the
    /// generator's work together. On failure `changes` is as it was.
    ///
    /// Starts over as [`restart`](Self::restart) does; afterwards the generator takes no
    /// leaves until the next restart.
    pub fn verify_whole<'a>(
        &mut self,
        owner: B256,
        root: B256,
        leaves: impl IntoIterator<Item = (B256, &'a [u8])>,
        changes: &mut NodeChanges,
    ) -> Result<(), ProofError> {
        self.restart(owner, B256::ZERO);
        for (index, (key, value)) in leaves.into_iter().enumerate() {
            if let Err(error) = self.push(key, value) {
                self.exhausted = true;
                return Err(match error {
                    GenerateError::EmptyValue(_) => ProofError::EmptyValue { index },
                    _ => ProofError::NotIncreasing { index },
                });
            }
        }
        let before = (changes.writes.len(), changes.deletes.len());
        let got = self.finish_through_into(B256::repeat_byte(0xff), changes);
        // From zero to the maximum key with nothing forgotten: the root is always known.
        let got = got.unwrap_or_default();
        if got != root {
            changes.writes.truncate(before.0);
            changes.deletes.truncate(before.1);
            return Err(ProofError::RootMismatch { got, expected: root });
        }
        Ok(())
    }

    /// Hands out every change that is final so far, to keep write batches bounded.
    pub fn take_changes(&mut self) -> NodeChanges {
        let mut changes = NodeChanges::default();
        self.take_changes_into(&mut changes);
        changes
    }

    /// Like [`take_changes`](Self::take_changes), appending to `changes` (a batch's, say).
    pub fn take_changes_into(&mut self, changes: &mut NodeChanges) {
        self.out.take_into(changes);
    }

    /// Ends the chunk. `complete` says the chunk reaches the end of the key space (its last key
    /// is `0xff..ff`) and every leaf up to there was pushed; the nodes along the right edge are
    /// then written too. Otherwise only the range up to the last pushed key counts as covered.
    ///
    /// Returns the remaining changes, and the trie's root hash when this chunk alone covered the
    /// whole key space (it started at zero, was complete, and nothing was forgotten).
    pub fn finish(self, complete: bool) -> (NodeChanges, Option<B256>) {
        let covered_to = if complete { Some(B256::repeat_byte(0xff)) } else { None };
        self.finish_segment(covered_to)
    }

    /// Ends the chunk, knowing that no leaf lies between the last pushed key and `covered_to`
    /// (for example a task reaching its last key). Nodes whose key range lies inside the covered
    /// range are written. A `covered_to` below the last pushed key counts as that key; one below
    /// the chunk start counts as nothing.
    pub fn finish_through(self, covered_to: B256) -> (NodeChanges, Option<B256>) {
        self.finish_segment(Some(covered_to))
    }

    /// Like [`finish_through`](Self::finish_through), appending the remaining changes to
    /// `changes` and keeping the generator (and its buffers) for a [`restart`](Self::restart);
    /// until then it takes no more leaves.
    pub fn finish_through_into(
        &mut self,
        covered_to: B256,
        changes: &mut NodeChanges,
    ) -> Option<B256> {
        let root = if self.exhausted { None } else { self.close_segment(Some(covered_to)) };
        self.exhausted = true;
        self.take_changes_into(changes);
        root
    }

    /// Starts over, as [`new`](Self::new) would, keeping the buffers. Changes not handed out
    /// are dropped.
    pub fn restart(&mut self, owner: B256, chunk_start: B256) {
        self.builder.finish(&mut Discard);
        self.previous = None;
        self.exhausted = false;
        self.out.restart(owner);
        self.start_segment(chunk_start);
    }

    fn finish_segment(mut self, covered_to: Option<B256>) -> (NodeChanges, Option<B256>) {
        let root = if self.exhausted { None } else { self.close_segment(covered_to) };
        (self.take_changes(), root)
    }

    fn check_next(&self, key: B256) -> Result<(), GenerateError> {
        if self.exhausted {
            return Err(GenerateError::Exhausted);
        }
        if let Some(previous) = self.previous {
            if key <= previous {
                return Err(GenerateError::OutOfOrder { key, previous });
            }
        } else {
            let next = pack(&self.segment_start);
            if key < next {
                return Err(GenerateError::BeforeStart { key, next });
            }
        }
        Ok(())
    }

    fn start_segment(&mut self, start: B256) {
        self.segment_start = Nibbles::unpack(start);
        self.left_cut = cut(&self.segment_start, 0);
        self.last_in_segment = None;
        self.out.deletes.extend((0..self.left_cut).map(|len| self.segment_start.slice(..len)));
    }

    /// Closes the current segment as covered up to `covered_to` (or its last pushed key, if
    /// later or if `None`), reporting its remaining nodes. Returns the trie's root hash if the
    /// segment covered the whole key space.
    fn close_segment(&mut self, covered_to: Option<B256>) -> Option<B256> {
        let last = self.last_in_segment.take();
        // A claimed end before the segment's start covers nothing (and must not clear paths a
        // chunk further left determines).
        let start = pack(&self.segment_start);
        let covered_to = covered_to.filter(|to| *to >= start);
        let covered_to = match (covered_to, last) {
            (Some(to), Some(last)) => Some(to.max(last)),
            (to, last) => to.or(last),
        };
        let Some(covered_to) = covered_to else {
            // Nothing pushed in this segment (so the builder is empty) and no end claimed.
            self.builder.finish(&mut Discard);
            return None;
        };
        let end = Nibbles::unpack(covered_to);
        let right_cut = cut(&end, 0xf);
        self.out.deletes.extend((0..right_cut).map(|len| end.slice(..len)));
        let mut sink = Emit {
            out: &mut self.out,
            start: &self.segment_start,
            left_cut: self.left_cut,
            right: Some((&end, right_cut)),
        };
        let root = self.builder.finish(&mut sink);
        // A forgotten key moves the segment start past zero, so a zero start also means
        // nothing was forgotten.
        if self.left_cut != 0 || right_cut != 0 {
            return None;
        }
        match root {
            Some(node) => Some(crate::trie::node_hash(&node)),
            None => {
                // An empty trie: nothing may be stored at its root path.
                self.out.deletes.insert(Nibbles::new());
                Some(EMPTY_ROOT_HASH)
            }
        }
    }
}

impl Output {
    /// Forgets everything, for a new chunk of `owner`'s trie.
    fn restart(&mut self, owner: B256) {
        self.owner = owner;
        self.known.clear();
        self.own.clear();
        self.writes.clear();
        self.own_writes.clear();
        self.deletes.clear();
    }

    /// Moves the changes made so far to `changes`.
    fn take_into(&mut self, changes: &mut NodeChanges) {
        if !self.own_writes.is_empty() {
            // Copied out at its length, the buffer kept: a fresh buffer of the old one's
            // capacity for every take cost an allocation (and page faults) as large as the
            // largest trie seen so far, per small contract.
            let own = Bytes::copy_from_slice(&self.own);
            for (index, start, end) in self.own_writes.drain(..) {
                self.writes[index].1 = own.slice(start..end);
            }
        }
        self.own.clear();
        changes.writes.append(&mut self.writes);
        let owner = self.owner;
        changes.deletes.extend(
            std::mem::take(&mut self.deletes).into_iter().map(|path| NodeKey { owner, path }),
        );
    }
}

/// The generator's sink: writes the nodes its segment determines (taking them from the
/// verified nodes when there), deletes the paths it must clear, and skips the nodes it does not
/// determine (their references are never used: every ancestor of such a node straddles too).
struct Emit<'a> {
    out: &'a mut Output,
    /// The segment's start, and the length below which its prefixes straddle.
    start: &'a Nibbles,
    left_cut: usize,
    /// The covered range's end and its cut, once the segment is being closed. While leaves are
    /// still arriving, every closed node lies left of the newest key, so only the left boundary
    /// matters.
    right: Option<(&'a Nibbles, usize)>,
}

impl Emit<'_> {
    /// Whether the key range of `path` reaches past a boundary of the covered range.
    fn straddles(&self, path: &Nibbles) -> bool {
        (path.len() < self.left_cut && self.start.starts_with(path))
            || self.right.is_some_and(|(end, cut)| path.len() < cut && end.starts_with(path))
    }

    /// Records the determined node at `key[..depth]`: the verified one if known, else the one
    /// `encode` appends. Returns its reference, or a placeholder when no determined node can
    /// use it (its parent straddles).
    fn determined(
        &mut self,
        key: &Nibbles,
        depth: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> RlpNode {
        let path = key.slice(..depth);
        let out = &mut *self.out;
        let node_key = NodeKey { owner: out.owner, path };
        if let Some((encoded, hash)) = out.known.find(&path) {
            out.writes.push((node_key, encoded));
            return RlpNode::word_rlp(&hash);
        }
        let start = out.own.len();
        encode(&mut out.own);
        let len = out.own.len() - start;
        #[cfg(test)]
        if len >= MIN_STORED_NODE_LEN {
            COMPUTED.set(COMPUTED.get() + 1);
        }
        // The root's reference gives the trie's hash; any other node's serves its parent.
        let wanted = depth == 0 || !self.straddles(&key.slice(..depth - 1));
        let node = if wanted || len < MIN_STORED_NODE_LEN {
            RlpNode::from_rlp(&self.out.own[start..])
        } else {
            RlpNode::default()
        };
        let out = &mut *self.out;
        if depth == 0 || len >= MIN_STORED_NODE_LEN {
            out.own_writes.push((out.writes.len(), start, out.own.len()));
            out.writes.push((node_key, Bytes::new()));
        } else {
            out.own.truncate(start);
            out.deletes.insert(path);
        }
        node
    }
}

impl NodeSink for Emit<'_> {
    fn leaf(&mut self, key: &Nibbles, depth: usize, value: &[u8]) -> RlpNode {
        if !self.straddles(&key.slice(..depth)) {
            return self.determined(key, depth, |out| encode_leaf(out, key, depth, value));
        }
        // The full trie holds this leaf at some depth down to the first path that lies inside
        // the covered range; clear all of them.
        for len in depth + 1..=KEY_NIBBLES {
            let below = key.slice(..len);
            let inside = !self.straddles(&below);
            self.out.deletes.insert(below);
            if inside {
                break;
            }
        }
        RlpNode::default()
    }

    fn extension(
        &mut self,
        key: &Nibbles,
        depth: usize,
        child_depth: usize,
        child: &RlpNode,
    ) -> RlpNode {
        // The paths inside an extension hold nothing.
        self.out.deletes.extend((depth + 1..child_depth).map(|len| key.slice(..len)));
        if self.straddles(&key.slice(..depth)) {
            return RlpNode::default();
        }
        self.determined(key, depth, |out| encode_extension(out, key, depth, child_depth, child))
    }

    fn branch(
        &mut self,
        key: &Nibbles,
        depth: usize,
        mask: TrieMask,
        children: &[RlpNode],
    ) -> RlpNode {
        if self.straddles(&key.slice(..depth)) {
            return RlpNode::default();
        }
        self.determined(key, depth, |out| encode_branch(out, mask, children))
    }
}

/// A sink that keeps nothing.
struct Discard;

impl NodeSink for Discard {
    fn leaf(&mut self, _: &Nibbles, _: usize, _: &[u8]) -> RlpNode {
        RlpNode::default()
    }

    fn extension(&mut self, _: &Nibbles, _: usize, _: usize, _: &RlpNode) -> RlpNode {
        RlpNode::default()
    }

    fn branch(&mut self, _: &Nibbles, _: usize, _: TrieMask, _: &[RlpNode]) -> RlpNode {
        RlpNode::default()
    }
}

/// Takes the count of stored nodes that generators on this thread encoded themselves rather
/// than took from verified nodes.
#[cfg(test)]
fn take_computed() -> usize {
    COMPUTED.replace(0)
}

/// One past the index of the last nibble of `key` that differs from `fill`: the prefixes of
/// `key` shorter than this have key ranges reaching past `key` on the side `fill` points to
/// (`0` for the left, `0xf` for the right).
fn cut(key: &Nibbles, fill: u8) -> usize {
    (0..key.len()).rev().find(|&i| key.get_unchecked(i) != fill).map_or(0, |i| i + 1)
}

fn pack(nibbles: &Nibbles) -> B256 {
    let mut bytes = [0u8; 32];
    nibbles.pack_to(&mut bytes);
    B256::from(bytes)
}

fn successor(key: B256) -> Option<B256> {
    U256::from_be_bytes(key.0).checked_add(U256::from(1)).map(|next| B256::from(next.to_be_bytes()))
}

fn predecessor(key: B256) -> Option<B256> {
    U256::from_be_bytes(key.0).checked_sub(U256::from(1)).map(|prev| B256::from(prev.to_be_bytes()))
}

#[cfg(test)]
mod tests;
