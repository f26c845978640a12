//! RLPx tests: the EIP-8 vectors byte for byte, handshake round trips, frame properties.

use alloy_primitives::{B256, b256};
use k256::SecretKey;
use proptest::prelude::*;

use super::{vectors::*, *};

const STATIC_A: B256 = b256!("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee");
const STATIC_B: B256 = b256!("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291");
const EPHEMERAL_A: B256 = b256!("869d6ecf5211f1cc60418a13b9d870b22959d0c16f02bec714c960dd2298a32d");
const EPHEMERAL_B: B256 = b256!("e238eb8e04fee6511ab04c6dd3c89ce097b11f25d584863ac2b6d5b35b1847e4");
const NONCE_A: B256 = b256!("7e968bba13b6c50e2c4cd7f241cc0d64d1ac25c7f5952df231ac6a2bda8ee5d6");
const NONCE_B: B256 = b256!("559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd");
const AES_SECRET: B256 = b256!("80e8632c05fed6fc2a13b0f8d31a3cf645366239170ea067065aba8e28bac487");
const MAC_SECRET: B256 = b256!("2ea74ec5dae199227dff1af715362700e989d889d7a493cb0639691efb8e5f98");
const INGRESS_FOO: B256 = b256!("0c7ec6340062cc46f5e9f1e3cf86f8c8c403c5a0964f5df0ebd34a75ddc86db5");

fn secret(bytes: B256) -> SecretKey {
    SecretKey::from_slice(bytes.as_slice()).expect("vector keys are valid scalars")
}

fn hex(s: &str) -> Vec<u8> {
    ::hex::decode(s).expect("vector hex")
}

fn random(ephemeral: B256, nonce: B256, seed: u8) -> HandshakeRandom {
    HandshakeRandom {
        ephemeral_key: secret(ephemeral),
        nonce,
        ecies_key: secret(B256::repeat_byte(seed)),
        ecies_iv: [seed; 16],
        padding: vec![seed; 100 + usize::from(seed)],
    }
}

fn recipient_b() -> Handshake {
    Handshake::recipient(secret(STATIC_B), random(EPHEMERAL_B, NONCE_B, 0x11))
}

fn id_of(key: B256) -> NodeId {
    node_id(&secret(key).public_key())
}

#[test]
fn eip8_recipient_accepts_every_auth_and_derives_the_published_secrets() {
    for (name, auth, eip8) in
        [("auth1", AUTH1, false), ("auth2", AUTH2, true), ("auth3", AUTH3, true)]
    {
        let packet = hex(auth);
        let outcome = recipient_b().feed(&packet).expect(name).expect(name);
        assert_eq!(outcome.secrets.remote_id, id_of(STATIC_A), "{name}");
        assert_eq!(outcome.secrets.aes_secret, AES_SECRET, "{name}");
        assert_eq!(outcome.secrets.mac_secret, MAC_SECRET, "{name}");
        assert!(outcome.leftover.is_empty(), "{name}");
        // The ack answers in the format of the auth: legacy size or an EIP-8 size prefix.
        assert_eq!(outcome.reply.first() == Some(&4), !eip8, "{name}");
        if name == "auth2" {
            let mut ingress = outcome.secrets.ingress_mac();
            ingress.update(b"foo");
            assert_eq!(ingress.finalize(), INGRESS_FOO);
        }
    }
}

#[test]
fn eip8_recipient_accepts_auth_split_into_single_bytes() {
    let packet = hex(AUTH3);
    let mut machine = recipient_b();
    let (last, head) = packet.split_last().expect("non-empty");
    for byte in head {
        assert!(machine.feed(&[*byte]).expect("partial input is fine").is_none());
    }
    let outcome = machine.feed(&[*last]).expect("complete").expect("complete");
    assert_eq!(outcome.secrets.aes_secret, AES_SECRET);
}

#[test]
fn eip8_initiator_accepts_every_ack_and_derives_the_published_secrets() {
    for (name, ack) in [("ack1", ACK1), ("ack2", ACK2), ("ack3", ACK3)] {
        let (mut machine, _auth) = Handshake::initiator(
            secret(STATIC_A),
            &id_of(STATIC_B),
            random(EPHEMERAL_A, NONCE_A, 0x22),
        )
        .expect("valid remote");
        let mut bytes = hex(ack);
        bytes.extend_from_slice(b"frames follow");
        let outcome = machine.feed(&bytes).expect(name).expect(name);
        assert_eq!(outcome.secrets.remote_id, id_of(STATIC_B), "{name}");
        assert_eq!(outcome.secrets.aes_secret, AES_SECRET, "{name}");
        assert_eq!(outcome.secrets.mac_secret, MAC_SECRET, "{name}");
        assert_eq!(outcome.leftover, b"frames follow", "{name}");
        assert!(outcome.reply.is_empty());
    }
}

