//! Property tests: encode/decode identity, canonical bytes, exact lengths, agreement with the
//! oracle encoder.

use proptest::prelude::*;

use super::{oracle, strategies};
use crate::wire::{DecodeError, Limits, MessageId, SnapMessage, SnapVersion};

/// A version in which `id` exists.
fn version_for(id: MessageId) -> SnapVersion {
    if SnapVersion::V1.supports(id) { SnapVersion::V1 } else { SnapVersion::V2 }
}

fn decode(msg_id: MessageId, bytes: &[u8]) -> Result<SnapMessage, DecodeError> {
    SnapMessage::decode(version_for(msg_id), msg_id as u8, bytes, &Limits::default())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// encode -> decode is the identity, `encoded_len` is exact, and the bytes are exactly what
    /// the independent oracle writes from the spec layout.
    #[test]
    fn encode_decode_identity(msg in strategies::message()) {
        let mut bytes = vec![0xee]; // encode appends: keep a prefix to check that
        msg.encode(&mut bytes);
        prop_assert_eq!(bytes[0], 0xee);
        let bytes = bytes.split_off(1);
        prop_assert_eq!(bytes.len(), msg.encoded_len());
        prop_assert_eq!(&bytes, &oracle::encode(&msg));
        prop_assert_eq!(decode(msg.id(), &bytes), Ok(msg));
    }

    /// Decoding from a shared buffer gives what decoding from a slice gives, valid message or
    /// mutated one (same error), and the answer's byte strings are slices of that buffer:
    /// nothing was copied.
    #[test]
    fn shared_decode_agrees_and_copies_nothing(
        msg in strategies::message(),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        mutate in any::<bool>(),
    ) {
        let mut bytes = msg.to_vec();
        if mutate {
            let i = pos.index(bytes.len());
            bytes[i] = byte;
        }
        let shared = alloy_primitives::Bytes::from(bytes.clone());
        let version = version_for(msg.id());
        let from_shared =
            SnapMessage::decode_shared(version, msg.id() as u8, &shared, &Limits::default());
        prop_assert_eq!(&from_shared, &decode(msg.id(), &bytes));
        let inside = |blob: &alloy_primitives::Bytes| {
            blob.is_empty() || shared.as_ptr_range().contains(&blob.as_ptr())
        };
        match from_shared {
            Ok(SnapMessage::StorageRanges(m)) => {
                prop_assert!(m.slots.iter().flatten().all(|slot| inside(&slot.value)));
                prop_assert!(m.proof.iter().all(inside));
            }
            Ok(SnapMessage::AccountRange(m)) => prop_assert!(m.proof.iter().all(inside)),
            Ok(SnapMessage::ByteCodes(m)) => prop_assert!(m.codes.iter().all(inside)),
            _ => {}
        }
    }

    /// decode -> encode reproduces the input: for each valid message, every one-byte mutation
    /// that still decodes re-encodes to the mutated bytes (the encoding is canonical and the
    /// decoder accepts only canonical input), except for an `AccountRange` whose body the
    /// mutation may have turned into the accepted full form.
    #[test]
    fn decode_encode_reproduces_input(
        msg in strategies::message(),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = msg.to_vec();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(decoded) = decode(msg.id(), &bytes) {
            let again = decoded.to_vec();
            if !matches!(decoded, SnapMessage::AccountRange(_)) {
                prop_assert_eq!(&again, &bytes);
            }
            prop_assert_eq!(decode(msg.id(), &again), Ok(decoded));
        }
    }

    /// A valid message never decodes from a strict prefix of itself.
    #[test]
    fn truncation_is_rejected(msg in strategies::message(), cut in any::<prop::sample::Index>()) {
        let bytes = msg.to_vec();
        let len = cut.index(bytes.len());
        prop_assert!(decode(msg.id(), &bytes[..len]).is_err());
    }

    /// Each message type decodes from the oracle's bytes too (decoder checked independently of
    /// our encoder), and under its own per-type `decode`.
    #[test]
    fn decodes_oracle_bytes(msg in strategies::message()) {
        let bytes = oracle::encode(&msg);
        prop_assert_eq!(decode(msg.id(), &bytes), Ok(msg.clone()));
        let limits = Limits::default();
        let again = match &msg {
            SnapMessage::AccountRange(_) => {
                crate::wire::AccountRange::decode(&bytes, &limits).map(SnapMessage::AccountRange)
            }
            SnapMessage::StorageRanges(_) => {
                crate::wire::StorageRanges::decode(&bytes, &limits).map(SnapMessage::StorageRanges)
            }
            other => Ok(other.clone()),
        };
        prop_assert_eq!(again, Ok(msg));
    }
}
