//! snap/2 between two of our nodes over loopback, driven by post-Amsterdam headers: a serving
//! node (our `Node`, answering with `snap_core::serve` from a state and the blocks' access
//! lists) whose chain advances while a syncing node (the driver) runs. Every header carries
//! EIP-7928's `block_access_list_hash` (and `slot_number`); both nodes are on a network whose
//! Amsterdam is active, so they settle on snap/2. The sync takes its ranges at the first pivot's
//! state, then catches up to the newer pivot by applying the blocks' access lists (checked
//! against the headers' commitments) instead of healing, and ends on the newer state, verified.

mod common;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::EMPTY_ROOT_HASH;
use snap_core::{
    serve::{InMemoryState, ServeError, ServeLimits, serve},
    sync::{CatchUpStrategy, SyncConfig, SyncEvent},
    wire::{SnapMessage, SnapVersion},
};
use snap_node::{DriverConfig, DriverEvent, TargetChoice, metrics::Metrics, network::Network};
use snap_sim::sim::bal::BalChain;
use snap_store::{RedbStore, verify};
use snap_tokio_adapter::{
    chain::HeaderChain,
    eth::{BlockId, GetBlockHeaders},
    server::Server,
};

/// The head announced at first; blocks up to it change nothing.
const FIRST_HEAD: u64 = 40;
/// Blocks with access lists after it (the chain's head once it advanced: 52).
const BAL_BLOCKS: u64 = 12;
const LAST_HEAD: u64 = FIRST_HEAD + BAL_BLOCKS;
/// The pivot trails the head by this many blocks.
const OFFSET: u64 = 4;

/// Our serving node's answers: the first pivot's state, every block's access list, and a
/// header chain whose visible head advances once the sync has asked for state.
#[derive(Debug)]
struct Snap2Peer {
    state: InMemoryState,
    bals: BTreeMap<B256, Bytes>,
    chain: HeaderChain,
    served: AtomicU64,
}

impl Snap2Peer {
    fn visible_head(&self) -> u64 {
        if self.served.load(Relaxed) >= 1 { LAST_HEAD } else { FIRST_HEAD }
    }
}

impl Server for Snap2Peer {
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
        if !matches!(request, SnapMessage::GetBlockAccessLists(_)) {
            self.served.fetch_add(1, Relaxed);
            // A little slower than loopback, so the sync sees the chain advance mid-ranges.
            std::thread::sleep(Duration::from_millis(5));
        }
        serve(request, &self.state, &self.bals, &ServeLimits::default())
    }

    fn headers(&self, request: &GetBlockHeaders) -> Vec<Bytes> {
        let head = self.visible_head();
        let mut headers = self.chain.serve(request);
        if let BlockId::Number(first) = request.start {
            let visible = (head + 1).saturating_sub(first);
            headers.truncate(usize::try_from(visible).unwrap_or(usize::MAX));
        }
        headers
    }

    fn serves_block_access_lists(&self) -> bool {
        true
    }
}

/// A post-Amsterdam header: every optional field up to the access list hash and slot number.
fn header(parent: B256, number: u64, state_root: B256, bal_hash: B256) -> Header {
    Header {
        parent_hash: parent,
        number,
        state_root,
        difficulty: U256::ZERO,
        timestamp: 1_000 + number * 12,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(7),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::with_last_byte(1)),
        requests_hash: Some(B256::with_last_byte(2)),
        block_access_list_hash: Some(bal_hash),
        slot_number: Some(number * 2),
        ..Header::default()
    }
}

