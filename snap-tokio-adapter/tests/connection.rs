//! The sans-IO connection end to end: handshake, Hello, Status, eth and snap traffic, and
//! every kind of bad input ending in a disconnect, never a panic.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes};
use common::*;
use snap_core::{
    serve::{NoBals, ServeError, ServeLimits, serve},
    wire::{ByteCodes, GetAccountRange, GetByteCodes, SnapMessage, SnapVersion},
};
use snap_tokio_adapter::{
    connection::{CloseReason, Connection, ConnectionConfig, ConnectionError, Event},
    eth::{BlockId, EthError, EthVersion, GetBlockHeaders},
    p2p::{Capability, DisconnectReason},
    rlpx::RlpxError,
    server::{NoServer, Server},
    snap::TrackError,
};

fn ready_pair(now: Instant) -> (Connection, Connection) {
    let (mut a, mut b) = pair_with(config(), config(), Arc::new(NoServer), state_server(50), now);
    drive(&mut a, &mut b, now);
    for (name, connection) in [("a", &mut a), ("b", &mut b)] {
        let events = events(connection);
        assert!(
            matches!(
                events.as_slice(),
                [Event::Ready { eth: EthVersion::V69, snap: Some(SnapVersion::V2), .. }]
            ),
            "{name}: {events:?}"
        );
    }
    (a, b)
}

fn closed_with(connection: &mut Connection) -> CloseReason {
    assert!(connection.is_closed());
    match events(connection).pop() {
        Some(Event::Closed(reason)) => reason,
        other => panic!("expected a close, got {other:?}"),
    }
}

fn account_request(id: u64, bytes: u64) -> SnapMessage {
    SnapMessage::GetAccountRange(GetAccountRange {
        request_id: id,
        root: state(50).root(),
        origin: B256::ZERO,
        limit: B256::repeat_byte(0xff),
        response_bytes: bytes,
    })
}

#[test]
fn two_nodes_handshake_and_exchange_snap_and_header_requests() {
    let now = Instant::now();
    let (mut a, mut b) = ready_pair(now);
    assert_eq!(a.remote_id(), Some(id(2)));
    assert_eq!(b.remote_id(), Some(id(1)));

    // A snap request served by b's state comes back exactly as snap-core's server answers it.
    let request = account_request(7, 2000);
    a.send_snap(now, &request).expect("ready with snap");
    drive(&mut a, &mut b, now);
    let expected = serve(&request, &state(50), &NoBals, &ServeLimits::default()).expect("served");
    let SnapMessage::AccountRange(range) = &expected else { panic!("account range") };
    assert!(!range.accounts.is_empty() && !range.proof.is_empty());
    assert_eq!(events(&mut a), vec![Event::Snap(expected)]);

    // b serves no headers: the reply is empty, not silence; a's own NoServer answers b's
    // snap request with an empty range.
    let headers = GetBlockHeaders {
        request_id: 3,
        start: BlockId::Number(1),
        limit: 2,
        skip: 0,
        reverse: false,
    };
    a.send_get_headers(now, headers).expect("ready");
    b.send_snap(now, &account_request(8, 100)).expect("ready");
    drive(&mut a, &mut b, now);
    let a_events = events(&mut a);
    assert!(
        matches!(a_events.as_slice(), [Event::Headers(h)] if h.request_id == 3 && h.headers.is_empty()),
        "{a_events:?}"
    );
    let b_events = events(&mut b);
    assert!(
        matches!(b_events.as_slice(), [Event::Snap(SnapMessage::AccountRange(r))] if r.request_id == 8 && r.accounts.is_empty()),
        "{b_events:?}"
    );

    // Ping is answered, and a requested disconnect reaches the other side.
    a.disconnect(DisconnectReason::ClientQuitting);
    drive(&mut a, &mut b, now);
    assert_eq!(closed_with(&mut a), CloseReason::Local(DisconnectReason::ClientQuitting));
    assert_eq!(closed_with(&mut b), CloseReason::Remote(DisconnectReason::ClientQuitting));
}

