//! Crash safety: a child process applies batches in a loop and is killed with SIGKILL at a
//! moment the parent does not control; reopened, the store holds exactly the state after some
//! whole number of batches, no fewer than the child reported applied, and its progress record
//! names that batch. The child then resumes from the progress record, and is killed again.
//!
//! Every batch overwrites shared accounts, slots and the root node, prunes what an earlier
//! batch wrote and writes new accounts, so a torn batch (or a batch without its progress
//! record) would show as a state that no whole number of batches gives.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::Duration,
};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::TrieAccount;
use common::Model;
use nybbles::Nibbles;
use snap_core::{
    sync::{BatchId, WriteBatch},
    trie::{NodeChanges, NodeKey, PrunedRange},
};

const DIR_ENV: &str = "SNAP_STORE_CRASH_DIR";
const BACKEND_ENV: &str = "SNAP_STORE_CRASH_BACKEND";
/// The child stops by itself after this many batches, should nobody kill it.
const MAX_BATCHES: u64 = 2_000;
const GROUPS: u64 = 16;

/// Batch `i`: 400 accounts under the first byte `i % 16` (pruning what batch `i - 16` left
/// there first), 40 shared accounts and 100 shared slots rewritten with `i`, nodes under the
/// group's path, a root node naming `i`, and the progress record `i`.
fn crash_batch(i: u64) -> WriteBatch {
    let group = (i % GROUPS) as u8;
    let prefix = Nibbles::from_nibbles([group >> 4, group & 0xf]);
    let account = |nonce: u64| TrieAccount { nonce, balance: U256::from(i), ..Default::default() };
    let mut accounts: Vec<(B256, TrieAccount)> = (0..400u64)
        .map(|j| {
            let mut key = keccak256([i.to_be_bytes(), j.to_be_bytes()].concat());
            key.0[0] = group;
            (key, account(j))
        })
        .collect();
    let shared = |j: u64| {
        let mut key = keccak256(j.to_be_bytes());
        key.0[0] = 0xff;
        key
    };
    accounts.extend((0..40).map(|j| (shared(j), account(i))));
    accounts.sort_by_key(|(key, _)| *key);
    let storage = (0..100u64)
        .map(|j| {
            (shared(0), keccak256(j.to_le_bytes()), Bytes::from(alloy_rlp::encode(U256::from(i))))
        })
        .collect();
    let mut writes = vec![(
        NodeKey { owner: B256::ZERO, path: Nibbles::new() },
        Bytes::from(i.to_be_bytes().to_vec()),
    )];
    for j in 0..50u8 {
        let mut path = prefix;
        path.extend(&Nibbles::from_nibbles([j >> 4, j & 0xf]));
        writes.push((NodeKey { owner: B256::ZERO, path }, Bytes::from(vec![j; 40])));
    }
    WriteBatch {
        id: BatchId(i),
        accounts,
        storage,
        codes: vec![(keccak256(i.to_be_bytes()), Bytes::from(i.to_be_bytes().to_vec()))],
        nodes: NodeChanges { writes, deletes: Vec::new() },
        pruned: vec![PrunedRange::subtree(B256::ZERO, prefix)],
        clear_tries: false,
        progress: Bytes::from(i.to_be_bytes().to_vec()),
    }
}

fn progress_number(progress: Option<&Bytes>) -> u64 {
    progress.map_or(0, |bytes| u64::from_be_bytes(bytes.as_ref().try_into().expect("8 bytes")))
}

/// The child's side: resume from the progress record and apply batches until killed.
#[test]
fn crash_child() {
    let (Some(dir), Some(backend)) = (std::env::var_os(DIR_ENV), std::env::var(BACKEND_ENV).ok())
    else {
        return; // Only runs as the child of the test below.
    };
    let open = common::backends().into_iter().find(|(name, _)| *name == backend).unwrap().1;
    let mut store = open(std::path::Path::new(&dir)).unwrap();
    let start = progress_number(store.progress().unwrap().as_ref()) + 1;
    let mut out = std::io::stdout();
    for i in start..start + MAX_BATCHES {
        store.apply(&crash_batch(i)).unwrap();
        writeln!(out, "applied {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn killed_mid_batch_the_store_holds_whole_batches() {
    for (name, open) in common::backends() {
        let dir = tempfile::tempdir().unwrap();
        let mut last_checked = 0;
        for round in 0..5u64 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
                .env(DIR_ENV, dir.path())
                .env(BACKEND_ENV, name)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            // Let it apply a few batches, then kill it at a varying moment.
            let mut reported = 0;
            while reported < last_checked + 3 {
                let line = lines.next().expect("the child reports batches").unwrap();
                if let Some(number) = line.strip_prefix("applied ") {
                    reported = number.parse().unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(3 + 11 * round));
            child.kill().unwrap();
            child.wait().unwrap();
            // Whatever it reported after our last read also counts as applied.
            for line in lines.map_while(Result::ok) {
                if let Some(number) = line.strip_prefix("applied ") {
                    reported = number.parse().unwrap();
                }
            }

            let store = open(dir.path()).unwrap();
            let applied = progress_number(store.progress().unwrap().as_ref());
            assert!(
                applied >= reported,
                "{name}: reported {reported} applied, store says {applied}"
            );
            let mut model = Model::default();
            for i in 1..=applied {
                model.apply(&crash_batch(i));
            }
            assert!(
                Model::read(&*store) == model,
                "{name}: the store is not the state after {applied} batches"
            );
            last_checked = applied;
            eprintln!("{name}: round {round}: killed after {reported} reported, {applied} applied");
        }
    }
}
