//! `trie_generate`: the chunk trie generator on fuzzer-chosen keys, chunk start, forgotten keys, flush points
//! and finish mode. It must never panic, and everything it writes must be a node of the full
//! trie (which also holds keys left of the chunk and right of its end) at the same path, written
//! once, never also deleted; the root is reported only when the chunk covered everything. Handed
//! the nodes verifying the whole trie computed, it must write and delete exactly the same.
use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{B256, U256};
use arbitrary::Arbitrary;
use snap_core::trie::{NodeChanges, TrieGenerator, VerifiedNodes, build_trie, verify_range_nodes};

/// One input: the trie's keys and how the chunk is generated.
#[derive(Debug, Arbitrary)]
pub struct Input {
    /// The trie's owner.
    pub owner: [u8; 32],
    /// The first four bytes of the chunk's start key.
    pub start: [u8; 4],
    /// Keys by their first three bytes, with a value size, whether the generator forgets the
    /// key instead of pushing it, and whether changes are taken after it.
    pub keys: Vec<([u8; 3], u8, bool, bool)>,
    /// How many keys of the chunk the generator sees.
    pub seen: u8,
    /// How the chunk is finished (modulo 3).
    pub finish: u8,
    /// A key pushed out of order, to be refused.
    pub misordered: Option<[u8; 32]>,
}

/// Generates the chunk and checks every write against the full trie.
pub fn check(input: Input) {
    let owner = B256::from(input.owner);
    // Keys share their tail so the fuzzer's 3 bytes decide the trie shape; values vary in size
    // so that nodes are both embedded and stored.
    let mut all = BTreeMap::new();
    for (head, size, forget, flush) in &input.keys {
        let mut key = [0x33u8; 32];
        key[..3].copy_from_slice(head);
        let value = vec![0xa5; 1 + usize::from(*size) % 48];
        all.insert(B256::from(key), (value, *forget, *flush));
    }
    let leaves: Vec<(B256, Vec<u8>)> = all.iter().map(|(k, (v, _, _))| (*k, v.clone())).collect();
    let full = build_trie(&leaves);

    let mut start = [0u8; 32];
    start[..4].copy_from_slice(&input.start);
    let start = B256::from(start);
    let keys: Vec<B256> = leaves.iter().map(|(key, _)| *key).collect();
    let values: Vec<&[u8]> = leaves.iter().map(|(_, value)| value.as_slice()).collect();
    let (_, verified) =
        verify_range_nodes(full.root, B256::ZERO, &keys, &values, &[]).expect("whole trie");
    let plain = generate(&input, owner, start, &all, None);
    let one_pass = generate(&input, owner, start, &all, Some(verified));
    assert_eq!(one_pass, plain, "the verified nodes changed the output");
    let Some((changes, root)) = plain else { return };
    let chunk: Vec<_> = all.range(start..).collect();
    let seen = usize::from(input.seen).min(chunk.len());
    let forgot_any = chunk[..seen].iter().any(|(_, (_, forget, _))| *forget);
    let whole = start == B256::ZERO && chunk.get(seen).is_none() && !forgot_any;

    let mut written = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    for batch in &changes {
        for (key, node) in &batch.writes {
            assert_eq!(key.owner, owner);
            assert_eq!(
                full.nodes.get(&key.path),
                Some(node),
                "write at {:?} is not the full trie's node",
                key.path
            );
            assert!(written.insert(key.path), "{:?} written twice", key.path);
        }
        deleted.extend(batch.deletes.iter().map(|key| key.path));
    }
    assert!(written.is_disjoint(&deleted));
    let last_key_is_max = chunk[..seen].last().is_some_and(|(k, _)| **k == B256::repeat_byte(0xff));
    if root.is_some() {
        assert!(whole || last_key_is_max);
        assert_eq!(root, Some(full.root));
    }
}

type Leaves = BTreeMap<B256, (Vec<u8>, bool, bool)>;

/// Runs the generator over the chunk (handed `verified` first, if given); `None` when the
/// misordered key was accepted (it followed the last key).
fn generate(
    input: &Input,
    owner: B256,
    start: B256,
    all: &Leaves,
    verified: Option<VerifiedNodes>,
) -> Option<(Vec<NodeChanges>, Option<B256>)> {
    let mut generator = TrieGenerator::new(owner, start);
    if let Some(verified) = verified {
        generator.use_verified(verified);
    }
    let mut changes = Vec::new();
    let chunk: Vec<_> = all.range(start..).collect();
    let seen = usize::from(input.seen).min(chunk.len());
    let mut forgot_any = false;
    for (key, (value, forget, flush)) in &chunk[..seen] {
        if *forget {
            generator.forget(**key).expect("ordered keys are accepted");
            forgot_any = true;
        } else {
            generator.push(**key, value).expect("ordered keys are accepted");
        }
        if *flush {
            changes.push(generator.take_changes());
        }
    }
    if let Some(bad) = input.misordered {
        // Anything not after the last key is refused without disturbing the generator.
        let bad = B256::from(bad);
        let last = chunk[..seen].last().map(|(k, _)| **k);
        let accepted = generator.push(bad, &[1]).is_ok();
        assert_eq!(accepted, last.map_or(bad >= start, |last| bad > last));
        if accepted {
            return None;
        }
    }
    let next_unseen = chunk.get(seen).map(|(k, _)| **k);
    let whole = start == B256::ZERO && next_unseen.is_none() && !forgot_any;
    let (last, root) = match (input.finish % 3, next_unseen) {
        (0, _) => generator.finish(false),
        (1, None) => generator.finish(true),
        (_, None) => generator.finish_through(B256::repeat_byte(0xff)),
        (_, Some(next)) => {
            generator.finish_through(B256::from(U256::from_be_bytes(next.0) - U256::from(1)))
        }
    };
    changes.push(last);
    if root.is_none() && whole && !input.finish.is_multiple_of(3) {
        panic!("a chunk covering everything did not report the root");
    }
    Some((changes, root))
}
