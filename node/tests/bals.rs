//! Block access lists over loopback: a node serving its store answers `GetBlockAccessLists`
//! from the lists in the store when the session negotiated snap/2 (entries in request order,
//! empty for unknown hashes); when one side offers only snap/1 the session settles on snap/1
//! and the request is refused before it is sent. A store without lists offers snap/1 only, so a
//! syncing node offering both versions settles on snap/1 with it.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{B256, Bytes};
use snap_core::{
    serve::ServeLimits,
    wire::{GetBlockAccessLists, SnapMessage, SnapVersion},
};
use snap_node::{network::Network, store_server::StoreServer};
use snap_store::RedbStore;
use snap_tokio_adapter::{
    connection::{ConnectionConfig, Event},
    server::served_snap_versions,
    session::{Command, Enode, Node, PeerHandle, SessionEvent},
};
use tokio::net::TcpListener;

/// Serves a redb store holding `bals` on 127.0.0.1; keeps the store's directory alive.
async fn serve_bals(bals: &[(B256, Bytes)]) -> (Enode, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = RedbStore::open(dir.path()).expect("store");
    store.put_block_access_lists(bals).expect("written");
    let network = Network::demo_server(B256::repeat_byte(0x55));
    let server = Arc::new(StoreServer {
        store: Arc::new(store),
        chain: network.chain.clone(),
        limits: ServeLimits::default(),
    });
    // What `snap serve` offers: snap/2 as well only when the store holds lists.
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
    (enode, dir)
}

/// Dials `enode` offering `versions` and returns the session with its negotiated snap version.
async fn dial(enode: &Enode, versions: Vec<SnapVersion>) -> (PeerHandle, Option<SnapVersion>) {
    let network = Network::demo_client();
    let mut config = ConnectionConfig::new(network.info.clone());
    config.snap_versions = versions;
    let node = Node::new(
        k256::SecretKey::random(&mut rand_core::OsRng),
        config,
        Arc::new(snap_tokio_adapter::server::NoServer),
    );
    let mut handle = node.dial(enode).await.expect("dialed");
    loop {
        match next(&mut handle).await {
            SessionEvent::Connection(Event::Ready { snap, .. }) => return (handle, snap),
            SessionEvent::Connection(Event::Closed(reason)) => panic!("closed: {reason:?}"),
            _ => {}
        }
    }
}

async fn next(handle: &mut PeerHandle) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(20), handle.next_event())
        .await
        .expect("an event in time")
        .expect("session alive")
}

fn request(hashes: Vec<B256>) -> SnapMessage {
    SnapMessage::GetBlockAccessLists(GetBlockAccessLists {
        request_id: 42,
        block_hashes: hashes,
        response_bytes: 1 << 20,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap2_session_gets_the_stored_lists_in_order() {
    // Raw BALs are RLP lists (the reply embeds them as they are): here lists of byte strings.
    let stored: Vec<(B256, Bytes)> = (1u8..=3)
        .map(|i| {
            let items = vec![Bytes::from(vec![i; 50 * i as usize]); i as usize];
            (B256::repeat_byte(i), Bytes::from(alloy_rlp::encode(items)))
        })
        .collect();
    let (enode, _dir) = serve_bals(&stored).await;
    let (mut handle, snap) = dial(&enode, vec![SnapVersion::V1, SnapVersion::V2]).await;
    assert_eq!(snap, Some(SnapVersion::V2), "both offer snap/2: the highest common version");
    let asked = vec![B256::repeat_byte(3), B256::repeat_byte(9), B256::repeat_byte(1), B256::ZERO];
    handle.send(Command::Snap(request(asked))).await.expect("sent");
    let reply = loop {
        match next(&mut handle).await {
            SessionEvent::Connection(Event::Snap(SnapMessage::BlockAccessLists(reply))) => {
                break reply;
            }
            SessionEvent::Connection(Event::Snap(other)) => panic!("unexpected reply {other:?}"),
            SessionEvent::Rejected(command, error) => panic!("rejected {command:?}: {error}"),
            SessionEvent::Connection(Event::Closed(reason)) => panic!("closed: {reason:?}"),
            _ => {}
        }
    };
    assert_eq!(reply.request_id, 42);
    assert_eq!(
        reply.access_lists,
        vec![stored[2].1.clone(), Bytes::new(), stored[0].1.clone(), Bytes::new()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap1_side_settles_on_snap1_where_access_lists_do_not_exist() {
    let (enode, _dir) = serve_bals(&[(B256::repeat_byte(1), Bytes::from_static(&[0xc0]))]).await;
    let (mut handle, snap) = dial(&enode, vec![SnapVersion::V1]).await;
    assert_eq!(snap, Some(SnapVersion::V1));
    let asked = request(vec![B256::repeat_byte(1)]);
    handle.send(Command::Snap(asked.clone())).await.expect("queued");
    loop {
        match next(&mut handle).await {
            SessionEvent::Rejected(command, _) => {
                assert_eq!(command, Command::Snap(asked));
                break;
            }
            SessionEvent::Connection(Event::Snap(reply)) => panic!("snap/1 carried {reply:?}"),
            SessionEvent::Connection(Event::Closed(reason)) => panic!("closed: {reason:?}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_lists_offers_snap1_only() {
    let (enode, _dir) = serve_bals(&[]).await;
    // Our syncing node offers both versions; snap/1 is all this server offers.
    let (_, snap) = dial(&enode, vec![SnapVersion::V1, SnapVersion::V2]).await;
    assert_eq!(snap, Some(SnapVersion::V1));
}

#[test]
fn headers_reach_the_core_with_their_block_access_list_hash() {
    use snap_tokio_adapter::eth::ReceivedHeader;
    let bal_hash = B256::repeat_byte(0xba);
    let amsterdam = alloy_consensus::Header {
        number: 7,
        state_root: B256::repeat_byte(0x57),
        requests_hash: Some(B256::ZERO),
        block_access_list_hash: Some(bal_hash),
        slot_number: Some(70),
        ..alloy_consensus::Header::default()
    };
    let received = ReceivedHeader { hash: amsterdam.hash_slow(), header: amsterdam };
    let core = snap_node::pivot::core_header(&received);
    assert_eq!((core.number, core.hash, core.bal_hash), (7, received.hash, Some(bal_hash)));
    // Before Amsterdam there is none: such a block can only be healed over.
    let prague = alloy_consensus::Header { number: 6, ..alloy_consensus::Header::default() };
    let received = ReceivedHeader { hash: prague.hash_slow(), header: prague };
    assert_eq!(snap_node::pivot::core_header(&received).bal_hash, None);
}
