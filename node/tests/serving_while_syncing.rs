//! Serving while syncing, over loopback with the real binary: a syncing node takes peers'
//! connections, answers snap requests with empty replies while its state is incomplete (and
//! header requests for headers it does not hold with none), and once its state is synced and
//! verified, the same process (`snap sync --serve`) serves that state and the trusted header
//! it synced to, without a restart.

mod common;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use alloy_primitives::{B256, keccak256};
use common::{SNAP, path, serve};
use snap_core::{
    trie::verify_range,
    wire::{GetAccountRange, SnapMessage},
};
use snap_node::network::Network;
use snap_sim::testdata::{HIVECHAIN_HEAD_HASH, HIVECHAIN_HEAD_STATE_ROOT, hivechain_dir};
use snap_tokio_adapter::{
    enode::Enode,
    eth::{BlockId, GetBlockHeaders},
    test_peer::{TestPeer, TestPeerConfig},
};

const WAIT: Duration = Duration::from_secs(20);

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of a child's output, as they come.
fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            eprintln!("| {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line containing `needle` within `WAIT`.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(error) => panic!("no line with {needle:?}: {error}"),
        }
    }
}

fn account_range(id: u64) -> SnapMessage {
    SnapMessage::GetAccountRange(GetAccountRange {
        request_id: id,
        root: HIVECHAIN_HEAD_STATE_ROOT,
        origin: B256::ZERO,
        limit: B256::repeat_byte(0xff),
        response_bytes: 64 * 1024,
    })
}

fn header_600(id: u64) -> GetBlockHeaders {
    GetBlockHeaders {
        request_id: id,
        start: BlockId::Hash(HIVECHAIN_HEAD_HASH),
        limit: 1,
        skip: 0,
        reverse: false,
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the test binds it again at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[test]
fn a_syncing_node_answers_empty_until_its_state_is_verified_then_serves_it_without_a_restart() {
    let Some(dir) = hivechain_dir(
        "a_syncing_node_answers_empty_until_its_state_is_verified_then_serves_it_without_a_restart",
    ) else {
        return;
    };
    let (state, genesis, chain) =
        (dir.join("headstate.json"), dir.join("genesis.json"), dir.join("chain.rlp"));
    let tmp = tempfile::tempdir().expect("tempdir");
    // The source's identity and port are fixed before it runs, so the syncing node can be
    // pointed at it while it is still down.
    let key = tmp.path().join("source.key");
    let port = free_port().to_string();
    let source_args = [
        "--state",
        path(&state),
        "--chain",
        path(&genesis),
        "--headers",
        path(&chain),
        "--nodekey",
        path(&key),
        "--port",
        &port,
        "--no-discovery",
    ];
    let source_enode = serve(&source_args).enode.clone();

    let datadir = tmp.path().join("syncing");
    let mut child = Command::new(SNAP)
        .args(["sync", "--peer", &source_enode, "--chain", path(&genesis)])
        .args(["--block-hash", &HIVECHAIN_HEAD_HASH.to_string(), "--datadir", path(&datadir)])
        .args(["--addr", "127.0.0.1", "--port", "0", "--no-discovery", "--serve", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("snap sync starts");
    let stdout = lines(child.stdout.take().expect("piped"));
    let stderr = lines(child.stderr.take().expect("piped"));
    let _syncing = Killed(child);
    let line = wait_for(&stderr, "peers may connect to enode://");
    let enode: Enode = line[line.find("enode://").expect("enode")..]
        .trim()
        .parse()
        .expect("the logged enode parses");
    let network = Network::from_genesis(&genesis, None, None).expect("hivechain genesis");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // While its source is down the node holds nothing: empty replies, no header.
        let addr = SocketAddr::from(([127, 0, 0, 1], enode.addr.port()));
        let mut early = TestPeer::dial(addr, &enode.id, TestPeerConfig::new(network.info.clone()))
            .await
            .expect("a syncing node takes connections");
        early.send_snap(&account_range(1)).await.expect("sent");
        match early.recv_snap(WAIT).await.expect("answered") {
            SnapMessage::AccountRange(reply) => {
                assert!(reply.accounts.is_empty() && reply.proof.is_empty(), "{reply:?}");
            }
            other => panic!("not an account range: {other:?}"),
        }
        let headers = early.get_headers(&header_600(2), WAIT).await.expect("answered");
        assert!(headers.headers.is_empty(), "a header it does not hold");
    });

    // The source comes up; the node syncs from it, verifies, and goes on serving.
    let _source = serve(&source_args);
    wait_for(&stdout, &format!("synced root {HIVECHAIN_HEAD_STATE_ROOT}"));
    wait_for(&stdout, "serving enode://");

    runtime.block_on(async {
        let addr = SocketAddr::from(([127, 0, 0, 1], enode.addr.port()));
        let mut late = TestPeer::dial(addr, &enode.id, TestPeerConfig::new(network.info.clone()))
            .await
            .expect("the same process still takes connections");
        late.send_snap(&account_range(3)).await.expect("sent");
        let SnapMessage::AccountRange(reply) = late.recv_snap(WAIT).await.expect("answered") else {
            panic!("not an account range");
        };
        assert!(!reply.accounts.is_empty(), "the synced state is served");
        let keys: Vec<B256> = reply.accounts.iter().map(|a| a.hash).collect();
        let values: Vec<Vec<u8>> =
            reply.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
        verify_range(HIVECHAIN_HEAD_STATE_ROOT, B256::ZERO, &keys, &values, &reply.proof)
            .expect("the served range proves against the synced root");
        // The header the sync was pinned to is held and served as received.
        let headers = late.get_headers(&header_600(4), WAIT).await.expect("answered");
        assert_eq!(headers.headers.len(), 1);
        assert_eq!(headers.headers[0].hash, HIVECHAIN_HEAD_HASH);
        assert_eq!(keccak256(alloy_rlp::encode(&headers.headers[0].header)), HIVECHAIN_HEAD_HASH);
    });
}