#[test]
fn versions_and_offsets_follow_what_both_sides_offer() {
    let now = Instant::now();
    let mut old = ConnectionConfig::new(chain_info());
    old.eth_versions = vec![EthVersion::V68];
    old.snap_versions = vec![SnapVersion::V1];
    let (mut a, mut b) =
        pair_with(Arc::new(old), config(), Arc::new(NoServer), state_server(10), now);
    drive(&mut a, &mut b, now);
    let ready = events(&mut b);
    assert!(matches!(
        ready.as_slice(),
        [Event::Ready { eth: EthVersion::V68, snap: Some(SnapVersion::V1), .. }]
    ));
    // snap/1 sits at 0x21 after eth/68: a request served over it proves both sides agree.
    a.send_snap(now, &account_request(1, 500)).expect("snap/1");
    drive(&mut a, &mut b, now);
    assert!(matches!(
        events(&mut a).as_slice(),
        [Event::Ready { .. }, Event::Snap(SnapMessage::AccountRange(_))]
    ));
    // Without snap, snap requests are refused locally.
    let mut eth_only = ConnectionConfig::new(chain_info());
    eth_only.snap_versions = vec![];
    let (mut a, mut b) =
        pair_with(Arc::new(eth_only), config(), Arc::new(NoServer), Arc::new(NoServer), now);
    drive(&mut a, &mut b, now);
    assert!(matches!(events(&mut a).as_slice(), [Event::Ready { snap: None, .. }]));
    assert!(a.send_snap(now, &account_request(1, 500)).is_err());
}

#[test]
fn a_status_for_another_network_is_refused_with_a_disconnect() {
    let now = Instant::now();
    let mut other = ConnectionConfig::new(chain_info());
    other.chain.network_id = 1;
    let (mut a, mut b) =
        pair_with(Arc::new(other), config(), Arc::new(NoServer), Arc::new(NoServer), now);
    drive(&mut a, &mut b, now);
    // Both Status messages cross; each side refuses the other's.
    // Each side says, in words, what the other is on against its own chain.
    let wrong = |connection: &mut Connection| match closed_with(connection) {
        CloseReason::Error(ConnectionError::WrongNetwork(wrong)) => wrong,
        other => panic!("expected a wrong network, got {other:?}"),
    };
    let seen_by_a = wrong(&mut a);
    assert_eq!(seen_by_a.error, EthError::NetworkMismatch(1337));
    assert_eq!((seen_by_a.theirs.network_id, seen_by_a.ours.network_id), (1337, 1));
    let text = seen_by_a.to_string();
    assert!(text.starts_with("the peer is on network 1337 (genesis 0x9999"), "{text}");
    assert!(text.contains("we are on network 1 (genesis 0x9999"), "{text}");
    assert_eq!(wrong(&mut b).error, EthError::NetworkMismatch(1));
    // And the peer is told why.
    let mut target = Connection::inbound(config(), Arc::new(NoServer), key(2), random(2), now);
    let mut raw = RawPeer::connect(&mut target, vec![Capability::new("eth", 69)], now);
    let status = target.take_outgoing();
    raw.feed(&status);
    assert_eq!(raw.next_message().map(|(code, _)| code), Some(0x10));
    let mut wrong = chain_info();
    wrong.network_id = 5;
    let bytes = raw.frame(0x10, &wrong.status(EthVersion::V69).encode_data(EthVersion::V69));
    target.receive(now, &bytes);
    assert!(matches!(
        closed_with(&mut target),
        CloseReason::Error(ConnectionError::WrongNetwork(w)) if w.error == EthError::NetworkMismatch(5)
    ));
    raw.feed(&target.take_outgoing());
    let (code, data) = raw.next_message().expect("a disconnect");
    assert_eq!(
        (code, DisconnectReason::decode_data(&data)),
        (0x01, DisconnectReason::SubprotocolError)
    );
}

#[test]
fn garbage_bad_macs_and_truncation_end_in_a_disconnect_never_a_panic() {
    let now = Instant::now();
    // Garbage instead of an auth packet.
    let mut b = Connection::inbound(config(), Arc::new(NoServer), key(2), random(2), now);
    b.receive(now, &[0x00, 0x20, 1, 2, 3]);
    assert!(matches!(
        closed_with(&mut b),
        CloseReason::Error(ConnectionError::Rlpx(RlpxError::HandshakeSize(0x20)))
    ));
    assert!(b.take_outgoing().is_empty(), "no framing, no disconnect message");

    // Garbage after the handshake: the header MAC fails, and the peer is told why.
    let (mut a, mut b) = ready_pair(now);
    b.receive(now, &[0x5a; 64]);
    assert_eq!(
        closed_with(&mut b),
        CloseReason::Error(ConnectionError::Rlpx(RlpxError::HeaderMac))
    );
    a.receive(now, &b.take_outgoing());
    assert_eq!(closed_with(&mut a), CloseReason::Remote(DisconnectReason::BreachOfProtocol));

    // A flipped bit in a real frame body.
    let (mut a, mut b) = ready_pair(now);
    a.send_snap(now, &account_request(1, 500)).expect("ready");
    let mut bytes = a.take_outgoing();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x01;
    b.receive(now, &bytes);
    assert_eq!(closed_with(&mut b), CloseReason::Error(ConnectionError::Rlpx(RlpxError::FrameMac)));

    // A truncated frame waits; the rest completes it.
    let (mut a, mut b) = ready_pair(now);
    a.send_snap(now, &account_request(1, 500)).expect("ready");
    let bytes = a.take_outgoing();
    b.receive(now, &bytes[..bytes.len() / 2]);
    assert!(b.take_outgoing().is_empty() && !b.is_closed());
    b.receive(now, &bytes[bytes.len() / 2..]);
    serve_pending(&mut b, now);
    assert!(!b.take_outgoing().is_empty(), "b answered once the frame was complete");
}

