//! Differential tests: chunked generation against the whole-trie builder, with an oracle for
//! which nodes a chunk can determine written from first principles (key ranges and node kinds),
//! not from the generator's own bookkeeping. The one-pass runs feed the generators verified
//! responses with the nodes their verification computed, as the sync does.

use std::collections::{BTreeMap, BTreeSet};

use alloy_rlp::Decodable;
use alloy_trie::nodes::{RlpNode, TrieNode};
use proptest::prelude::*;

use super::*;
use crate::trie::{BuiltTrie, build_trie};
use alloy_primitives::keccak256;

mod whole;

type Leaves = Vec<(B256, Vec<u8>)>;
type Store = BTreeMap<NodeKey, Bytes>;

const MAX_KEY: B256 = B256::repeat_byte(0xff);

// ---------------------------------------------------------------------------------------------
// Strategies

fn key_strategy() -> impl Strategy<Value = B256> {
    prop_oneof![
        // Uniform keys: shallow, wide tries like real hashed keys.
        any::<[u8; 32]>().prop_map(B256::from),
        // Few distinct leading bytes: extensions, deep branches and straddling split points.
        (
            prop::sample::select(vec![0x00u8, 0x01, 0x10, 0x7f, 0xff]),
            prop::sample::select(vec![0x00u8, 0x0f, 0x33, 0xf0]),
            any::<[u8; 32]>()
        )
            .prop_map(|(a, b, mut rest)| {
                rest[0] = a;
                rest[1] = b;
                B256::from(rest)
            }),
        // Keys sharing 31 bytes: branches at nibble 62, leaves at depth 63 or 64.
        any::<u8>().prop_map(|last| {
            let mut key = [0x5a; 32];
            key[31] = last;
            B256::from(key)
        }),
    ]
}

fn leaves_strategy(max: usize) -> impl Strategy<Value = Leaves> {
    // Short values make embedded (< 32 byte) nodes common; long ones make every node stored.
    prop::collection::btree_map(key_strategy(), prop::collection::vec(any::<u8>(), 1..40), 0..max)
        .prop_map(|map| map.into_iter().collect())
}

/// A chunked run: split points (some on existing keys), per-chunk choice between finishing at
/// the last key or at the chunk end, flush points, forgotten keys.
#[derive(Clone, Debug)]
struct Case {
    owner: B256,
    leaves: Leaves,
    splits: Vec<B256>,
    tight: Vec<bool>,
    flush: Vec<bool>,
    forgotten: BTreeSet<B256>,
    /// Sizes of the verified responses each chunk arrives in (cycled), for the one-pass runs.
    cuts: Vec<usize>,
}

fn case_strategy(max_leaves: usize, with_forgets: bool) -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(B256::ZERO), any::<[u8; 32]>().prop_map(B256::from)],
        leaves_strategy(max_leaves),
        prop::collection::vec(key_strategy(), 0..5),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        prop::collection::vec(any::<bool>(), 1..8),
        prop::collection::vec(any::<bool>(), 1..16),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        prop::collection::vec(1..40usize, 1..6),
    )
        .prop_map(move |(owner, leaves, random, on_keys, tight, flush, forgets, cuts)| {
            let mut splits: BTreeSet<B256> = random.into_iter().collect();
            if !leaves.is_empty() {
                splits.extend(on_keys.iter().map(|i| leaves[i.index(leaves.len())].0));
            }
            splits.insert(B256::ZERO);
            let forgotten = if with_forgets && !leaves.is_empty() {
                forgets.iter().map(|i| leaves[i.index(leaves.len())].0).collect()
            } else {
                BTreeSet::new()
            };
            Case {
                owner,
                leaves,
                splits: splits.into_iter().collect(),
                tight,
                flush,
                forgotten,
                cuts,
            }
        })
}

// ---------------------------------------------------------------------------------------------
// Oracle

