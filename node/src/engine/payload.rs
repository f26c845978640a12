//! Checks a node can run on a payload without its parent state: the transactions decode, the
//! blob versioned hashes match the expected ones (the spec has this run even while syncing), the
//! execution requests are well formed, and the block hash equals the hash of the header rebuilt
//! from the payload's fields and the sidecar. A consensus client is trusted, but a payload whose
//! hash does not follow from its fields must never become a sync target.

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::Bytes;
use alloy_rpc_types_engine::{ExecutionPayload, ExecutionPayloadSidecar};
use snap_core::sync::Header;

use super::anchors::PayloadHeader;

/// Why a payload is `INVALID` (the `validationError` of the answer).
pub(crate) type Invalid = String;

/// Checks `payload` with `sidecar` (and, from `engine_newPayloadV3` on, the expected blob
/// versioned hashes) and returns its header.
pub(crate) fn check_payload(
    payload: ExecutionPayload,
    sidecar: &ExecutionPayloadSidecar,
) -> Result<PayloadHeader, Invalid> {
    let claimed = payload.block_hash();
    let mut blob_hashes = Vec::new();
    for (index, raw) in payload.transactions().iter().enumerate() {
        let tx = TxEnvelope::decode_2718_exact(raw)
            .map_err(|error| format!("transaction {index} does not decode: {error}"))?;
        blob_hashes.extend_from_slice(tx.blob_versioned_hashes().unwrap_or_default());
    }
    if let Some(expected) = sidecar.versioned_hashes()
        && *expected != blob_hashes
    {
        return Err(format!(
            "blob versioned hashes mismatch: expected {} hashes, the transactions carry {}{}",
            expected.len(),
            blob_hashes.len(),
            if expected.len() == blob_hashes.len() { " (different ones)" } else { "" }
        ));
    }
    let block = payload.into_block_with_sidecar_raw(sidecar).map_err(|error| error.to_string())?;
    let hash = block.header.hash_slow();
    if hash != claimed {
        return Err(format!("blockhash mismatch, want {claimed}, got {hash}"));
    }
    let header = &block.header;
    Ok(PayloadHeader {
        header: Header {
            number: header.number,
            hash,
            parent_hash: header.parent_hash,
            state_root: header.state_root,
            bal_hash: None,
        },
        timestamp: header.timestamp,
    })
}

/// The `engine_newPayloadV4` rule for `executionRequests`: each element a type byte and
/// non-empty data, types strictly ascending. `Err` is the message of a `-32602` answer.
pub(crate) fn check_requests(requests: &[Bytes]) -> Result<(), String> {
    let mut previous: Option<u8> = None;
    for (index, request) in requests.iter().enumerate() {
        if request.len() <= 1 {
            return Err(format!("execution request {index} has no request data"));
        }
        let kind = request[0];
        if previous.is_some_and(|previous| previous >= kind) {
            return Err(format!("execution request {index} (type {kind}) is out of order"));
        }
        previous = Some(kind);
    }
    Ok(())
}

/// The hash a header with these fields would need for `check_payload` to pass: used by tests to
/// build consistent payloads.
#[cfg(test)]
pub(crate) fn rehash(
    payload: &ExecutionPayload,
    sidecar: &ExecutionPayloadSidecar,
) -> alloy_primitives::B256 {
    payload.clone().into_block_with_sidecar_raw(sidecar).expect("valid fields").header.hash_slow()
}

