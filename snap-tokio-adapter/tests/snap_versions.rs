//! snap/1 and snap/2 over real TCP on 127.0.0.1. A syncing node offering both versions (the
//! connection default) negotiates snap/2 with a snap/2-only peer (reth) and snap/1 with a
//! snap/1-only peer, reports the version in `Event::Ready`, and carries only that version's
//! messages: access lists on snap/2, trie nodes on snap/1, ranges on both. A serving node
//! offers snap/2 only when it holds access lists, and its `BlockAccessLists` replies stay
//! within the byte budget (clamped to the soft limit) and the entry cap.

mod common;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use alloy_primitives::{B256, Bytes, U256};
use common::*;
use snap_core::{
    serve::{InMemoryState, ServeError, ServeLimits, serve},
    wire::{
        BlockAccessLists, GetBlockAccessLists, GetTrieNodes, SnapMessage, SnapVersion,
        TrieNodePathSet,
    },
};
use snap_tokio_adapter::{
    connection::{CommandError, ConnectionConfig, Event},
    eth::GetBlockHeaders,
    server::{NoServer, Server, StateServer, served_snap_versions},
    session::{Command, Enode, Node, PeerHandle, SessionEvent},
};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(20);

/// A server holding a state and block access lists (what a snap/2 peer such as reth is).
#[derive(Debug)]
struct BalServer {
    state: InMemoryState,
    bals: BTreeMap<B256, Bytes>,
    limits: ServeLimits,
}

impl Server for BalServer {
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
        serve(request, &self.state, &self.bals, &self.limits)
    }

    fn headers(&self, _request: &GetBlockHeaders) -> Vec<Bytes> {
        Vec::new()
    }

    fn serves_block_access_lists(&self) -> bool {
        !self.bals.is_empty()
    }
}

fn block(i: u64) -> B256 {
    B256::from(U256::from(i + 1))
}

/// `n` access lists of `payload` bytes each, as RLP lists (how a reply embeds them).
fn bals(n: u64, payload: usize) -> BTreeMap<B256, Bytes> {
    (0..n)
        .map(|i| {
            // The payload's bytes do not matter: a reply carries each list as it is.
            let mut list = Vec::with_capacity(payload + 4);
            alloy_rlp::Header { list: true, payload_length: payload }.encode(&mut list);
            list.resize(list.len() + payload, 0x80);
            (block(i), Bytes::from(list))
        })
        .collect()
}

/// Starts a node accepting on 127.0.0.1 that offers `versions` and serves with `server`.
async fn peer(id: u8, versions: Vec<SnapVersion>, server: Arc<dyn Server>) -> Enode {
    let mut config = ConnectionConfig::new(chain_info());
    config.snap_versions = versions;
    let node = Node::new(key(id), config, server);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = Enode { id: node.id(), addr: listener.local_addr().expect("addr") };
    tokio::spawn(async move {
        while let Ok(mut handle) = node.accept_from(&listener).await {
            tokio::spawn(async move { while handle.next_event().await.is_some() {} });
        }
    });
    enode
}

async fn next(handle: &mut PeerHandle) -> SessionEvent {
    tokio::time::timeout(WAIT, handle.next_event()).await.expect("event in time").expect("alive")
}

/// Our syncing node (snap/1 and snap/2 offered, nothing served) dials `enode`; returns the
/// session and the negotiated snap version.
async fn dial(enode: &Enode) -> (PeerHandle, Option<SnapVersion>) {
    let config = ConnectionConfig::new(chain_info());
    assert_eq!(config.snap_versions, vec![SnapVersion::V1, SnapVersion::V2]);
    let node = Node::new(key(1), config, Arc::new(NoServer));
    let mut handle = node.dial(enode).await.expect("dialed");
    loop {
        match next(&mut handle).await {
            SessionEvent::Connection(Event::Ready { snap, .. }) => return (handle, snap),
            SessionEvent::Connection(Event::Closed(reason)) => panic!("closed: {reason:?}"),
            _ => {}
        }
    }
}

