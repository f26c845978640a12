//! The pivot follows the chain: a peer whose chain advances while the sync runs (its headers
//! past block 200 carry another state root) moves the sync's target, and the sync ends on the
//! new state, verified, over real loopback sockets; the same with the head given by a scripted
//! consensus client over the Engine API instead of the peers.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes, U256};
use alloy_rpc_types_engine::JwtSecret;
use common::cl::ScriptedCl;
use snap_core::{
    serve::{InMemoryState, NoBals, ServeError, ServeLimits, serve},
    sync::{SyncConfig, SyncEvent},
    wire::SnapMessage,
};
use snap_node::engine::{self, EngineConfig};
use snap_node::{
    DriverConfig, DriverEvent, TargetChoice, metrics::Metrics, network::Network, run_sync,
};
use snap_sim::sim::{StateSpec, TargetState};
use snap_store::{RedbStore, verify};
use snap_tokio_adapter::{
    chain::HeaderChain,
    eth::{BlockId, GetBlockHeaders},
    server::Server,
    session::Enode,
};

/// Blocks from which the chain's state is the new one.
const SWITCH: u64 = 200;
/// The head announced at first, and the head once the chain advanced.
const FIRST_HEAD: u64 = 100;
const LAST_HEAD: u64 = 300;
/// Snap requests served before the chain advances.
const ADVANCE_AFTER: u64 = 20;

#[derive(Debug)]
struct AdvancingPeer {
    old: InMemoryState,
    new: InMemoryState,
    chain: HeaderChain,
    served: AtomicU64,
}

impl AdvancingPeer {
    fn visible_head(&self) -> u64 {
        if self.served.load(Relaxed) >= ADVANCE_AFTER { LAST_HEAD } else { FIRST_HEAD }
    }
}

impl Server for AdvancingPeer {
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
        self.served.fetch_add(1, Relaxed);
        let root = match request {
            SnapMessage::GetAccountRange(r) => Some(r.root),
            SnapMessage::GetStorageRanges(r) => Some(r.root),
            SnapMessage::GetTrieNodes(r) => Some(r.root),
            _ => None,
        };
        let state = if root == Some(self.new.root()) { &self.new } else { &self.old };
        serve(request, state, &NoBals, &ServeLimits::default())
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
}

fn chain(old: B256, new: B256) -> HeaderChain {
    let mut headers = Vec::new();
    let mut parent = B256::ZERO;
    for number in 0..=LAST_HEAD {
        let state_root = if number < SWITCH { old } else { new };
        let header = Header {
            parent_hash: parent,
            number,
            state_root,
            difficulty: U256::ZERO,
            ..Header::default()
        };
        parent = header.hash_slow();
        headers.push(header);
    }
    let mut headers = headers.into_iter();
    let genesis = headers.next().expect("genesis");
    HeaderChain::new(genesis, headers.collect()).expect("linked")
}

/// A serving node whose chain advances from head 100 to 300 after 20 snap requests; its
/// enode, the old and new state roots, and the peer itself.
async fn advancing_peer() -> (Enode, B256, B256, Arc<AdvancingPeer>) {
    let generated =
        TargetState::generate(&StateSpec { node_oracle: false, ..StateSpec::new(5, 3000, 30_000) })
            .expect("generated");
    let new = generated.variant().expect("variant");
    let old = generated.state;
    let (old_root, new_root) = (old.root(), new.root());
    assert_ne!(old_root, new_root);
    let chain = chain(old_root, new_root);
    let mut network = Network::demo_client();
    network.info.head_hash = chain.hash(FIRST_HEAD).expect("header");
    network.info.head_number = FIRST_HEAD;
    let peer = Arc::new(AdvancingPeer { old, new, chain, served: AtomicU64::new(0) });
    // Offering what `snap serve` offers for this server: snap/1 only (it holds no access lists).
    let enode = common::serve_in_process(peer.clone(), network.info.clone()).await;

    (enode, old_root, new_root, peer)
}