#[test]
fn unsolicited_wrong_kind_and_oversized_responses_drop_the_peer() {
    let now = Instant::now();
    let caps = vec![Capability::new("eth", 69), Capability::new("snap", 2)];
    // snap/2 after eth/69 starts at 0x22; ByteCodes is 0x05 there.
    let byte_codes = 0x22 + 0x05;

    // Unsolicited.
    let mut target = Connection::inbound(config(), Arc::new(NoServer), key(2), random(2), now);
    let mut raw = RawPeer::connect(&mut target, caps.clone(), now);
    raw.exchange_status(&mut target, now);
    assert!(matches!(events(&mut target).as_slice(), [Event::Ready { .. }]));
    let reply = SnapMessage::ByteCodes(ByteCodes { request_id: 77, codes: vec![] }).to_vec();
    let bytes = raw.frame(byte_codes, &reply);
    target.receive(now, &bytes);
    assert!(matches!(
        closed_with(&mut target),
        CloseReason::Error(ConnectionError::Snap(TrackError::Unsolicited { request_id: 77, .. }))
    ));

    // Oversized: one code asked for with a 100-byte budget, 600 KiB answered.
    let mut target = Connection::inbound(config(), Arc::new(NoServer), key(2), random(2), now);
    let mut raw = RawPeer::connect(&mut target, caps.clone(), now);
    raw.exchange_status(&mut target, now);
    events(&mut target);
    let request = SnapMessage::GetByteCodes(GetByteCodes {
        request_id: 5,
        hashes: vec![B256::ZERO],
        response_bytes: 100,
    });
    target.send_snap(now, &request).expect("ready");
    let huge = SnapMessage::ByteCodes(ByteCodes {
        request_id: 5,
        codes: vec![Bytes::from(vec![0x60; 600 * 1024])],
    });
    let bytes = raw.frame(byte_codes, &huge.to_vec());
    target.receive(now, &bytes);
    assert!(matches!(
        closed_with(&mut target),
        CloseReason::Error(ConnectionError::Snap(TrackError::Oversized { .. }))
    ));

    // A message id outside every negotiated range.
    let mut target = Connection::inbound(config(), Arc::new(NoServer), key(2), random(2), now);
    let mut raw = RawPeer::connect(&mut target, caps, now);
    raw.exchange_status(&mut target, now);
    events(&mut target);
    let bytes = raw.frame(0x40, &[0xc0]);
    target.receive(now, &bytes);
    assert!(matches!(
        closed_with(&mut target),
        CloseReason::Error(ConnectionError::Unexpected { code: 0x40, .. })
    ));
}

#[test]
fn handshake_replays_are_refused() {
    let now = Instant::now();
    let mut target = Connection::inbound(config(), Arc::new(NoServer), key(2), random(2), now);
    let mut raw = RawPeer::connect(&mut target, vec![Capability::new("eth", 69)], now);
    let hello = raw.frame(0x00, &[0xc0]);
    // The same auth and frames replayed to a fresh connection of the same node: the auth
    // decrypts (ECIES cannot tell), but the replayer lacks the new session's secrets, so the
    // next frame fails its MAC and the connection is dropped.
    let mut replayed = Connection::inbound(config(), Arc::new(NoServer), key(2), random(3), now);
    replayed.receive(now, &raw.auth);
    assert!(!replayed.is_closed());
    replayed.receive(now, &hello);
    assert_eq!(
        closed_with(&mut replayed),
        CloseReason::Error(ConnectionError::Rlpx(RlpxError::HeaderMac))
    );
    // The auth replayed inside the established session is just a bad frame.
    target.receive(now, &raw.auth.clone());
    assert!(matches!(closed_with(&mut target), CloseReason::Error(ConnectionError::Rlpx(_))));
}