/// The RLP list at the start of an EIP-8 packet's plaintext (padding dropped).
fn eip8_body(packet: &[u8], key: B256) -> Vec<u8> {
    let plain = ecies_decrypt(&secret(key), &packet[2..], &packet[..2]).expect("decrypts");
    let header = alloy_rlp::Header::decode(&mut &plain[..]).expect("rlp list");
    plain[..header.length_with_payload()].to_vec()
}

#[test]
fn eip8_our_packets_carry_the_published_bodies_byte_for_byte() {
    // With the vector's keys and nonces our auth body equals Auth2's except for the signature
    // (whose ECDSA nonce is the signer's choice; both recover to ephemeral key A, which the
    // derived secrets above prove for Auth2 and the round trip below for ours), and our ack
    // body equals Ack2's exactly. Only ECIES randomness and padding differ.
    let (_, auth) = Handshake::initiator(
        secret(STATIC_A),
        &id_of(STATIC_B),
        random(EPHEMERAL_A, NONCE_A, 0x22),
    )
    .expect("valid remote");
    let (ours, theirs) = (eip8_body(&auth, STATIC_B), eip8_body(&hex(AUTH2), STATIC_B));
    // [f8 a7] [b8 41 sig(65)] [b8 40 pubkey(64)] [a0 nonce(32)] [04]
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(ours[..4], theirs[..4]);
    assert_eq!(ours[4 + 65..], theirs[4 + 65..]);
    let mut recipient = recipient_b();
    let outcome = recipient.feed(&auth).expect("our auth").expect("our auth");
    assert_eq!(outcome.secrets.aes_secret, AES_SECRET, "our signature recovers ephemeral key A");
    let outcome = recipient_b().feed(&hex(AUTH2)).expect("auth2").expect("auth2");
    assert_eq!(eip8_body(&outcome.reply, STATIC_A), eip8_body(&hex(ACK2), STATIC_A));
}

/// Runs a handshake between fresh initiator and recipient, returning (initiator, recipient).
fn handshake_pair(seed: u8) -> (Secrets, Secrets) {
    let a = B256::repeat_byte(seed.wrapping_add(1));
    let b = B256::repeat_byte(seed.wrapping_add(2));
    let (mut initiator, auth) = Handshake::initiator(
        secret(a),
        &id_of(b),
        random(B256::repeat_byte(3), B256::repeat_byte(4), 5),
    )
    .expect("valid");
    let mut recipient =
        Handshake::recipient(secret(b), random(B256::repeat_byte(6), B256::repeat_byte(7), 8));
    let outcome = recipient.feed(&auth).expect("auth").expect("auth");
    let done = initiator.feed(&outcome.reply).expect("ack").expect("ack");
    (done.secrets, outcome.secrets)
}

#[test]
fn round_trip_agrees_on_secrets_and_cross_wires_macs() {
    let (a, b) = handshake_pair(0x40);
    assert_eq!(a.aes_secret, b.aes_secret);
    assert_eq!(a.mac_secret, b.mac_secret);
    assert_eq!(a.remote_id, id_of(B256::repeat_byte(0x42)));
    assert_eq!(b.remote_id, id_of(B256::repeat_byte(0x41)));
    assert_eq!(a.egress_mac().finalize(), b.ingress_mac().finalize());
    assert_eq!(a.ingress_mac().finalize(), b.egress_mac().finalize());
    assert_ne!(a.egress_mac().finalize(), a.ingress_mac().finalize());
}