/// The smallest and largest key starting with `path`.
fn key_range(path: &Nibbles) -> (B256, B256) {
    let mut low = [0u8; 32];
    let mut high = [0xffu8; 32];
    for i in 0..path.len() {
        let nibble = path.get_unchecked(i);
        let shift = if i % 2 == 0 { 4 } else { 0 };
        low[i / 2] = (low[i / 2] & !(0xf << shift)) | (nibble << shift);
        high[i / 2] = (high[i / 2] & !(0xf << shift)) | (nibble << shift);
    }
    (B256::from(low), B256::from(high))
}

/// A covered interval and the keys pushed inside it.
#[derive(Clone, Debug)]
struct Segment {
    low: B256,
    high: B256,
    keys: Vec<Nibbles>,
}

/// Whether a chunk that saw exactly `segment` can know the full trie's `node` at `path`: its
/// whole key range is covered, and the node is a branch (branches sit where their leaves
/// diverge, whatever else the trie holds) or its parent branch has a child the segment saw.
fn determinable(path: &Nibbles, node: &[u8], segment: &Segment) -> bool {
    let (low, high) = key_range(path);
    if low < segment.low || high > segment.high {
        return false;
    }
    if path.is_empty() {
        return true;
    }
    match TrieNode::decode(&mut &node[..]).expect("full trie nodes decode") {
        TrieNode::Branch(_) => true,
        _ => {
            let parent = path.slice(..path.len() - 1);
            segment.keys.iter().any(|key| key.starts_with(&parent) && !key.starts_with(path))
        }
    }
}

fn expected_writes(full: &BuiltTrie, segments: &[Segment]) -> BTreeMap<Nibbles, Bytes> {
    full.nodes
        .iter()
        .filter(|(path, node)| segments.iter().any(|s| determinable(path, node, s)))
        .map(|(path, node)| (*path, node.clone()))
        .collect()
}