#[cfg(test)]
mod tests {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEip4844};
    use alloy_primitives::{Address, B256, Signature, U256};
    use alloy_rpc_types_engine::{
        CancunPayloadFields, ExecutionPayloadV1, ExecutionPayloadV2, ExecutionPayloadV3,
        PraguePayloadFields,
    };

    use super::*;

    fn signature() -> Signature {
        Signature::new(U256::from(1u64), U256::from(2u64), false)
    }

    fn blob_tx(hashes: Vec<B256>) -> Bytes {
        let tx = TxEip4844 { blob_versioned_hashes: hashes, ..Default::default() };
        let signed = tx.into_signed(signature());
        TxEnvelope::Eip4844(signed.into()).encoded_2718().into()
    }

    fn plain_tx() -> Bytes {
        let signed = TxEip1559 { nonce: 7, ..Default::default() }.into_signed(signature());
        TxEnvelope::Eip1559(signed).encoded_2718().into()
    }

    use alloy_eips::eip2718::Encodable2718;

    fn v3(transactions: Vec<Bytes>) -> ExecutionPayloadV3 {
        ExecutionPayloadV3 {
            payload_inner: ExecutionPayloadV2 {
                payload_inner: ExecutionPayloadV1 {
                    parent_hash: B256::repeat_byte(1),
                    fee_recipient: Address::repeat_byte(2),
                    state_root: B256::repeat_byte(3),
                    receipts_root: B256::repeat_byte(4),
                    logs_bloom: Default::default(),
                    prev_randao: B256::repeat_byte(5),
                    block_number: 1234,
                    gas_limit: 30_000_000,
                    gas_used: 21_000,
                    timestamp: 1_700_000_000,
                    extra_data: Bytes::from_static(b"snap"),
                    base_fee_per_gas: U256::from(7u64),
                    block_hash: B256::ZERO,
                    transactions,
                },
                withdrawals: vec![],
            },
            blob_gas_used: 131_072,
            excess_blob_gas: 0,
        }
    }

    fn sealed(
        mut payload: ExecutionPayloadV3,
        sidecar: &ExecutionPayloadSidecar,
    ) -> ExecutionPayload {
        let hash = rehash(&ExecutionPayload::V3(payload.clone()), sidecar);
        payload.payload_inner.payload_inner.block_hash = hash;
        ExecutionPayload::V3(payload)
    }

    #[test]
    fn a_consistent_prague_payload_yields_its_header() {
        let blobs = vec![B256::repeat_byte(0x01), B256::repeat_byte(0x02)];
        let requests = vec![Bytes::from_static(&[0, 1, 2]), Bytes::from_static(&[2, 9])];
        let sidecar = ExecutionPayloadSidecar::v4(
            CancunPayloadFields::new(B256::repeat_byte(9), blobs.clone()),
            PraguePayloadFields::new(requests),
        );
        let payload = sealed(v3(vec![plain_tx(), blob_tx(blobs)]), &sidecar);
        let hash = payload.block_hash();
        let header = check_payload(payload, &sidecar).unwrap();
        assert_eq!(header.header.hash, hash);
        assert_eq!(header.header.number, 1234);
        assert_eq!(header.header.parent_hash, B256::repeat_byte(1));
        assert_eq!(header.header.state_root, B256::repeat_byte(3));
        assert_eq!(header.timestamp, 1_700_000_000);
    }

    #[test]
    fn a_hash_that_does_not_follow_from_the_fields_is_invalid() {
        let sidecar = ExecutionPayloadSidecar::v3(CancunPayloadFields::new(B256::ZERO, vec![]));
        let good = sealed(v3(vec![plain_tx()]), &sidecar);
        // Any changed field, or a different beacon root in the sidecar, breaks the hash.
        let ExecutionPayload::V3(mut changed) = good.clone() else { unreachable!() };
        changed.payload_inner.payload_inner.state_root = B256::repeat_byte(0xee);
        let error = check_payload(ExecutionPayload::V3(changed), &sidecar).unwrap_err();
        assert!(error.starts_with("blockhash mismatch"), "{error}");
        let other_root =
            ExecutionPayloadSidecar::v3(CancunPayloadFields::new(B256::repeat_byte(1), vec![]));
        assert!(check_payload(good.clone(), &other_root).is_err());
        assert!(check_payload(good, &sidecar).is_ok());
    }

    #[test]
    fn blob_hashes_must_match_the_transactions() {
        let carried = vec![B256::repeat_byte(0x01)];
        for expected in [vec![], vec![B256::repeat_byte(0x02)], vec![carried[0], carried[0]]] {
            let sidecar =
                ExecutionPayloadSidecar::v3(CancunPayloadFields::new(B256::ZERO, expected));
            let payload = sealed(v3(vec![blob_tx(carried.clone())]), &sidecar);
            let error = check_payload(payload, &sidecar).unwrap_err();
            assert!(error.starts_with("blob versioned hashes mismatch"), "{error}");
        }
    }

    #[test]
    fn an_undecodable_transaction_is_invalid() {
        let sidecar = ExecutionPayloadSidecar::v3(CancunPayloadFields::new(B256::ZERO, vec![]));
        let payload = sealed(v3(vec![Bytes::from_static(&[0x02, 0xc0, 0x01])]), &sidecar);
        let error = check_payload(payload, &sidecar).unwrap_err();
        assert!(error.contains("does not decode"), "{error}");
    }

    #[test]
    fn execution_requests_must_be_typed_nonempty_and_ascending() {
        let ok =
            [Bytes::from_static(&[0, 1]), Bytes::from_static(&[1, 1]), Bytes::from_static(&[2, 1])];
        assert_eq!(check_requests(&ok), Ok(()));
        assert_eq!(check_requests(&[]), Ok(()));
        for bad in [
            vec![Bytes::from_static(&[0])],
            vec![Bytes::new()],
            vec![Bytes::from_static(&[1, 1]), Bytes::from_static(&[0, 1])],
            vec![Bytes::from_static(&[1, 1]), Bytes::from_static(&[1, 2])],
        ] {
            assert!(check_requests(&bad).is_err(), "{bad:?}");
        }
    }
}