#[test]
fn handshake_rejects_garbage_oversize_and_input_after_the_end() {
    assert_eq!(
        recipient_b().feed(&[0xff, 0xff]).expect_err("too large"),
        RlpxError::HandshakeSize(0xffff)
    );
    let mut garbage = vec![0x01, 0x80];
    garbage.extend(std::iter::repeat_n(0xab, 0x180));
    assert!(recipient_b().feed(&garbage).is_err());
    // A tampered auth fails its ECIES tag.
    let mut tampered = hex(AUTH2);
    tampered[100] ^= 1;
    assert_eq!(recipient_b().feed(&tampered).expect_err("tampered"), RlpxError::EciesBadTag);
    // An auth for someone else does not decrypt.
    let (mut initiator_a, _) =
        Handshake::initiator(secret(STATIC_A), &id_of(STATIC_B), random(EPHEMERAL_A, NONCE_A, 1))
            .expect("valid");
    assert!(initiator_a.feed(&hex(AUTH2)).is_err());
    let mut machine = recipient_b();
    machine.feed(&hex(AUTH2)).expect("ok").expect("done");
    assert_eq!(machine.feed(&hex(AUTH2)).expect_err("replayed"), RlpxError::HandshakeFinished);
}

fn codecs(seed: u8, max: usize) -> ((FrameEncoder, FrameDecoder), (FrameEncoder, FrameDecoder)) {
    let (a, b) = handshake_pair(seed);
    (frame_codecs(&a, max), frame_codecs(&b, max))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frames_round_trip_in_both_directions_whatever_the_chunking(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..600), 1..8),
        chunk in 1usize..97,
    ) {
        let ((mut a_enc, mut a_dec), (mut b_enc, mut b_dec)) = codecs(9, 1024);
        let mut wire = Vec::new();
        for payload in &payloads {
            a_enc.encode(payload, &mut wire)?;
        }
        let mut received = Vec::new();
        for piece in wire.chunks(chunk) {
            b_dec.feed(piece);
            while let Some(frame) = b_dec.next_frame()? {
                received.push(frame);
            }
        }
        prop_assert_eq!(&received, &payloads);
        prop_assert_eq!(b_dec.buffered(), 0);
        // And back, on the other stream.
        let mut back = Vec::new();
        for payload in &payloads {
            b_enc.encode(payload, &mut back)?;
        }
        a_dec.feed(&back);
        for payload in &payloads {
            prop_assert_eq!(a_dec.next_frame()?, Some(payload.clone()));
        }
    }

    #[test]
    fn any_flipped_bit_is_a_mac_error_never_a_frame(
        payload in proptest::collection::vec(any::<u8>(), 1..200),
        position in any::<usize>(),
        bit in 0u8..8,
    ) {
        let ((mut enc, _), (_, mut dec)) = codecs(10, 1024);
        let mut wire = Vec::new();
        enc.encode(&payload, &mut wire)?;
        let at = position % wire.len();
        wire[at] ^= 1 << bit;
        dec.feed(&wire);
        let error = dec.next_frame().expect_err("tampering must be detected");
        prop_assert!(matches!(error, RlpxError::HeaderMac | RlpxError::FrameMac), "{error:?}");
        prop_assert_eq!(dec.next_frame().expect_err("sticky"), RlpxError::DecoderFailed);
    }

    #[test]
    fn truncated_frames_wait_for_more_and_never_yield(
        payload in proptest::collection::vec(any::<u8>(), 1..200),
        cut in any::<usize>(),
    ) {
        let ((mut enc, _), (_, mut dec)) = codecs(11, 1024);
        let mut wire = Vec::new();
        enc.encode(&payload, &mut wire)?;
        let cut = cut % wire.len();
        dec.feed(&wire[..cut]);
        prop_assert_eq!(dec.next_frame()?, None);
        prop_assert!(dec.wanted() > 0);
        dec.feed(&wire[cut..]);
        prop_assert_eq!(dec.next_frame()?, Some(payload));
    }
}

#[test]
fn oversize_frames_are_refused_on_both_sides() {
    let ((mut enc, _), (_, mut dec)) = codecs(12, 64);
    let mut wire = Vec::new();
    assert_eq!(
        enc.encode(&[1; 65], &mut wire).expect_err("too large"),
        RlpxError::FrameTooLarge { len: 65, max: 64 }
    );
    assert_eq!(enc.encode(&[], &mut wire).expect_err("empty"), RlpxError::EmptyFrame);
    // A sender with a larger bound: the receiver refuses at the header, before the body.
    let (a, b) = handshake_pair(12);
    let (mut big_enc, _) = frame_codecs(&a, 1 << 20);
    let (_, mut small_dec) = frame_codecs(&b, 64);
    big_enc.encode(&[7; 1000], &mut wire).expect("fits its own bound");
    small_dec.feed(&wire[..32]);
    assert_eq!(
        small_dec.next_frame().expect_err("oversize"),
        RlpxError::FrameTooLarge { len: 1000, max: 64 }
    );
    drop(dec.next_frame());
}
