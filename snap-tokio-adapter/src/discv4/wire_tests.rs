//! discv4 packets: EIP-8's vectors, round trips, and arbitrary bytes.

use std::net::SocketAddr;

use alloy_primitives::b512;
use proptest::prelude::*;

use super::*;

fn key(hex: &str) -> SigningKey {
    SigningKey::from_slice(&::hex::decode(hex).unwrap()).unwrap()
}

/// The key that signed EIP-8's discv4 vectors.
fn eip8_key() -> SigningKey {
    key("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
}

fn id_of(key: &SigningKey) -> NodeId {
    let point = key.verifying_key().to_encoded_point(false);
    NodeId::from_slice(&point.as_bytes()[1..])
}

fn endpoint(addr: &str, tcp: u16) -> Endpoint {
    let addr: SocketAddr = addr.parse().unwrap();
    Endpoint { ip: Some(addr.ip()), udp: addr.port(), tcp }
}

fn decode_hex(packet: &str) -> Packet {
    decode(&::hex::decode(packet).unwrap()).expect("an EIP-8 vector decodes")
}

// The discv4 packets of EIP-8 ("Forward compatibility", test vectors; also go-ethereum
// p2p/discover/v4wire/v4wire_test.go): extra list elements and fields must be ignored.
const PING_V4: &str = "71dbda3a79554728d4f94411e42ee1f8b0d561c10e1e5f5893367948c6a7d70bb87b235fa28a77070271b6c164a2dce8c7e13a5739b53b5e96f2e5acb0e458a02902f5965d55ecbeb2ebb6cabb8b2b232896a36b737666c55265ad0a68412f250001ea04cb847f000001820cfa8215a8d790000000000000000000000000000000018208ae820d058443b9a355";
const PING_EXTRA: &str = "e9614ccfd9fc3e74360018522d30e1419a143407ffcce748de3e22116b7e8dc92ff74788c0b6663aaa3d67d641936511c8f8d6ad8698b820a7cf9e1be7155e9a241f556658c55428ec0563514365799a4be2be5a685a80971ddcfa80cb422cdd0101ec04cb847f000001820cfa8215a8d790000000000000000000000000000000018208ae820d058443b9a3550102";
const FINDNODE_EXTRA: &str = "c7c44041b9f7c7e41934417ebac9a8e1a4c6298f74553f2fcfdcae6ed6fe53163eb3d2b52e39fe91831b8a927bf4fc222c3902202027e5e9eb812195f95d20061ef5cd31d502e47ecb61183f74a504fe04c51e73df81f25c4d506b26db4517490103f84eb840ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f8443b9a35582999983999999280dc62cc8255c73471e0a61da0c89acdc0e035e260add7fc0c04ad9ebf3919644c91cb247affc82b69bd2ca235c71eab8e49737c937a2c396";
const NEIGHBOURS_EXTRA: &str = "c679fc8fe0b8b12f06577f2e802d34f6fa257e6137a995f6f4cbfc9ee50ed3710faf6e66f932c4c8d81d64343f429651328758b47d3dbc02c4042f0fff6946a50f4a49037a72bb550f3a7872363a83e1b9ee6469856c24eb4ef80b7535bcf99c0004f9015bf90150f84d846321163782115c82115db8403155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32f84984010203040101b840312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d20951933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069dbf8599020010db83c4d001500000000abcdef12820d05820d05b84038643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aacf8599020010db885a308d313198a2e037073488203e78203e8b8408dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df738443b9a355010203b525a138aa34383fec3d2719a0";

#[test]
fn eip8_pings_decode_with_their_sender() {
    let want_from = endpoint("127.0.0.1:3322", 5544);
    let want_to = endpoint("[::1]:2222", 3333);
    let ping = decode_hex(PING_V4);
    assert_eq!(ping.node_id, id_of(&eip8_key()));
    assert_eq!(
        ping.message,
        Message::Ping {
            version: 4,
            from: want_from,
            to: want_to,
            expiration: 1_136_239_445,
            enr_seq: None
        }
    );
    // Extra elements: the first (1) reads as EIP-868's enr-seq, the rest is ignored.
    let ping = decode_hex(PING_EXTRA);
    assert_eq!(ping.node_id, id_of(&eip8_key()));
    assert_eq!(
        ping.message,
        Message::Ping {
            version: 4,
            from: want_from,
            to: want_to,
            expiration: 1_136_239_445,
            enr_seq: Some(1)
        }
    );
}

#[test]
fn eip8_findnode_and_neighbours_decode() {
    let findnode = decode_hex(FINDNODE_EXTRA);
    assert_eq!(findnode.node_id, id_of(&eip8_key()));
    assert_eq!(
        findnode.message,
        Message::FindNode {
            target: b512!(
                "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f"
            ),
            expiration: 1_136_239_445
        }
    );
    let neighbours = decode_hex(NEIGHBOURS_EXTRA);
    assert_eq!(neighbours.node_id, id_of(&eip8_key()));
    let Message::Neighbours { nodes, expiration } = neighbours.message else {
        panic!("not neighbours")
    };
    assert_eq!(expiration, 1_136_239_445);
    let want = [
        (
            "99.33.22.55:4444",
            4445,
            b512!(
                "3155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32"
            ),
        ),
        (
            "1.2.3.4:1",
            1,
            b512!(
                "312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d20951933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069db"
            ),
        ),
        (
            "[2001:db8:3c4d:15::abcd:ef12]:3333",
            3333,
            b512!(
                "38643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aac"
            ),
        ),
        (
            "[2001:db8:85a3:8d3:1319:8a2e:370:7348]:999",
            1000,
            b512!(
                "8dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df73"
            ),
        ),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(addr, tcp, id)| NodeRecord { endpoint: endpoint(addr, *tcp), id: *id })
        .collect();
    assert_eq!(nodes, want);
}

#[test]
fn tampered_vectors_are_refused() {
    let mut bytes = ::hex::decode(PING_V4).unwrap();
    // A flipped data byte breaks the hash.
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert_eq!(decode(&bytes), Err(WireError::Hash));
    // A fixed-up hash over a flipped signature byte recovers another key, or none.
    let mut bytes = ::hex::decode(PING_V4).unwrap();
    bytes[40] ^= 1;
    let hash = keccak256(&bytes[32..]);
    bytes[..32].copy_from_slice(hash.as_slice());
    match decode(&bytes) {
        Ok(packet) => assert_ne!(packet.node_id, id_of(&eip8_key())),
        Err(error) => assert_eq!(error, WireError::Signature),
    }
    assert_eq!(decode(&bytes[..97]), Err(WireError::Size(97)));
    assert_eq!(decode(&[0u8; MAX_PACKET_SIZE + 1]), Err(WireError::Size(MAX_PACKET_SIZE + 1)));
}

fn sample_enr(key: &SigningKey) -> Enr {
    let mut builder = enr::Enr::builder();
    builder.ip4([127, 0, 0, 1].into()).udp4(30303).tcp4(30303);
    builder.build(key).unwrap()
}

fn sample_messages() -> Vec<Message> {
    let v4 = endpoint("10.1.2.3:30303", 30304);
    let v6 = endpoint("[2001:db8::1]:30305", 30306);
    let nodes = (0..MAX_NEIGHBOURS_PER_PACKET)
        .map(|i| NodeRecord { endpoint: v6, id: B512::repeat_byte(i as u8) })
        .collect();
    vec![
        Message::Ping { version: 4, from: v4, to: v6, expiration: 7, enr_seq: Some(3) },
        Message::Ping { version: 4, from: v4, to: v4, expiration: 7, enr_seq: None },
        Message::Pong { to: v6, ping_hash: B256::repeat_byte(9), expiration: 8, enr_seq: Some(1) },
        Message::FindNode { target: B512::repeat_byte(5), expiration: u64::MAX },
        Message::Neighbours { nodes, expiration: 1 },
        Message::Neighbours { nodes: Vec::new(), expiration: 1 },
        Message::EnrRequest { expiration: 2 },
        Message::EnrResponse {
            request_hash: B256::repeat_byte(4),
            enr: Box::new(sample_enr(&key(&"11".repeat(32)))),
        },
    ]
}

#[test]
fn every_message_round_trips_signed_and_fits_a_packet() {
    let sender = key(&"42".repeat(32));
    for message in sample_messages() {
        let (bytes, hash) = encode(&sender, &message);
        assert!(bytes.len() <= MAX_PACKET_SIZE, "{} bytes: {message:?}", bytes.len());
        let packet = decode(&bytes).unwrap();
        assert_eq!(packet.hash, hash);
        assert_eq!(packet.node_id, id_of(&sender));
        assert_eq!(packet.message, message);
    }
}

#[test]
fn an_enr_with_a_forged_signature_is_refused() {
    let enr = sample_enr(&key(&"11".repeat(32)));
    let mut raw = alloy_rlp::encode(&enr);
    // The signature is the first element: flip one of its bytes.
    raw[5] ^= 1;
    let mut buf = &raw[..];
    assert!(Enr::decode(&mut buf).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = decode(&bytes);
    }

    /// Valid hash and signature over arbitrary data: the decoder must refuse or decode,
    /// never panic, whatever the type byte and RLP.
    #[test]
    fn signed_garbage_never_panics(kind in 0u8..8, data in proptest::collection::vec(any::<u8>(), 0..1100)) {
        let sender = key(&"42".repeat(32));
        let mut signed = vec![kind];
        signed.extend_from_slice(&data);
        let (signature, recovery) =
            sender.sign_prehash_recoverable(keccak256(&signed).as_slice()).unwrap();
        let mut packet = vec![0u8; 32];
        packet.extend_from_slice(&signature.to_bytes());
        packet.push(recovery.to_byte());
        packet.extend_from_slice(&signed);
        let hash = keccak256(&packet[32..]);
        packet[..32].copy_from_slice(hash.as_slice());
        if let Ok(decoded) = decode(&packet) {
            prop_assert_eq!(decoded.node_id, id_of(&sender));
        }
    }

    /// Mutating a valid packet's RLP never panics the decoder.
    #[test]
    fn mutated_packets_never_panic(index in 0usize..8, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let sender = key(&"42".repeat(32));
        let messages = sample_messages();
        let (mut bytes, _) = encode(&sender, &messages[index % messages.len()]);
        let position = 98 + at.index(bytes.len() - 98);
        bytes[position] = byte;
        let hash = keccak256(&bytes[32..]);
        bytes[..32].copy_from_slice(hash.as_slice());
        let _ = decode(&bytes);
    }
}