/// Depth of the leaf holding `key` in `full`, found by walking the decoded nodes from the root.
fn leaf_depth(full: &BuiltTrie, key: &Nibbles) -> usize {
    let resolve = |depth: usize, child: &RlpNode| -> Vec<u8> {
        match child.as_hash() {
            Some(hash) => {
                let stored = &full.nodes[&key.slice(..depth)];
                assert_eq!(keccak256(stored), hash);
                stored.to_vec()
            }
            None => child.to_vec(),
        }
    };
    let mut depth = 0;
    let mut node = full.nodes[&Nibbles::new()].to_vec();
    loop {
        match TrieNode::decode(&mut &node[..]).expect("decodes") {
            TrieNode::Leaf(_) | TrieNode::EmptyRoot => return depth,
            TrieNode::Extension(extension) => {
                depth += extension.key.len();
                node = resolve(depth, &extension.child);
            }
            TrieNode::Branch(branch) => {
                let nibble = key.get_unchecked(depth);
                let mask = branch.state_mask.get();
                assert!(mask & (1 << nibble) != 0, "key not in trie");
                let index = (mask & ((1u16 << nibble) - 1)).count_ones() as usize;
                depth += 1;
                node = resolve(depth, &branch.stack[index]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running chunks

struct Run {
    /// Every batch, with the index of the chunk that produced it.
    batches: Vec<(usize, NodeChanges)>,
    /// Covered segments, with the index of their chunk.
    segments: Vec<(usize, Segment)>,
    root: Option<B256>,
    /// Stored nodes the generators encoded themselves rather than took from verified nodes.
    computed: usize,
}

fn predecessor_key(key: B256) -> Option<B256> {
    U256::from_be_bytes(key.0).checked_sub(U256::from(1)).map(|k| B256::from(k.to_be_bytes()))
}

fn successor_key(key: B256) -> Option<B256> {
    U256::from_be_bytes(key.0).checked_add(U256::from(1)).map(|k| B256::from(k.to_be_bytes()))
}

fn run(case: &Case, flush: bool) -> Run {
    run_with(case, flush, None)
}

/// Runs `case`; with `full` (the whole trie), each chunk arrives in verified responses cut as
/// `case.cuts` says, and the generator is handed the nodes their verification computed.
fn run_with(case: &Case, flush: bool, full: Option<&BuiltTrie>) -> Run {
    let mut batches = Vec::new();
    let mut segments = Vec::new();
    let mut root = None;
    let mut step = 0usize;
    let mut cut = 0usize;
    take_computed();
    for (index, &start) in case.splits.iter().enumerate() {
        let next = case.splits.get(index + 1).copied();
        let end = next.and_then(predecessor_key).unwrap_or(MAX_KEY);
        let mut generator = TrieGenerator::new(case.owner, start);
        let mut segment = Some(Segment { low: start, high: end, keys: Vec::new() });
        let chunk: Vec<&(B256, Vec<u8>)> =
            case.leaves.iter().filter(|(key, _)| *key >= start && *key <= end).collect();
        let mut response_end = 0;
        for (at, (key, value)) in chunk.iter().copied().enumerate() {
            if let Some(full) = full
                && at == response_end
            {
                // Waiting for the next response, the generator may drop what it no longer needs.
                if cut.is_multiple_of(2) {
                    generator.release_verified();
                }
                response_end = (at + case.cuts[cut % case.cuts.len()]).min(chunk.len());
                let origin = if at == 0 { start } else { successor_key(chunk[at - 1].0).unwrap() };
                let whole = origin == B256::ZERO && response_end - at == case.leaves.len();
                // A whole trie goes without a proof every other time.
                let with_proof = !whole || cut % 2 == 1;
                generator.use_verified(verified_nodes(
                    full,
                    origin,
                    &chunk[at..response_end],
                    with_proof,
                ));
                cut += 1;
            }
            if case.forgotten.contains(key) {
                generator.forget(*key).unwrap();
                if let Some(mut closed) = segment.take()
                    && let Some(high) = predecessor_key(*key).filter(|high| *high >= closed.low)
                {
                    closed.high = high;
                    segments.push((index, closed));
                }
                segment =
                    successor_key(*key).map(|low| Segment { low, high: end, keys: Vec::new() });
            } else {
                generator.push(*key, value).unwrap();
                segment
                    .as_mut()
                    .expect("keys follow a forgotten maximum")
                    .keys
                    .push(Nibbles::unpack(key));
            }
            step += 1;
            if flush && case.flush[step % case.flush.len()] {
                batches.push((index, generator.take_changes()));
            }
        }
        if full.is_some() && cut.is_multiple_of(3) {
            generator.release_verified();
        }
        let (changes, chunk_root) = if next.is_none() {
            generator.finish(true)
        } else if case.tight[index % case.tight.len()] {
            generator.finish_through(end)
        } else {
            // Only the range up to the last pushed key counts as covered.
            if let Some(open) = segment.as_mut() {
                match open.keys.last() {
                    Some(last) => open.high = B256::from_slice(&last.pack()),
                    None => segment = None,
                }
            }
            generator.finish(false)
        };
        segments.extend(segment.map(|segment| (index, segment)));
        batches.push((index, changes));
        if index == 0 && next.is_none() {
            root = chunk_root;
        } else {
            assert_eq!(chunk_root, None, "a chunk not covering everything returned a root");
        }
    }
    Run { batches, segments, root, computed: take_computed() }
}

/// Verifies the response `leaves` from `origin` against `full` (with an edge proof, or as the
/// whole trie) and returns the nodes the verification computed.
fn verified_nodes(
    full: &BuiltTrie,
    origin: B256,
    leaves: &[&(B256, Vec<u8>)],
    with_proof: bool,
) -> VerifiedNodes {
    let keys: Vec<B256> = leaves.iter().map(|(key, _)| *key).collect();
    let values: Vec<&[u8]> = leaves.iter().map(|(_, value)| value.as_slice()).collect();
    let proof = match (with_proof, keys.last()) {
        (false, _) => Vec::new(),
        (true, last) => {
            let mut proof = full.prove(&origin);
            proof.extend(last.map(|last| full.prove(last)).unwrap_or_default());
            proof
        }
    };
    let (_, nodes) =
        crate::trie::proof::verify_range_nodes(full.root, origin, &keys, &values, &proof)
            .expect("an honest range verifies");
    nodes
}

/// Paths on the way from the root to every leaf of `full`, down to the leaf itself.
fn lookup_paths(full: &BuiltTrie, leaves: &Leaves) -> BTreeSet<Nibbles> {
    let mut paths = BTreeSet::new();
    for (key, _) in leaves {
        let key = Nibbles::unpack(key);
        let depth = leaf_depth(full, &key);
        paths.extend((0..=depth).map(|len| key.slice(..len)));
    }
    paths
}

/// A store holding nodes of an unrelated trie and junk on many lookup paths of `full`, under
/// `owner`, plus one node of another owner.
fn stale_store(owner: B256, full: &BuiltTrie, leaves: &Leaves, other: &Leaves) -> Store {
    let mut store = Store::new();
    for (path, node) in build_trie(other).nodes {
        store.insert(NodeKey { owner, path }, node);
    }
    for path in lookup_paths(full, leaves) {
        let pick = keccak256(path.to_vec());
        if pick[0] & 1 == 1 {
            store.insert(NodeKey { owner, path }, Bytes::copy_from_slice(&pick[..]));
        }
    }
    let stranger = NodeKey { owner: B256::repeat_byte(0xee), path: Nibbles::new() };
    store.insert(stranger, Bytes::from_static(b"someone else's root"));
    store
}

fn apply<'a>(store: &mut Store, batches: impl IntoIterator<Item = &'a NodeChanges>) {
    for batch in batches {
        for key in &batch.deletes {
            store.remove(key);
        }
        for (key, node) in &batch.writes {
            store.insert(*key, node.clone());
        }
    }
}

/// Runs `case` and checks every property: exact node set, no path written twice, writes and
/// deletes disjoint, flush points irrelevant, and a stale store cleaned on every lookup path.
/// With `one_pass`, the chunks arrive as verified responses whose nodes the generators reuse:
/// then they also write and delete exactly what they write and delete without them, and
/// encode no stored node themselves (each written node was hashed once, by the verifier).
fn check_case(case: &Case, other: &Leaves, one_pass: bool) -> Result<(), TestCaseError> {
    let full = build_trie(&case.leaves);
    let flushed = if one_pass { run_with(case, true, Some(&full)) } else { run(case, true) };
    let mut written = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    for (_, batch) in &flushed.batches {
        for (key, node) in &batch.writes {
            prop_assert_eq!(key.owner, case.owner);
            prop_assert!(
                written.insert(key.path, node.clone()).is_none(),
                "{:?} written twice",
                key.path
            );
        }
        for key in &batch.deletes {
            prop_assert_eq!(key.owner, case.owner);
            deleted.insert(key.path);
        }
    }
    let segments: Vec<Segment> = flushed.segments.iter().map(|(_, s)| s.clone()).collect();
    let expected = expected_writes(&full, &segments);
    prop_assert_eq!(&written, &expected);
    prop_assert!(
        written.keys().all(|path| !deleted.contains(path)),
        "a path is written and deleted"
    );

    let whole = case.splits.len() == 1 && case.forgotten.is_empty();
    prop_assert_eq!(flushed.root, whole.then_some(full.root));
    let stored_writes = written.values().filter(|node| node.len() >= MIN_STORED_NODE_LEN).count();
    if one_pass {
        prop_assert_eq!(flushed.computed, 0, "stored nodes encoded again");
        prop_assert_eq!(&flushed.batches, &run(case, true).batches);
    } else {
        prop_assert!(flushed.computed >= stored_writes);
    }

    // Forgotten keys: every prefix of their path is deleted.
    for key in &case.forgotten {
        let path = Nibbles::unpack(key);
        prop_assert!((0..=64).all(|len| deleted.contains(&path.slice(..len))));
    }

    // Flushing at other points changes nothing but the batching.
    let unflushed = run(case, false);
    let all_writes =
        |run: &Run| run.batches.iter().flat_map(|(_, b)| b.writes.clone()).collect::<Vec<_>>();
    let all_deletes = |run: &Run| {
        run.batches.iter().flat_map(|(_, b)| b.deletes.clone()).collect::<BTreeSet<_>>()
    };
    prop_assert_eq!(all_writes(&flushed), all_writes(&unflushed));
    prop_assert_eq!(all_deletes(&flushed), all_deletes(&unflushed));

    // Dangling clearing: on every path a lookup can visit, the store holds the full trie's node
    // where a chunk could know it, and nothing otherwise.
    let fresh_store = stale_store(case.owner, &full, &case.leaves, other);
    let mut store = fresh_store.clone();
    apply(&mut store, flushed.batches.iter().map(|(_, b)| b));
    let paths =
        if case.leaves.is_empty() { BTreeSet::new() } else { lookup_paths(&full, &case.leaves) };
    for path in &paths {
        let stored = store.get(&NodeKey { owner: case.owner, path: *path });
        prop_assert_eq!(stored, expected.get(path), "stale or missing node at {:?}", path);
    }
    // Each chunk alone, before its neighbours ran, already leaves the right node or nothing on
    // every lookup path whose key range meets one of its covered segments.
    for chunk in 0..case.splits.len() {
        let mut store = fresh_store.clone();
        apply(&mut store, flushed.batches.iter().filter(|(i, _)| *i == chunk).map(|(_, b)| b));
        let own: Vec<&Segment> =
            flushed.segments.iter().filter(|(i, _)| *i == chunk).map(|(_, s)| s).collect();
        for path in &paths {
            let (low, high) = key_range(path);
            if own.iter().any(|s| low <= s.high && high >= s.low) {
                let stored = store.get(&NodeKey { owner: case.owner, path: *path });
                prop_assert_eq!(stored, expected.get(path), "chunk {} left {:?}", chunk, path);
            }
        }
    }
    let stranger = NodeKey { owner: B256::repeat_byte(0xee), path: Nibbles::new() };
    prop_assert!(case.owner == stranger.owner || store.contains_key(&stranger));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tests

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn one_complete_chunk_equals_the_full_build(
        leaves in leaves_strategy(200), flush in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let full = build_trie(&leaves);
        let mut generator = TrieGenerator::new(B256::ZERO, B256::ZERO);
        let mut changes = NodeChanges::default();
        for (i, (key, value)) in leaves.iter().enumerate() {
            generator.push(*key, value).unwrap();
            if flush[i % flush.len()] {
                changes.append(&mut generator.take_changes());
            }
        }
        let (mut last, root) = generator.finish(true);
        changes.append(&mut last);
        prop_assert_eq!(root, Some(full.root));
        let written: BTreeMap<_, _> = changes.writes.iter().map(|(k, v)| (k.path, v.clone())).collect();
        prop_assert_eq!(written.len(), changes.writes.len());
        prop_assert_eq!(&written, &full.nodes);
        prop_assert!(changes.deletes.iter().all(|key| !full.nodes.contains_key(&key.path)));
    }

    #[test]
    fn any_split_gives_the_full_trie_minus_undeterminable_nodes(
        case in case_strategy(160, false),
        other in leaves_strategy(60),
    ) {
        check_case(&case, &other, false)?;
    }

    #[test]
    fn one_pass_over_verified_ranges_gives_the_same_nodes_hashed_once(
        case in case_strategy(160, false),
        other in leaves_strategy(60),
    ) {
        check_case(&case, &other, true)?;
    }

    #[test]
    fn one_pass_with_forgotten_keys_gives_the_same_nodes_hashed_once(
        case in case_strategy(120, true),
        other in leaves_strategy(60),
    ) {
        prop_assume!(!case.forgotten.is_empty());
        check_case(&case, &other, true)?;
    }

    #[test]
    fn forgotten_keys_are_cleared_and_the_rest_still_matches(
        case in case_strategy(120, true),
        other in leaves_strategy(60),
    ) {
        prop_assume!(!case.forgotten.is_empty());
        check_case(&case, &other, false)?;
    }

    #[test]
    fn a_restarted_generator_equals_a_fresh_one(
        tries in prop::collection::vec((leaves_strategy(60), any::<bool>(), 0..60usize), 1..5),
    ) {
        // One generator, restarted for every trie (sometimes after being left mid-chunk, or
        // with verified nodes it never used), against a fresh generator per trie.
        let mut reused = TrieGenerator::new(B256::ZERO, B256::ZERO);
        for (index, (leaves, use_nodes, abandon_at)) in tries.iter().enumerate() {
            let owner = B256::repeat_byte(index as u8 + 1);
            let full = build_trie(leaves);
            reused.restart(owner, B256::ZERO);
            let mut fresh = TrieGenerator::new(owner, B256::ZERO);
            if *use_nodes {
                let all: Vec<&(B256, Vec<u8>)> = leaves.iter().collect();
                reused.use_verified(verified_nodes(&full, B256::ZERO, &all, false));
            }
            for (key, value) in leaves {
                reused.push(*key, value).unwrap();
                fresh.push(*key, value).unwrap();
            }
            let mut changes = NodeChanges::default();
            let root = reused.finish_through_into(MAX_KEY, &mut changes);
            prop_assert_eq!(reused.push(B256::ZERO, &[1]), Err(GenerateError::Exhausted));
            prop_assert_eq!((changes, root), fresh.finish(true));
            prop_assert_eq!(root, Some(full.root));
            // Leave the generator in the middle of a chunk for the next restart.
            reused.restart(owner, B256::ZERO);
            for (key, value) in leaves.iter().take(*abandon_at) {
                reused.push(*key, value).unwrap();
            }
        }
    }

    #[test]
    fn a_partial_chunk_with_at_most_one_leaf_writes_nothing(
        owner in any::<[u8; 32]>().prop_map(B256::from),
        start in key_strategy(),
        leaf in prop::option::of((key_strategy(), prop::collection::vec(any::<u8>(), 1..40))),
        complete in any::<bool>(),
    ) {
        prop_assume!(start != B256::ZERO);
        let mut generator = TrieGenerator::new(owner, start);
        if let Some((key, value)) = &leaf {
            prop_assume!(*key >= start);
            generator.push(*key, value).unwrap();
        }
        let (changes, root) = generator.finish(complete);
        prop_assert!(changes.writes.is_empty());
        prop_assert_eq!(root, None);
        // The paths above the start, where the left neighbour's nodes would straddle, are cleared.
        let root_path = NodeKey { owner, path: Nibbles::new() };
        prop_assert!(changes.deletes.contains(&root_path));
    }
}

#[test]
fn a_trie_split_below_a_shared_prefix() {
    // Keys 0x1200.., 0x1234.., 0x1280.., 0x5000..: the first three share the prefix "12".
    let key = |bytes: &[u8]| {
        let mut key = [0x11u8; 32];
        key[..bytes.len()].copy_from_slice(bytes);
        B256::from(key)
    };
    let value = vec![0xab; 40];
    let leaves: Leaves = [key(&[0x12, 0x00]), key(&[0x12, 0x34]), key(&[0x12, 0x80]), key(&[0x50])]
        .into_iter()
        .map(|k| (k, value.clone()))
        .collect();
    let full = build_trie(&leaves);
    // The second chunk starts at 0x1230 00..00: the range of path "123" begins exactly there,
    // while the branch at "12" and the root reach further left and straddle.
    let mut start = [0u8; 32];
    start[..2].copy_from_slice(&[0x12, 0x30]);
    let mut generator = TrieGenerator::new(B256::ZERO, B256::from(start));
    for (key, value) in &leaves[1..] {
        generator.push(*key, value).unwrap();
    }
    let (changes, root) = generator.finish(true);
    assert_eq!(root, None);
    let written: BTreeSet<Nibbles> = changes.writes.iter().map(|(k, _)| k.path).collect();
    let path = |nibbles: &[u8]| Nibbles::from_nibbles(nibbles);
    // Leaves below the "12" branch (at "123" and "128") and the lone 0x50 leaf under the root.
    assert_eq!(written, BTreeSet::from([path(&[1, 2, 3]), path(&[1, 2, 8]), path(&[5])]));
    for (path, node) in &changes.writes {
        assert_eq!(&full.nodes[&path.path], node);
    }
    let deleted: BTreeSet<Nibbles> = changes.deletes.iter().map(|k| k.path).collect();
    assert!(
        deleted.contains(&path(&[]))
            && deleted.contains(&path(&[1]))
            && deleted.contains(&path(&[1, 2]))
    );
}

#[test]
fn misordered_and_invalid_leaves_are_refused() {
    let start = B256::repeat_byte(0x40);
    let mut generator = TrieGenerator::new(B256::ZERO, start);
    let before = B256::repeat_byte(0x3f);
    assert_eq!(
        generator.push(before, &[1]),
        Err(GenerateError::BeforeStart { key: before, next: start })
    );
    assert_eq!(
        generator.forget(before),
        Err(GenerateError::BeforeStart { key: before, next: start })
    );
    assert_eq!(generator.push(start, &[]), Err(GenerateError::EmptyValue(start)));
    generator.push(start, &[1]).unwrap();
    assert_eq!(
        generator.push(start, &[1]),
        Err(GenerateError::OutOfOrder { key: start, previous: start })
    );
    generator.forget(MAX_KEY).unwrap();
    assert_eq!(generator.push(MAX_KEY, &[1]), Err(GenerateError::Exhausted));
    let (_, root) = generator.finish(true);
    assert_eq!(root, None);
}

#[test]
fn an_empty_whole_trie_has_the_empty_root_and_clears_its_root_path() {
    let owner = B256::repeat_byte(7);
    let (changes, root) = TrieGenerator::new(owner, B256::ZERO).finish(true);
    assert_eq!(root, Some(EMPTY_ROOT_HASH));
    assert!(changes.writes.is_empty());
    assert_eq!(changes.deletes, vec![NodeKey { owner, path: Nibbles::new() }]);
}

#[test]
fn an_end_before_the_start_clears_nothing_left_of_the_chunk() {
    // The chunk starts at 0x80..; a bogus end at 0x10.. must not delete paths of 0x10.., which
    // lie wholly in the left neighbour's range.
    let start = B256::repeat_byte(0x80);
    let (changes, _) =
        TrieGenerator::new(B256::ZERO, start).finish_through(B256::repeat_byte(0x10));
    let path_one = Nibbles::from_nibbles([1]);
    assert!(changes.deletes.iter().all(|key| key.path != path_one));
    assert!(changes.deletes.iter().all(|key| Nibbles::unpack(start).starts_with(&key.path)));
}

#[test]
fn a_chunk_that_reached_the_maximum_key_knows_the_root_without_the_complete_flag() {
    let leaves: Leaves = vec![(B256::repeat_byte(0x01), vec![1; 40]), (MAX_KEY, vec![2; 40])];
    let mut generator = TrieGenerator::new(B256::ZERO, B256::ZERO);
    for (key, value) in &leaves {
        generator.push(*key, value).unwrap();
    }
    let (changes, root) = generator.finish(false);
    let full = build_trie(&leaves);
    assert_eq!(root, Some(full.root));
    let written: BTreeMap<_, _> = changes.writes.into_iter().map(|(k, v)| (k.path, v)).collect();
    assert_eq!(written, full.nodes);
}
