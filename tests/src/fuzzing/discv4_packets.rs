//! `discv4_packets`: arbitrary datagrams into the discv4 decoder and into a discv4 node. Half
//! the inputs are signed with a fixed key (valid hash and signature over arbitrary type and
//! RLP), so the fuzzer reaches the message decoders and the node's handlers, not only the
//! signature check. Nothing may panic, and the node stays within its limits.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use alloy_primitives::keccak256;
use k256::{SecretKey, ecdsa::SigningKey};
use snap_tokio_adapter::discv4::{
    Discv4, Discv4Config, Discv4Limits, Endpoint,
    wire::{self, MAX_PACKET_SIZE},
};

fn signed(key: &SigningKey, body: &[u8]) -> Vec<u8> {
    let (signature, recovery) =
        key.sign_prehash_recoverable(keccak256(body).as_slice()).expect("signs a prehash");
    let mut packet = vec![0u8; 32];
    packet.extend_from_slice(&signature.to_bytes());
    packet.push(recovery.to_byte());
    packet.extend_from_slice(body);
    let hash = keccak256(&packet[32..]);
    packet[..32].copy_from_slice(hash.as_slice());
    packet
}

/// One input: the first byte's bit 0 says whether the rest is signed (its first byte then is
/// the packet type), bits 1-7 pick the source port; the rest is the datagram body.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let sender = SigningKey::from_slice(&[0x42; 32]).expect("a valid key");
    let packet = if mode & 1 == 1 { signed(&sender, rest) } else { rest.to_vec() };
    if let Ok(decoded) = wire::decode(&packet) {
        assert!(packet.len() <= MAX_PACKET_SIZE);
        let (again, _) = wire::encode(&sender, &decoded.message);
        // What decodes re-encodes to a packet that decodes to the same message.
        assert_eq!(wire::decode(&again).map(|p| p.message), Ok(decoded.message));
    }
    let key = SecretKey::from_slice(&[7; 32]).expect("a valid key");
    let endpoint = Endpoint { ip: Some([127, 0, 0, 1].into()), udp: 30303, tcp: 30303 };
    let mut config = Discv4Config::new(key, endpoint, None);
    config.accept_without_fork_id = true;
    let limits = Discv4Limits::default();
    let now = Instant::now();
    let mut node = Discv4::new(config, now, 1_136_239_000);
    let from = SocketAddr::from(([127, 0, 0, 1], 40000 + u16::from(mode >> 1)));
    for step in 0..3 {
        let at = now + Duration::from_millis(step * 400);
        node.handle_packet(at, from, &packet);
        node.handle_timeout(at);
        while node.poll_transmit().is_some() {}
    }
    let stats = node.stats();
    assert!(stats.pending <= limits.max_pending && stats.bonds <= limits.max_bonds);
    assert!(stats.table <= 1 && stats.verify_queue <= limits.max_verify_queue);
}