#[test]
fn every_step_and_request_times_out() {
    let now = Instant::now();
    let mut silent = Connection::inbound(config(), Arc::new(NoServer), key(2), random(2), now);
    let deadline = silent.poll_timeout().expect("handshake deadline");
    assert_eq!(deadline, now + Duration::from_secs(10));
    silent.handle_timeout(deadline - Duration::from_millis(1));
    assert!(!silent.is_closed());
    silent.handle_timeout(deadline);
    assert!(matches!(closed_with(&mut silent), CloseReason::Error(ConnectionError::Timeout(_))));

    let (mut a, mut b) = ready_pair(now);
    // Once ready only the keepalive is due: a Ping that the peer answers keeps it alive...
    let ping_at = now + Duration::from_secs(15);
    assert_eq!(a.poll_timeout(), Some(ping_at));
    a.handle_timeout(ping_at);
    drive(&mut a, &mut b, ping_at);
    assert!(!a.is_closed() && !b.is_closed());
    // ...and a peer heard from no more (b's Pong was the last word) is dropped.
    let silent_until = ping_at + Duration::from_secs(30);
    a.handle_timeout(ping_at + Duration::from_secs(15));
    assert!(!a.is_closed(), "one interval of silence after a Pong is fine");
    a.handle_timeout(silent_until);
    assert!(matches!(closed_with(&mut a), CloseReason::Error(ConnectionError::Timeout(_))));

    let (mut a, _b) = ready_pair(now);
    a.send_snap(now, &account_request(4, 100)).expect("ready");
    let headers = GetBlockHeaders {
        request_id: 9,
        start: BlockId::Number(1),
        limit: 1,
        skip: 0,
        reverse: false,
    };
    a.send_get_headers(now, headers).expect("ready");
    let deadline = now + Duration::from_secs(30);
    a.handle_timeout(deadline - Duration::from_millis(1));
    events(&mut a);
    a.handle_timeout(deadline);
    // Header requests time out here; snap requests only with their owner.
    assert_eq!(events(&mut a), vec![Event::HeadersTimeout(9)]);
    assert!(!a.is_closed(), "the owner decides what a timeout costs the peer");
}

/// Issue #16 item 5: an answer later than the adapter's old 30-second request timeout is
/// delivered (the core times its requests out and forgives late answers), and an answer to
/// a request the owner forgot is dropped quietly; neither disconnects the peer.
#[test]
fn late_answers_never_disconnect() {
    let now = Instant::now();
    // No keepalive in this test: the 31 seconds pass in one step.
    let mut quiet = ConnectionConfig::new(chain_info());
    quiet.ping_interval = Duration::from_secs(3600);
    let quiet = Arc::new(quiet);
    let (mut a, mut b) = pair_with(quiet.clone(), quiet, Arc::new(NoServer), state_server(50), now);
    drive(&mut a, &mut b, now);
    events(&mut a);
    a.send_snap(now, &account_request(4, 100)).expect("ready");
    a.send_snap(now, &account_request(5, 100)).expect("ready");
    let late = now + Duration::from_secs(31);
    a.handle_timeout(late);
    a.forget(5);
    // b answers both at 31 s (its pings keep the connection alive meanwhile).
    drive(&mut a, &mut b, late);
    let got = events(&mut a);
    assert!(
        got.iter().any(|e| matches!(e, Event::Snap(m) if m.request_id() == 4)),
        "the late answer is delivered: {got:?}"
    );
    assert!(got.contains(&Event::Late(5)), "the forgotten one is dropped quietly: {got:?}");
    assert!(!a.is_closed() && !b.is_closed());
}

