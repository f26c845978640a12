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

mod stack;

use std::collections::BTreeSet;

use alloy_primitives::{B256, Bytes, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use nybbles::Nibbles;

use stack::{NodeShape, Reported, StackBuilder};

/// Nodes whose encoding is shorter than this live inside their parent and are not stored.
const MIN_STORED_NODE_LEN: usize = 32;

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
    owner: B256,
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
    reported: Vec<Reported>,
    writes: Vec<(NodeKey, Bytes)>,
    deletes: BTreeSet<Nibbles>,
}

impl TrieGenerator {
    /// A generator for the chunk of `owner`'s trie starting at `chunk_start`
    /// (`owner = B256::ZERO` for the account trie). Nodes reaching left of a non-zero start are
    /// not written, and their paths are deleted.
    pub fn new(owner: B256, chunk_start: B256) -> Self {
        let mut generator = Self {
            owner,
            builder: StackBuilder::default(),
            segment_start: Nibbles::new(),
            left_cut: 0,
            previous: None,
            last_in_segment: None,
            exhausted: false,
            reported: Vec::new(),
            writes: Vec::new(),
            deletes: BTreeSet::new(),
        };
        generator.start_segment(chunk_start);
        generator
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
        self.builder.push(Nibbles::unpack(key), value, &mut self.reported);
        self.record_reported(None);
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
        self.deletes.extend((0..=KEY_NIBBLES).map(|len| path.slice(..len)));
        match successor(key) {
            Some(after) => self.start_segment(after),
            None => self.exhausted = true,
        }
        Ok(())
    }

    /// Hands out every change that is final so far, to keep write batches bounded.
    pub fn take_changes(&mut self) -> NodeChanges {
        let owner = self.owner;
        NodeChanges {
            writes: std::mem::take(&mut self.writes),
            deletes: std::mem::take(&mut self.deletes)
                .into_iter()
                .map(|path| NodeKey { owner, path })
                .collect(),
        }
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
        self.deletes.extend((0..self.left_cut).map(|len| self.segment_start.slice(..len)));
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
        let root = self.builder.finish(&mut self.reported);
        let Some(covered_to) = covered_to else {
            self.reported.clear();
            return None;
        };
        let end = Nibbles::unpack(covered_to);
        let right_cut = cut(&end, 0xf);
        self.deletes.extend((0..right_cut).map(|len| end.slice(..len)));
        self.record_reported(Some((&end, right_cut)));
        // A forgotten key moves the segment start past zero, so a zero start also means
        // nothing was forgotten.
        if self.left_cut != 0 || right_cut != 0 {
            return None;
        }
        match root {
            Some(node) => Some(crate::trie::node_hash(&node)),
            None => {
                // An empty trie: nothing may be stored at its root path.
                self.deletes.insert(Nibbles::new());
                Some(EMPTY_ROOT_HASH)
            }
        }
    }

    /// Turns reported nodes into writes and deletes. `right` is the covered range's end and its
    /// cut when the segment is being closed; while leaves are still arriving, every reported
    /// node lies left of the newest key, so only the left boundary matters.
    fn record_reported(&mut self, right: Option<(&Nibbles, usize)>) {
        let straddles = |path: &Nibbles, start: &Nibbles, left_cut: usize| {
            (path.len() < left_cut && start.starts_with(path))
                || right
                    .is_some_and(|(end, right_cut)| path.len() < right_cut && end.starts_with(path))
        };
        for node in self.reported.drain(..) {
            let path = node.path();
            let determined = !straddles(&path, &self.segment_start, self.left_cut);
            // An undetermined node's path straddles a boundary and is cleared with it.
            if determined {
                if node.depth == 0 || node.encoded.len() >= MIN_STORED_NODE_LEN {
                    let key = NodeKey { owner: self.owner, path };
                    self.writes.push((key, Bytes::from(node.encoded)));
                } else {
                    self.deletes.insert(path);
                }
            }
            match node.shape {
                NodeShape::Extension { child_depth } => {
                    self.deletes
                        .extend((node.depth + 1..child_depth).map(|len| node.key.slice(..len)));
                }
                NodeShape::Leaf if !determined => {
                    // The full trie holds this leaf at some depth down to the first path that
                    // lies inside the covered range; clear all of them.
                    for len in node.depth + 1..=KEY_NIBBLES {
                        let below = node.key.slice(..len);
                        let inside = !straddles(&below, &self.segment_start, self.left_cut);
                        self.deletes.insert(below);
                        if inside {
                            break;
                        }
                    }
                }
                NodeShape::Leaf | NodeShape::Branch => {}
            }
        }
    }
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
