//! `rlpx_frames`: arbitrary bytes into the RLPx frame decoder after a handshake set up
//! deterministically from fixed keys. It must never panic. Half the inputs start with genuine
//! frames (built from the input) so the fuzzer also reaches the states after a valid frame, and
//! every frame that opens goes on through the p2p message codec and the eth/p2p decoders.

use std::sync::OnceLock;

use snap_tokio_adapter::{
    eth::{BlockHeaders, EthVersion, GetBlockHeaders, Status},
    p2p::{DisconnectReason, Hello, MessageCodec},
    rlpx::{Secrets, fixed_handshake, frame_codecs},
};

/// (initiator, recipient) secrets of one fixed handshake.
fn secrets() -> &'static (Secrets, Secrets) {
    static SECRETS: OnceLock<(Secrets, Secrets)> = OnceLock::new();
    SECRETS.get_or_init(fixed_handshake)
}

/// One input: the first byte picks how many genuine frames lead (bits 0-1), the feeding chunk
/// size (bits 2-6) and Snappy (bit 7); genuine frames take a length byte and their payload from
/// what follows, and the rest is fed raw.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (initiator, recipient) = secrets();
    let (mut encoder, _) = frame_codecs(initiator, 1 << 16);
    let (_, mut decoder) = frame_codecs(recipient, 1 << 16);
    let mut input = Vec::new();
    let mut tail = rest;
    // Genuine frames first: each takes a length byte and that many payload bytes.
    for _ in 0..(mode & 0x03) {
        let Some((&len, after)) = tail.split_first() else { break };
        let len = usize::from(len).min(after.len()).max(1);
        let Some(payload) = after.get(..len) else { break };
        encoder.encode(payload, &mut input).expect("fits");
        tail = &after[len..];
    }
    input.extend_from_slice(tail);
    // Feed in chunks whose size the mode picks, draining frames after each.
    let chunk = usize::from(mode >> 2).max(1);
    let codec = MessageCodec { snappy: mode & 0x80 != 0, max_size: 1 << 16 };
    for piece in input.chunks(chunk) {
        decoder.feed(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let Ok((id, body)) = codec.decode(&frame) else { continue };
                    let _ = match id {
                        0 => Hello::decode_data(&body).map(drop).map_err(drop),
                        1 => {
                            let _ = DisconnectReason::decode_data(&body);
                            Ok(())
                        }
                        0x10 => Status::decode_data(EthVersion::V69, &body).map(drop).map_err(drop),
                        0x13 => GetBlockHeaders::decode_data(&body).map(drop).map_err(drop),
                        _ => BlockHeaders::decode_data(&body).map(drop).map_err(drop),
                    };
                }
                Ok(None) => break,
                Err(_) => {
                    // Errors are sticky.
                    assert!(decoder.next_frame().is_err());
                    return;
                }
            }
        }
    }
}