/// Issue #16 item 2, sans-IO: a peer pipelining requests without reading our answers fills
/// the connection's budget, and the connection then stops consuming input; nothing is
/// buffered beyond the budget, and everything is answered once the peer reads.
#[test]
fn a_peer_that_does_not_read_stops_being_read() {
    let now = Instant::now();
    let mut target = Connection::inbound(config(), state_server(3000), key(2), random(2), now);
    let caps = vec![Capability::new("eth", 69), Capability::new("snap", 2)];
    let mut raw = RawPeer::connect(&mut target, caps, now);
    raw.exchange_status(&mut target, now);
    let root = state(3000).root();
    let mut pipelined = Vec::new();
    for id in 0..3000 {
        let request = SnapMessage::GetAccountRange(GetAccountRange {
            request_id: id,
            root,
            origin: B256::ZERO,
            limit: B256::repeat_byte(0xff),
            response_bytes: 2 * 1024 * 1024,
        });
        // snap/2 after eth/69 starts at 0x22.
        pipelined.extend(raw.frame(0x22, &request.to_vec()));
    }
    target.receive(now, &pipelined);
    let budget = config().max_buffered_bytes;
    let mut served = 0;
    // The owner serves, but never takes the outgoing bytes (the peer does not read).
    while let Some(job) = target.next_serve_job() {
        target.answer(now, job.run()).expect("serving");
        served += 1;
        assert!(served < 3000);
    }
    assert!(!target.wants_input(), "reading is paused");
    assert!(target.outgoing_len() < budget + 2 * 1024 * 1024 + 64 * 1024);
    assert!(served < 100, "served {served} of 3000 before pausing");
    // The peer reads: the rest gets served, and the connection stays up.
    let mut answered = 0;
    while answered < 3000 {
        raw.feed(&target.take_outgoing());
        while let Some((code, _)) = raw.next_message() {
            if code == 0x23 {
                answered += 1;
            }
        }
        target.resume(now);
        serve_pending(&mut target, now);
        assert!(!target.is_closed());
    }
}

/// A server that ignores the byte budget.
#[derive(Debug)]
struct Greedy;

impl Server for Greedy {
    fn snap(&self, request: &SnapMessage) -> Result<SnapMessage, ServeError> {
        Ok(SnapMessage::ByteCodes(ByteCodes {
            request_id: request.request_id(),
            codes: vec![Bytes::from(vec![1u8; 700 * 1024])],
        }))
    }

    fn headers(&self, _: &GetBlockHeaders) -> Vec<Bytes> {
        Vec::new()
    }
}

#[test]
fn a_greedy_server_is_dropped_by_our_tracker() {
    let now = Instant::now();
    let (mut a, mut b) = pair_with(config(), config(), Arc::new(NoServer), Arc::new(Greedy), now);
    drive(&mut a, &mut b, now);
    events(&mut a);
    let request = SnapMessage::GetByteCodes(GetByteCodes {
        request_id: 1,
        hashes: vec![B256::ZERO],
        response_bytes: 1000,
    });
    a.send_snap(now, &request).expect("ready");
    drive(&mut a, &mut b, now);
    assert!(matches!(
        closed_with(&mut a),
        CloseReason::Error(ConnectionError::Snap(TrackError::Oversized { .. }))
    ));
}

mod arbitrary_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random bytes at any point of the handshake: the connection waits or closes with a
        /// typed error; it never panics and never closes silently.
        #[test]
        fn random_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..6)) {
            let now = Instant::now();
            let mut target = Connection::inbound(config(), Arc::new(NoServer), key(2), random(2), now);
            for chunk in &chunks {
                target.receive(now, chunk);
            }
            let events = events(&mut target);
            prop_assert_eq!(target.is_closed(), matches!(events.last(), Some(Event::Closed(_))));
        }

        /// Well-framed messages with arbitrary ids and bodies after Status: every one is
        /// answered, ignored or refused with a disconnect, never a panic.
        #[test]
        fn arbitrary_messages_never_panic(
            messages in proptest::collection::vec((0u64..0x40, proptest::collection::vec(any::<u8>(), 0..300)), 1..8),
        ) {
            let now = Instant::now();
            let mut target = Connection::inbound(config(), state_server(20), key(2), random(2), now);
            let mut raw = RawPeer::connect(&mut target, vec![Capability::new("eth", 69), Capability::new("snap", 1)], now);
            raw.exchange_status(&mut target, now);
            let ready = matches!(events(&mut target).as_slice(), [Event::Ready { .. }]);
            prop_assert!(ready, "status exchange completes");
            for (code, body) in &messages {
                let bytes = raw.frame(*code, body);
                target.receive(now, &bytes);
                if target.is_closed() {
                    break;
                }
            }
            let events = events(&mut target);
            prop_assert_eq!(target.is_closed(), matches!(events.last(), Some(Event::Closed(_))));
            // Whatever the target sent back is well framed.
            raw.feed(&target.take_outgoing());
            while raw.next_message().is_some() {}
        }
    }
}
