//! Shared fixtures: a small served state, node configurations, a sans-IO connection pair and
//! a hand-driven "raw" peer that can send anything.

#![allow(dead_code, unreachable_pub)]

use std::{sync::Arc, time::Instant};

use alloy_primitives::{B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use k256::SecretKey;
use snap_core::serve::{InMemoryState, ServeLimits};
use snap_tokio_adapter::{
    connection::{Connection, ConnectionConfig, Event},
    eth::{ChainInfo, EthVersion},
    forkid::ForkSchedule,
    p2p::{Capability, HELLO_ID, Hello, MessageCodec},
    rlpx::{
        FrameDecoder, FrameEncoder, Handshake, HandshakeRandom, NodeId, fixed_key, frame_codecs,
        node_id,
    },
    server::{Server, StateServer},
};

pub fn key(byte: u8) -> SecretKey {
    fixed_key(byte)
}

pub fn id(byte: u8) -> NodeId {
    node_id(&key(byte).public_key())
}

pub fn random(seed: u8) -> HandshakeRandom {
    HandshakeRandom::from_seed(seed)
}

pub fn chain_info() -> ChainInfo {
    ChainInfo {
        network_id: 1337,
        forks: ForkSchedule::new(B256::repeat_byte(0x99), 0, [], [60, 120]),
        head_number: 600,
        head_time: 6000,
        head_hash: B256::repeat_byte(0x60),
        total_difficulty: U256::from(131_072u64),
        earliest_block: 0,
    }
}

pub fn config() -> Arc<ConnectionConfig> {
    Arc::new(ConnectionConfig::new(chain_info()))
}

/// A state of `n` accounts (no storage, no code).
pub fn state(n: u64) -> InMemoryState {
    let mut accounts: Vec<(B256, TrieAccount)> = (0..n)
        .map(|i| {
            let account = TrieAccount {
                nonce: i,
                balance: U256::from(i * 1000 + 1),
                storage_root: EMPTY_ROOT_HASH,
                code_hash: KECCAK_EMPTY,
            };
            (keccak256(i.to_be_bytes()), account)
        })
        .collect();
    accounts.sort_by_key(|(hash, _)| *hash);
    InMemoryState::from_sorted(accounts, Vec::new(), Vec::new()).expect("sorted")
}

pub fn state_server(n: u64) -> Arc<StateServer> {
    Arc::new(StateServer { state: state(n), chain: None, limits: ServeLimits::default() })
}

/// Serves every queued peer request of `c` inline (what a session does on its pool).
pub fn serve_pending(c: &mut Connection, now: Instant) {
    while let Some(job) = c.next_serve_job() {
        let result = job.run();
        c.answer(now, result).expect("serving");
    }
}

/// Moves bytes between two connections (serving their requests inline) until both are
/// quiet.
pub fn drive(a: &mut Connection, b: &mut Connection, now: Instant) {
    for _ in 0..64 {
        serve_pending(a, now);
        serve_pending(b, now);
        let to_b = a.take_outgoing();
        let to_a = b.take_outgoing();
        if to_b.is_empty() && to_a.is_empty() {
            return;
        }
        b.receive(now, &to_b);
        a.receive(now, &to_a);
    }
    panic!("connections did not settle");
}

pub fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// A dialer `a` (key 1) and a listener `b` (key 2) with the given servers and configs.
pub fn pair_with(
    config_a: Arc<ConnectionConfig>,
    config_b: Arc<ConnectionConfig>,
    server_a: Arc<dyn Server>,
    server_b: Arc<dyn Server>,
    now: Instant,
) -> (Connection, Connection) {
    let a = Connection::outbound(config_a, server_a, key(1), &id(2), random(1), now).expect("dial");
    let b = Connection::inbound(config_b, server_b, key(2), random(2), now);
    (a, b)
}

/// A peer driven by hand: it speaks RLPx and p2p correctly and sends whatever a test asks.
pub struct RawPeer {
    pub encoder: FrameEncoder,
    pub decoder: FrameDecoder,
    pub codec: MessageCodec,
    pub auth: Vec<u8>,
}

impl RawPeer {
    /// Dials `target` (which has key 2) through the RLPx handshake and Hello exchange.
    pub fn connect(target: &mut Connection, capabilities: Vec<Capability>, now: Instant) -> Self {
        let (mut handshake, auth) =
            Handshake::initiator(key(9), &id(2), random(9)).expect("valid target");
        target.receive(now, &auth);
        let reply = target.take_outgoing();
        let outcome = handshake.feed(&reply).expect("ack").expect("complete");
        let (encoder, mut decoder) = frame_codecs(&outcome.secrets, 1 << 24);
        decoder.feed(&outcome.leftover);
        let mut peer = Self { encoder, decoder, codec: MessageCodec::default(), auth };
        let (code, data) = peer.next_message().expect("target's hello");
        assert_eq!(code, HELLO_ID);
        let their_hello = Hello::decode_data(&data).expect("hello decodes");
        assert_eq!(their_hello.id, id(2));
        let hello = Hello {
            protocol_version: 5,
            client_id: "raw".into(),
            capabilities,
            listen_port: 0,
            id: id(9),
        };
        let bytes = peer.frame(HELLO_ID, &hello.encode_data());
        target.receive(now, &bytes);
        peer.codec.snappy = true;
        peer
    }

    /// The frame bytes for message `code` with `data`.
    pub fn frame(&mut self, code: u64, data: &[u8]) -> Vec<u8> {
        let codec = if code == HELLO_ID {
            MessageCodec { snappy: false, ..self.codec }
        } else {
            self.codec
        };
        let payload = codec.encode(code, data).expect("encodes");
        let mut out = Vec::new();
        self.encoder.encode(&payload, &mut out).expect("frames");
        out
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.decoder.feed(bytes);
    }

    pub fn next_message(&mut self) -> Option<(u64, Vec<u8>)> {
        let frame = self.decoder.next_frame().expect("target frames are valid")?;
        Some(self.codec.decode(&frame).expect("target messages decode"))
    }

    /// Completes Status with `target` (eth/69 at offset 0x10) and returns the messages seen.
    pub fn exchange_status(&mut self, target: &mut Connection, now: Instant) {
        let bytes = target.take_outgoing();
        self.feed(&bytes);
        let (code, _) = self.next_message().expect("status");
        assert_eq!(code, 0x10);
        let status = chain_info().status(EthVersion::V69).encode_data(EthVersion::V69);
        let bytes = self.frame(0x10, &status);
        target.receive(now, &bytes);
    }
}

/// hivechain's genesis file and its header chain (600 linked blocks), or `None` (with a loud
/// skip notice naming `test`) when the test data is absent.
pub fn hivechain(
    test: &str,
) -> Option<(serde_json::Value, snap_tokio_adapter::chain::HeaderChain)> {
    use snap_tokio_adapter::chain::{HeaderChain, decode_chain_file, genesis_header};
    let dir = snap_sim::testdata::hivechain_dir(test)?;
    let genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("genesis.json")).expect("genesis"))
            .expect("json");
    let blocks = decode_chain_file(&std::fs::read(dir.join("chain.rlp")).expect("chain.rlp"))
        .expect("chain decodes");
    let chain = HeaderChain::new(genesis_header(&genesis).expect("genesis header"), blocks)
        .expect("the genesis built from genesis.json is block 1's parent, and all blocks link");
    Some((genesis, chain))
}