/// Sends `request` and returns its reply, or the command error if the session refused it.
async fn ask(handle: &mut PeerHandle, request: SnapMessage) -> Result<SnapMessage, CommandError> {
    handle.send(Command::Snap(request)).await.expect("queued");
    loop {
        match next(handle).await {
            SessionEvent::Connection(Event::Snap(reply)) => return Ok(reply),
            SessionEvent::Rejected(_, error) => return Err(error),
            SessionEvent::Connection(Event::Closed(reason)) => panic!("closed: {reason:?}"),
            _ => {}
        }
    }
}

fn bal_request(id: u64, blocks: impl Iterator<Item = u64>, budget: u64) -> SnapMessage {
    SnapMessage::GetBlockAccessLists(GetBlockAccessLists {
        request_id: id,
        block_hashes: blocks.map(block).collect(),
        response_bytes: budget,
    })
}

fn trie_request(id: u64, root: B256) -> SnapMessage {
    SnapMessage::GetTrieNodes(GetTrieNodes {
        request_id: id,
        root,
        paths: vec![TrieNodePathSet::account(&Default::default())],
        response_bytes: 4096,
    })
}

fn account_request(id: u64, root: B256) -> SnapMessage {
    SnapMessage::GetAccountRange(snap_core::wire::GetAccountRange {
        request_id: id,
        root,
        origin: B256::ZERO,
        limit: B256::repeat_byte(0xff),
        response_bytes: 4096,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syncing_node_negotiates_with_snap2_only_and_snap1_only_peers() {
    let served = state(50);
    let root = served.root();
    let stored = bals(4, 100);
    let v2_server =
        BalServer { state: served.clone(), bals: stored.clone(), limits: ServeLimits::default() };
    let reth_like = peer(2, vec![SnapVersion::V2], Arc::new(v2_server)).await;
    let v1_server = StateServer { state: served, chain: None, limits: ServeLimits::default() };
    let snap1_only = peer(3, vec![SnapVersion::V1], Arc::new(v1_server)).await;

    // snap/2-only: snap/2 is the common version; ranges and access lists, no trie nodes.
    let (mut v2, version) = dial(&reth_like).await;
    assert_eq!(version, Some(SnapVersion::V2));
    let Ok(SnapMessage::AccountRange(range)) = ask(&mut v2, account_request(1, root)).await else {
        panic!("no account range over snap/2");
    };
    assert!(!range.accounts.is_empty());
    let Ok(SnapMessage::BlockAccessLists(reply)) =
        ask(&mut v2, bal_request(2, [3, 9, 0].into_iter(), 1 << 20)).await
    else {
        panic!("no access lists over snap/2");
    };
    assert_eq!(
        reply.access_lists,
        vec![stored[&block(3)].clone(), Bytes::new(), stored[&block(0)].clone()]
    );
    assert_eq!(
        ask(&mut v2, trie_request(3, root)).await,
        Err(CommandError::NoSnap),
        "trie nodes do not exist on snap/2"
    );

    // snap/1-only: snap/1 it is; ranges and trie nodes, no access lists.
    let (mut v1, version) = dial(&snap1_only).await;
    assert_eq!(version, Some(SnapVersion::V1));
    let Ok(SnapMessage::AccountRange(range)) = ask(&mut v1, account_request(4, root)).await else {
        panic!("no account range over snap/1");
    };
    assert!(!range.accounts.is_empty());
    let Ok(SnapMessage::TrieNodes(nodes)) = ask(&mut v1, trie_request(5, root)).await else {
        panic!("no trie nodes over snap/1");
    };
    assert_eq!(nodes.nodes.len(), 1);
    assert_eq!(alloy_primitives::keccak256(&nodes.nodes[0]), root, "the root node");
    assert_eq!(
        ask(&mut v1, bal_request(6, 0..1, 1 << 20)).await,
        Err(CommandError::NoSnap),
        "access lists do not exist on snap/1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_offers_snap2_only_when_it_holds_access_lists() {
    let with = BalServer { state: state(5), bals: bals(1, 10), limits: ServeLimits::default() };
    let without = StateServer { state: state(5), chain: None, limits: ServeLimits::default() };
    assert_eq!(served_snap_versions(&with), vec![SnapVersion::V1, SnapVersion::V2]);
    assert_eq!(served_snap_versions(&without), vec![SnapVersion::V1]);
    assert_eq!(served_snap_versions(&NoServer), vec![SnapVersion::V1]);
    // Served as `snap serve` does, each side negotiates with our syncing node accordingly.
    let versions = served_snap_versions(&with);
    let (_, version) = dial(&peer(4, versions, Arc::new(with)).await).await;
    assert_eq!(version, Some(SnapVersion::V2));
    let versions = served_snap_versions(&without);
    let (_, version) = dial(&peer(5, versions, Arc::new(without)).await).await;
    assert_eq!(version, Some(SnapVersion::V1));
}

/// Asks for the lists of `blocks` within `budget`; checks the reply is a positional prefix.
async fn get(
    handle: &mut PeerHandle,
    stored: &BTreeMap<B256, Bytes>,
    id: u64,
    blocks: std::ops::Range<u64>,
    budget: u64,
) -> BlockAccessLists {
    let Ok(SnapMessage::BlockAccessLists(reply)) =
        ask(handle, bal_request(id, blocks.clone(), budget)).await
    else {
        panic!("no reply");
    };
    assert!(!reply.access_lists.is_empty());
    for (entry, i) in reply.access_lists.iter().zip(blocks) {
        assert_eq!(entry, stored.get(&block(i)).unwrap_or(&Bytes::new()));
    }
    reply
}

/// Bytes the entries of a reply take (an empty entry is its one-byte encoding).
fn entry_bytes(reply: &BlockAccessLists) -> u64 {
    reply.access_lists.iter().map(|bal| bal.len().max(1) as u64).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_list_replies_over_loopback_are_bounded_by_budget_soft_limit_and_count() {
    // 100 lists of 50 KiB (5 MiB in all), blocks 0..100.
    let stored = bals(100, 50 * 1024);
    let server =
        BalServer { state: state(5), bals: stored.clone(), limits: ServeLimits::default() };
    let enode = peer(6, vec![SnapVersion::V2], Arc::new(server)).await;
    let (mut handle, version) = dial(&enode).await;
    assert_eq!(version, Some(SnapVersion::V2));
    let list = stored[&block(0)].len() as u64;
    // A 300 KiB budget: as many whole lists as fit, the tail dropped.
    let reply = get(&mut handle, &stored, 1, 0..100, 300 * 1024).await;
    assert_eq!(reply.access_lists.len() as u64, 300 * 1024 / list);
    assert!(entry_bytes(&reply) <= 300 * 1024);
    // No budget to speak of: the first list still comes, alone.
    let reply = get(&mut handle, &stored, 2, 0..100, 1).await;
    assert_eq!(reply.access_lists.len(), 1);
    // An unbounded budget is clamped to the 2 MiB soft limit.
    let reply = get(&mut handle, &stored, 3, 0..100, u64::MAX).await;
    let soft = ServeLimits::default().soft_response_limit;
    assert_eq!(reply.access_lists.len() as u64, soft / list);
    assert!(entry_bytes(&reply) <= soft);
    // Past the entry cap (1,024 lookups): blocks the server lacks are empty entries, and no
    // more than the cap are answered (10 lists and 1,014 empty entries fit the soft limit).
    let reply = get(&mut handle, &stored, 4, 90..1_500, u64::MAX).await;
    assert_eq!(reply.access_lists.len(), ServeLimits::default().max_access_list_lookups);
    assert_eq!(reply.access_lists.iter().filter(|bal| !bal.is_empty()).count(), 10);
}