/// Small requests and batches: the sync spans many requests, so the chain moves during it.
fn small_requests() -> SyncConfig {
    SyncConfig {
        max_requests_per_peer: 2,
        max_request_bytes: 16 * 1024,
        min_request_bytes: 16 * 1024,
        batch_bytes: 64 * 1024,
        ..SyncConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_moves_with_the_peers_chain_and_the_sync_ends_on_the_new_state() {
    let (enode, old_root, new_root, _peer) = advancing_peer().await;
    let mut config = DriverConfig::new(
        vec![enode],
        TargetChoice::Peers { offset: 64, quorum: 1 },
        Network::demo_client(),
    );
    config.follow_interval = Duration::from_millis(100);
    config.sync = small_requests();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    let mut targets = Vec::new();
    let (outcome, store) =
        run_sync(config, store, std::future::pending(), Arc::new(Metrics::default()), |event| {
            match event {
                DriverEvent::Started(target) | DriverEvent::Sync(SyncEvent::NewTarget(target)) => {
                    targets.push(*target);
                }
                _ => {}
            }
        })
        .await
        .expect("sync");
    // Started at head 100 - 64 on the old state, moved past block 200 onto the new one (the
    // pivot trails the newest head the follow requests have seen by 64 blocks).
    assert_eq!(targets.first().map(|t| (t.number, t.root)), Some((FIRST_HEAD - 64, old_root)));
    let last = targets.last().copied().expect("targets");
    assert!((SWITCH..=LAST_HEAD - 64).contains(&last.number), "{targets:?}");
    assert_eq!(last.root, new_root);
    assert!(outcome.done);
    assert_eq!(outcome.target.map(|t| t.root), Some(new_root));
    let report = verify(&store).expect("verify");
    assert_eq!(report.mismatches, 0, "{:?}", report.listed);
    assert_eq!(report.stored_root, Some(new_root));
}

/// Issue #17: a scripted consensus client drives the head over the Engine API (JWT and all)
/// while a loopback sync runs; the target follows its fork choice (never the peer's Status
/// head), and the sync ends on the latest head's state, verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_follows_the_consensus_clients_head_to_the_new_state() {
    let (enode, old_root, new_root, peer) = advancing_peer().await;
    let secret = JwtSecret::random();
    let engine_config = EngineConfig::new("127.0.0.1:0".parse().expect("addr"), secret, 1337);
    let (server, anchors) = engine::start(engine_config).await.expect("the Engine API starts");
    let cl = ScriptedCl::new(server.local_addr(), secret);
    let first = peer.chain.hash(FIRST_HEAD).expect("header");
    let last = peer.chain.hash(LAST_HEAD).expect("header");
    let driving = tokio::spawn(async move {
        // Every 100 ms, the head the peer's chain has reached (as a beacon node follows it).
        loop {
            let head = if peer.visible_head() == LAST_HEAD { last } else { first };
            cl.forkchoice_updated_v3(head, B256::ZERO, B256::ZERO).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut config = DriverConfig::new(
        vec![enode],
        TargetChoice::Consensus { offset: 64, anchors },
        Network::demo_client(),
    );
    config.follow_interval = Duration::from_millis(100);
    config.sync = small_requests();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    let mut targets = Vec::new();
    let sync = run_sync(config, store, std::future::pending(), Arc::new(Metrics::default()), |e| {
        if let DriverEvent::Started(target) | DriverEvent::Sync(SyncEvent::NewTarget(target)) = e {
            targets.push(*target);
        }
    });
    let (outcome, store) =
        tokio::time::timeout(Duration::from_secs(120), sync).await.expect("in time").expect("sync");
    driving.abort();
    assert_eq!(targets.first().map(|t| (t.number, t.root)), Some((FIRST_HEAD - 64, old_root)));
    let last_target = targets.last().copied().expect("targets");
    // The new state from block 200 on; headers of the same root do not move the target.
    assert_eq!(last_target.root, new_root);
    assert!((SWITCH..=LAST_HEAD - 64).contains(&last_target.number), "{targets:?}");
    assert!(outcome.done);
    let report = verify(&store).expect("verify");
    assert_eq!(report.mismatches, 0, "{:?}", report.listed);
    assert_eq!(report.stored_root, Some(new_root));
}
