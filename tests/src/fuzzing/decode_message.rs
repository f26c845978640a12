//! `decode_message`: arbitrary bytes decoded as any snap message of either version. Decoding
//! must never panic; whatever decodes must re-encode canonically and decode to the same value,
//! and decoding from a shared buffer must agree.

use snap_core::wire::{Limits, SnapMessage, SnapVersion};

/// One input: the first byte picks the version (bit 7), small limits (bit 6) and the message
/// id (the low bits); the rest is the message body.
pub fn check(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let version = if selector & 0x80 == 0 { SnapVersion::V1 } else { SnapVersion::V2 };
    let id = selector & 0x7f;
    // Small limits half of the time, so the limit paths are exercised too.
    let limits = if selector & 0x40 == 0 {
        Limits::default()
    } else {
        Limits {
            max_message_bytes: 4096,
            max_proof_nodes: 4,
            max_list_items: 16,
            max_message_items: 64,
        }
    };
    let decoded = SnapMessage::decode(version, id, bytes, &limits);
    // Decoding from a shared buffer (slices instead of copies) gives the same result.
    let shared = alloy_primitives::Bytes::copy_from_slice(bytes);
    assert_eq!(SnapMessage::decode_shared(version, id, &shared, &limits), decoded);
    let Ok(message) = decoded else { return };
    assert_eq!(message.id() as u8, id);
    assert!(version.supports(message.id()));
    let encoded = message.to_vec();
    assert_eq!(encoded.len(), message.encoded_len());
    // The decoder accepts only canonical input, except full-form account bodies.
    if !matches!(message, SnapMessage::AccountRange(_)) {
        assert_eq!(encoded, bytes, "re-encoding differs from the accepted input");
    }
    // Re-encoding can only shrink (slim accounts), so the same limits hold.
    let again = SnapMessage::decode(version, id, &encoded, &limits).expect("re-encoding decodes");
    assert_eq!(again, message);
    assert_eq!(again.to_vec(), encoded);
}
