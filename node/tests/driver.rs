//! The driver in-process, over real loopback sockets: a fresh sync ends on the served root
//! with the store verified; a sync stopped part-way resumes from the store and ends on the
//! same root; the writer applies batches and answers lookups in queue order.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy_primitives::{Bytes, keccak256};
use snap_core::{
    serve::ServeLimits,
    sync::{BatchId, Lookup, LookupAnswer, LookupId, SyncConfig, SyncEvent, WriteBatch},
};
use snap_node::{
    DriverConfig, DriverEvent, TargetChoice, demo_state,
    metrics::Metrics,
    network::Network,
    run_sync,
    writer::{Writer, WriterDone, WriterJob},
};
use snap_store::{RedbStore, SyncStore, verify};
use snap_tokio_adapter::{
    connection::ConnectionConfig,
    enode::Enode,
    server::{StateServer, served_snap_versions},
    session::Node,
};
use tokio::{net::TcpListener, sync::Notify};

/// Serves a generated state on 127.0.0.1 and returns its enode and root.
async fn serve_generated(accounts: usize, slots: usize) -> (Enode, alloy_primitives::B256) {
    let state = demo_state::generated(3, accounts, slots).expect("generated");
    let root = state.root();
    let network = Network::demo_server(root);
    let server = Arc::new(StateServer {
        state,
        chain: network.chain.clone(),
        limits: ServeLimits::default(),
    });
    // Offering what `snap serve` offers for this server: snap/1 only (it holds no access lists).
    let mut config = ConnectionConfig::new(network.info.clone());
    config.snap_versions = served_snap_versions(server.as_ref());
    let node = Node::new(k256::SecretKey::random(&mut rand_core::OsRng), config, server);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = Enode { id: node.id(), addr: listener.local_addr().expect("addr") };
    tokio::spawn(async move {
        while let Ok(mut handle) = node.accept_from(&listener).await {
            tokio::spawn(async move { while handle.next_event().await.is_some() {} });
        }
    });
    (enode, root)
}

/// `snap_batches_total` in a text exposition.
fn batches_written(text: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix("snap_batches_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn config(enode: Enode) -> DriverConfig {
    let mut config = DriverConfig::new(
        vec![enode],
        TargetChoice::Peers { offset: 64, quorum: 1 },
        Network::demo_client(),
    );
    config.sync = SyncConfig {
        max_requests_per_peer: 8,
        // Small requests and batches: many batches, so a stop lands in the middle.
        max_request_bytes: 64 * 1024,
        batch_bytes: 64 * 1024,
        progress_interval: Duration::from_millis(50),
        ..SyncConfig::default()
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_sync_resumes_from_the_store_and_ends_on_the_served_root() {
    let (enode, root) = serve_generated(3000, 30_000).await;
    let dir = tempfile::tempdir().expect("tempdir");

    // First run: stopped once some batches are written.
    let stop = Arc::new(Notify::new());
    let first_metrics = Arc::new(Metrics::with_prometheus());
    let written = first_metrics.clone();
    let store = RedbStore::open(dir.path()).expect("open");
    let trigger = stop.clone();
    let waiter = stop.clone();
    let (outcome, store) = run_sync(
        config(enode),
        store,
        async move { waiter.notified().await },
        first_metrics,
        move |event| {
            if let DriverEvent::Sync(SyncEvent::Progress(_)) = event
                && batches_written(&written.render()) >= 2
            {
                trigger.notify_one();
            }
        },
    )
    .await
    .expect("first run");
    assert!(!outcome.done, "stopped before the end");
    let record = store.progress().expect("read").expect("a progress record was written");
    assert!(!record.is_empty());
    drop(store);

    // Second run: resumes (says so) and finishes; the store verifies against the served root.
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let metrics = Arc::new(Metrics::with_prometheus());
    let store = RedbStore::open(dir.path()).expect("reopen");
    let (outcome, store) =
        run_sync(config(enode), store, std::future::pending(), metrics.clone(), move |event| {
            seen.lock().expect("lock").push(event.clone())
        })
        .await
        .expect("second run");
    assert!(outcome.done);
    assert_eq!(outcome.target.map(|t| t.root), Some(root));
    let events = events.lock().expect("lock");
    assert!(matches!(events.first(), Some(DriverEvent::Resumed(t)) if t.root == root));
    let report = verify(&store).expect("verify");
    assert_eq!(report.mismatches, 0, "{:?}", report.listed);
    assert_eq!(report.stored_root, Some(root));
    assert_eq!(report.accounts, outcome.counters.accounts.max(report.accounts));
    let text = metrics.render();
    assert!(text.contains("snap_phase 3"), "{text}");
    assert!(!text.contains("snap_batches_total 0\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_answers_lookups_after_the_batches_queued_before_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let writer = Writer::spawn(store, 1, done_tx);
    let code = Bytes::from_static(b"\x60\x00\x60\x00");
    let hash = keccak256(&code);
    let ask = || WriterJob::Lookup(LookupId(1), Lookup::Codes(vec![hash]));
    assert!(writer.submit(ask()).await);
    let batch = WriteBatch {
        id: BatchId(1),
        codes: vec![(hash, code.clone())],
        progress: Bytes::from_static(b"record"),
        ..WriteBatch::default()
    };
    assert!(writer.submit(WriterJob::Batch(batch)).await);
    assert!(writer.submit(ask()).await);
    let mut results = Vec::new();
    for _ in 0..3 {
        results.push(done_rx.recv().await.expect("a result"));
    }
    assert!(
        matches!(&results[0], WriterDone::Looked(_, LookupAnswer::Codes(held)) if held == &[false])
    );
    assert!(matches!(&results[1], WriterDone::Written { id: BatchId(1), .. }));
    assert!(
        matches!(&results[2], WriterDone::Looked(_, LookupAnswer::Codes(held)) if held == &[true])
    );
    let store = writer.finish().await.expect("joined");
    assert_eq!(store.code(&hash).expect("read"), Some(code));
    assert_eq!(store.progress().expect("read"), Some(Bytes::from_static(b"record")));
}