/// The serving peer and the states at the first and the last block.
fn snap2_peer() -> (Snap2Peer, B256, Vec<B256>) {
    let generated = BalChain::generate(11, 400, BAL_BLOCKS);
    let base = &generated.states[0];
    let empty_list = Bytes::from(snap_core::bal::encode(&[]));
    let mut headers = Vec::new();
    let mut bals = BTreeMap::new();
    let mut roots = Vec::new();
    let mut parent = B256::ZERO;
    for number in 0..=LAST_HEAD {
        // Blocks up to FIRST_HEAD keep the base state (empty access lists); block
        // FIRST_HEAD + i carries the generated chain's i-th list and state.
        let (root, list) = match number.checked_sub(FIRST_HEAD).filter(|i| *i > 0) {
            None => (base.root(), empty_list.clone()),
            Some(i) => {
                let i = usize::try_from(i).expect("small");
                let hash = generated.headers[i].hash;
                (generated.states[i].root(), generated.bals[&hash].clone())
            }
        };
        let header = header(parent, number, root, keccak256(&list));
        parent = header.hash_slow();
        bals.insert(parent, list);
        headers.push(header);
        roots.push(root);
    }
    let mut headers = headers.into_iter();
    let genesis = headers.next().expect("genesis");
    let chain = HeaderChain::new(genesis, headers.collect()).expect("linked");
    let state = generated.states[0].clone();
    let base_root = state.root();
    (Snap2Peer { state, bals, chain, served: AtomicU64::new(0) }, base_root, roots)
}

/// The demo network with Amsterdam active from genesis: both sides offer snap/2.
fn amsterdam_network() -> Network {
    let mut network = Network::demo_client();
    network.amsterdam_time = Some(0);
    network
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_our_nodes_sync_over_snap2_catching_up_by_access_lists() {
    let (peer, base_root, roots) = snap2_peer();
    let peer = Arc::new(peer);
    let network = amsterdam_network();
    assert_eq!(network.sync_snap_versions(1), vec![SnapVersion::V1, SnapVersion::V2]);
    let mut served = network.clone();
    served.info.head_hash = peer.chain.hash(FIRST_HEAD).expect("header");
    served.info.head_number = FIRST_HEAD;
    let enode = common::serve_in_process(peer.clone(), served.info.clone()).await;

    let mut config =
        DriverConfig::new(vec![enode], TargetChoice::Peers { offset: OFFSET, quorum: 1 }, network);
    config.follow_interval = Duration::from_millis(20);
    config.sync = SyncConfig {
        max_requests_per_peer: 2,
        max_request_bytes: 4 * 1024,
        min_request_bytes: 4 * 1024,
        batch_bytes: 16 * 1024,
        ..SyncConfig::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    let mut events = Vec::new();
    let run = snap_node::run_sync(
        config,
        store,
        std::future::pending(),
        Arc::new(Metrics::default()),
        |event| match event {
            DriverEvent::Sync(event) => events.push(event.clone()),
            DriverEvent::Started(target) => events.push(SyncEvent::NewTarget(*target)),
            _ => {}
        },
    );
    let (outcome, store) =
        tokio::time::timeout(Duration::from_secs(60), run).await.expect("in time").expect("sync");

    let targets: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::NewTarget(t) => Some(*t),
            _ => None,
        })
        .collect();
    // Started on the base state, moved to the newer pivot, caught up by access lists.
    assert_eq!(targets.first().map(|t| (t.number, t.root)), Some((FIRST_HEAD - OFFSET, base_root)));
    let last = *targets.last().expect("targets");
    assert_eq!(last.number, LAST_HEAD - OFFSET, "{targets:?}");
    let last_root = roots[usize::try_from(last.number).expect("small")];
    assert_eq!(last.root, last_root);
    assert_ne!(last_root, base_root, "the chain changed state");
    let strategy = events.iter().rev().find_map(|e| match e {
        SyncEvent::Strategy(s) => Some(*s),
        _ => None,
    });
    assert_eq!(strategy, Some(CatchUpStrategy::Bal), "{events:?}");
    assert!(outcome.done);
    assert_eq!(outcome.target.map(|t| t.root), Some(last_root));
    let report = verify(&store).expect("verify");
    assert_eq!(report.mismatches, 0, "{:?}", report.listed);
    assert_eq!(report.computed_root, last_root);
}
