//! Two of our nodes over real TCP on 127.0.0.1: handshake, Hello, Status, snap and header
//! requests; garbage, truncated and silent peers are dropped without disturbing the others.

mod common;

use std::{sync::Arc, time::Duration};

use alloy_primitives::B256;
use common::*;
use snap_core::{
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    wire::{GetAccountRange, SnapMessage},
};
use snap_tokio_adapter::{
    connection::{CloseReason, ConnectionConfig, ConnectionError, Event},
    eth::{BlockId, GetBlockHeaders},
    forkid::ForkSchedule,
    rlpx::RlpxError,
    server::{NoServer, StateServer},
    session::{Command, Enode, Node, PeerHandle, SessionEvent},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const WAIT: Duration = Duration::from_secs(20);

async fn next(handle: &mut PeerHandle) -> Event {
    match tokio::time::timeout(WAIT, handle.next_event()).await.expect("event in time") {
        Some(SessionEvent::Connection(event)) => event,
        other => panic!("unexpected {other:?}"),
    }
}

async fn listener() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

fn account_request(id: u64, root: B256) -> SnapMessage {
    SnapMessage::GetAccountRange(GetAccountRange {
        request_id: id,
        root,
        origin: B256::ZERO,
        limit: B256::repeat_byte(0xff),
        response_bytes: 4096,
    })
}

#[tokio::test]
async fn two_nodes_connect_and_exchange_snap_over_tcp_while_bad_peers_are_dropped() {
    let mut server_config = ConnectionConfig::new(chain_info());
    server_config.handshake_timeout = Duration::from_millis(500);
    let served: InMemoryState = state(80);
    let root = served.root();
    let server = Node::new(
        key(2),
        server_config,
        Arc::new(StateServer {
            state: served.clone(),
            chain: None,
            limits: ServeLimits::default(),
        }),
    );
    let client = Node::new(key(1), ConnectionConfig::new(chain_info()), Arc::new(NoServer));
    let (listener, addr) = listener().await;

    // A silent peer and a garbage peer connect first; neither holds up the real one.
    let silent = TcpStream::connect(addr).await.expect("connect");
    let mut silent_session = server.accept_from(&listener).await.expect("accept");
    let mut garbage = TcpStream::connect(addr).await.expect("connect");
    let mut garbage_session = server.accept_from(&listener).await.expect("accept");
    garbage.write_all(&[0x01, 0x30, 0xde, 0xad, 0xbe, 0xef]).await.expect("write");
    garbage.write_all(&[0x42; 400]).await.expect("write");

    let enode: Enode =
        format!("enode://{}@{}", ::hex::encode(server.id()), addr).parse().expect("enode");
    assert_eq!(enode.to_string().parse::<Enode>(), Ok(enode));
    let (dialed, accepted) = tokio::join!(client.dial(&enode), server.accept_from(&listener));
    let (mut to_server, mut to_client) = (dialed.expect("dial"), accepted.expect("accept"));
    for (handle, remote) in [(&mut to_server, id(2)), (&mut to_client, id(1))] {
        match next(handle).await {
            Event::Ready { remote_id, snap, .. } => {
                assert_eq!(remote_id, remote);
                assert!(snap.is_some());
            }
            other => panic!("expected ready, got {other:?}"),
        }
    }

    // The garbage peer is dropped for a bad handshake packet (its "ECIES key" is not a
    // curve point), its socket closed.
    assert_eq!(
        next(&mut garbage_session).await,
        Event::Closed(CloseReason::Error(ConnectionError::Rlpx(RlpxError::BadPublicKey)))
    );
    let mut sink = Vec::new();
    let read =
        tokio::time::timeout(WAIT, garbage.read_to_end(&mut sink)).await.expect("closed in time");
    assert!(read.is_ok() && sink.is_empty(), "nothing sent before framing is up");

    // Snap requests go through while the silent peer waits out its timeout.
    for request_id in 1..=3 {
        let request = account_request(request_id, root);
        to_server.send(Command::Snap(request.clone())).await.expect("session alive");
        let expected = serve(&request, &served, &NoBals, &ServeLimits::default()).expect("served");
        assert_eq!(next(&mut to_server).await, Event::Snap(expected));
    }
    let headers = GetBlockHeaders {
        request_id: 9,
        start: BlockId::Number(0),
        limit: 1,
        skip: 0,
        reverse: false,
    };
    to_server.send(Command::GetHeaders(headers)).await.expect("alive");
    assert!(matches!(next(&mut to_server).await, Event::Headers(h) if h.headers.is_empty()));

    assert!(matches!(
        next(&mut silent_session).await,
        Event::Closed(CloseReason::Error(ConnectionError::Timeout(_)))
    ));
    drop(silent);

    // A peer that completes the RLPx handshake, sends half a frame and hangs up: the session
    // ends on the closed transport, without touching the established one.
    let mut half = TcpStream::connect(addr).await.expect("connect");
    let mut half_session = server.accept_from(&listener).await.expect("accept");
    let (mut handshake, auth) =
        snap_tokio_adapter::rlpx::Handshake::initiator(key(9), &server.id(), random(9))
            .expect("valid id");
    half.write_all(&auth).await.expect("write");
    let mut buffer = vec![0u8; 4096];
    let outcome = loop {
        let n = tokio::time::timeout(WAIT, half.read(&mut buffer))
            .await
            .expect("ack in time")
            .expect("read");
        assert!(n > 0, "server hung up during the handshake");
        if let Some(outcome) = handshake.feed(&buffer[..n]).expect("valid ack") {
            break outcome;
        }
    };
    let (mut encoder, _) = snap_tokio_adapter::rlpx::frame_codecs(&outcome.secrets, 1 << 24);
    let mut frame = Vec::new();
    encoder.encode(&[0x80, 0xc0], &mut frame).expect("frame");
    half.write_all(&frame[..frame.len() / 2]).await.expect("write");
    drop(half);
    assert_eq!(
        next(&mut half_session).await,
        Event::Closed(CloseReason::Error(ConnectionError::TransportClosed))
    );
    let request = account_request(4, root);
    to_server.send(Command::Snap(request)).await.expect("still alive");
    assert!(matches!(next(&mut to_server).await, Event::Snap(_)));

    // A requested disconnect reaches the other side.
    to_server
        .send(Command::Disconnect(snap_tokio_adapter::p2p::DisconnectReason::ClientQuitting))
        .await
        .expect("alive");
    assert!(matches!(next(&mut to_server).await, Event::Closed(CloseReason::Local(_))));
    assert!(matches!(next(&mut to_client).await, Event::Closed(CloseReason::Remote(_))));
}

#[tokio::test]
async fn a_node_serving_hivechain_answers_header_requests_over_tcp() {
    let Some((genesis, chain)) =
        hivechain("a_node_serving_hivechain_answers_header_requests_over_tcp")
    else {
        return;
    };
    let forks = ForkSchedule::from_genesis_json(chain.genesis_hash(), &genesis);
    let info = chain.chain_info(3_503_995_874_084_926, forks);
    let head = chain.head_hash();
    let server = Node::new(
        key(2),
        ConnectionConfig::new(info.clone()),
        Arc::new(StateServer {
            state: state(1),
            chain: Some(chain),
            limits: ServeLimits::default(),
        }),
    );
    // The syncing node takes genesis and fork id from configuration, with an old head.
    let mut sync_info = info.clone();
    sync_info.head_number = 0;
    sync_info.head_time = 0;
    let client = Node::new(key(1), ConnectionConfig::new(sync_info), Arc::new(NoServer));
    let (listener, addr) = listener().await;
    let enode = Enode { id: server.id(), addr };
    let (dialed, accepted) = tokio::join!(client.dial(&enode), server.accept_from(&listener));
    let (mut to_server, _to_client) = (dialed.expect("dial"), accepted.expect("accept"));
    match next(&mut to_server).await {
        Event::Ready { status, .. } => {
            assert_eq!(status.head_hash, head);
            assert_eq!(status.fork_id, info.forks.fork_id(600, 6000));
            assert_eq!(status.fork_id.next, 0);
        }
        other => panic!("expected ready, got {other:?}"),
    }
    let request = GetBlockHeaders {
        request_id: 1,
        start: BlockId::Hash(head),
        limit: 64,
        skip: 0,
        reverse: true,
    };
    to_server.send(Command::GetHeaders(request)).await.expect("alive");
    match next(&mut to_server).await {
        Event::Headers(reply) => {
            assert_eq!(reply.headers.len(), 64);
            assert_eq!(reply.headers[0].hash, head);
            assert_eq!(reply.headers[63].header.number, 537);
        }
        other => panic!("expected headers, got {other:?}"),
    }
}
