//! Known-answer tests for post-Amsterdam headers: `block_access_list_hash` (EIP-7928) and
//! `slot_number` after `requests_hash`. A `BlockHeaders` reply carrying such headers must decode
//! (a decode error drops the peer) and each header's hash must be keccak256 of its RLP.
//!
//! The expected bytes are built here by hand from the field list, with a minimal RLP writer of
//! this file's own, so the test does not trust the header type it checks.

use alloy_consensus::Header;
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, keccak256};
use alloy_rlp::{Decodable, Encodable};
use snap_tokio_adapter::eth::BlockHeaders;

/// RLP of a byte string.
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes {
        [single] if *single < 0x80 => out.push(*single),
        _ => {
            prefix(out, 0x80, bytes.len());
            out.extend_from_slice(bytes);
        }
    }
}

/// RLP of an unsigned integer: big-endian, no leading zeros, zero as the empty string.
fn uint(out: &mut Vec<u8>, value: &[u8]) {
    let first = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    string(out, &value[first..]);
}

/// A string (`base` 0x80) or list (`base` 0xc0) prefix for a payload of `len` bytes.
fn prefix(out: &mut Vec<u8>, base: u8, len: usize) {
    if len < 56 {
        out.push(base + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let first = be.iter().position(|b| *b != 0).unwrap_or(7);
        out.push(base + 55 + (8 - first) as u8);
        out.extend_from_slice(&be[first..]);
    }
}

struct Fields {
    bal_hash: B256,
    slot_number: Option<u64>,
}

/// The header's fields in consensus order, RLP-encoded by hand (the list's payload).
fn expected_payload(fields: &Fields) -> Vec<u8> {
    let mut payload = Vec::new();
    let p = &mut payload;
    string(p, B256::repeat_byte(0x01).as_slice()); // parent_hash
    string(p, B256::repeat_byte(0x02).as_slice()); // ommers_hash
    string(p, Address::repeat_byte(0x03).as_slice()); // beneficiary
    string(p, B256::repeat_byte(0x04).as_slice()); // state_root
    string(p, B256::repeat_byte(0x05).as_slice()); // transactions_root
    string(p, B256::repeat_byte(0x06).as_slice()); // receipts_root
    string(p, Bloom::repeat_byte(0x07).as_slice()); // logs_bloom
    uint(p, &[]); // difficulty: 0 after the merge
    uint(p, &24_000_001u64.to_be_bytes()); // number
    uint(p, &60_000_000u64.to_be_bytes()); // gas_limit
    uint(p, &21_000u64.to_be_bytes()); // gas_used
    uint(p, &1_800_000_000u64.to_be_bytes()); // timestamp
    string(p, b"snap"); // extra_data
    string(p, B256::repeat_byte(0x08).as_slice()); // mix_hash (prevrandao)
    string(p, &[0u8; 8]); // nonce: eight zero bytes, a fixed-size string
    uint(p, &7u64.to_be_bytes()); // base_fee_per_gas
    string(p, B256::repeat_byte(0x09).as_slice()); // withdrawals_root
    uint(p, &131_072u64.to_be_bytes()); // blob_gas_used
    uint(p, &0u64.to_be_bytes()); // excess_blob_gas
    string(p, B256::repeat_byte(0x0a).as_slice()); // parent_beacon_block_root
    string(p, B256::repeat_byte(0x0b).as_slice()); // requests_hash
    string(p, fields.bal_hash.as_slice()); // block_access_list_hash
    if let Some(slot) = fields.slot_number {
        uint(p, &slot.to_be_bytes()); // slot_number
    }
    payload
}

/// The header's RLP: its fields as one list.
fn expected_rlp(fields: &Fields) -> Vec<u8> {
    let payload = expected_payload(fields);
    let mut out = Vec::new();
    prefix(&mut out, 0xc0, payload.len());
    out.extend_from_slice(&payload);
    out
}

fn header(fields: &Fields) -> Header {
    Header {
        parent_hash: B256::repeat_byte(0x01),
        ommers_hash: B256::repeat_byte(0x02),
        beneficiary: Address::repeat_byte(0x03),
        state_root: B256::repeat_byte(0x04),
        transactions_root: B256::repeat_byte(0x05),
        receipts_root: B256::repeat_byte(0x06),
        logs_bloom: Bloom::repeat_byte(0x07),
        difficulty: U256::ZERO,
        number: 24_000_001,
        gas_limit: 60_000_000,
        gas_used: 21_000,
        timestamp: 1_800_000_000,
        extra_data: Bytes::from_static(b"snap"),
        mix_hash: B256::repeat_byte(0x08),
        nonce: B64::ZERO,
        base_fee_per_gas: Some(7),
        withdrawals_root: Some(B256::repeat_byte(0x09)),
        blob_gas_used: Some(131_072),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::repeat_byte(0x0a)),
        requests_hash: Some(B256::repeat_byte(0x0b)),
        block_access_list_hash: Some(fields.bal_hash),
        slot_number: fields.slot_number,
    }
}

/// keccak256(rlp([])): the commitment of a block without state changes (EIP-7928).
const EMPTY_BAL_HASH: B256 =
    alloy_primitives::b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

#[test]
fn amsterdam_headers_encode_decode_and_hash_over_their_rlp() {
    let cases = [
        Fields { bal_hash: EMPTY_BAL_HASH, slot_number: Some(12_345_678) },
        Fields { bal_hash: B256::repeat_byte(0x0c), slot_number: Some(0) },
        // The BAL hash without a slot number: a header from before EIP-7843's field.
        Fields { bal_hash: B256::repeat_byte(0x0d), slot_number: None },
    ];
    for fields in &cases {
        let expected = expected_rlp(fields);
        let header = header(fields);
        assert_eq!(alloy_rlp::encode(&header), expected, "encoding");
        assert_eq!(header.length(), expected.len());
        let decoded = Header::decode(&mut expected.as_slice()).expect("decodes");
        assert_eq!(decoded, header, "round trip");
        assert_eq!(decoded.block_access_list_hash, Some(fields.bal_hash));
        assert_eq!(decoded.slot_number, fields.slot_number);
        assert_eq!(header.hash_slow(), keccak256(&expected), "hash is keccak of the RLP");
    }
    // Dropping the BAL hash changes the hash: the field is committed to.
    let with = header(&cases[0]);
    let without = Header { block_access_list_hash: None, slot_number: None, ..with.clone() };
    assert_ne!(with.hash_slow(), without.hash_slow());
}

#[test]
fn block_headers_replies_with_amsterdam_headers_decode_and_hash_as_received() {
    let first = Fields { bal_hash: EMPTY_BAL_HASH, slot_number: Some(99) };
    let second = Fields { bal_hash: B256::repeat_byte(0x0e), slot_number: Some(100) };
    let raws = [Bytes::from(expected_rlp(&first)), Bytes::from(expected_rlp(&second))];
    let reply = BlockHeaders::encode_raw(42, &raws);
    let decoded = BlockHeaders::decode_data(&reply).expect("an Amsterdam reply decodes");
    assert_eq!(decoded.request_id, 42);
    assert_eq!(decoded.headers.len(), 2);
    for ((received, raw), fields) in decoded.headers.iter().zip(&raws).zip([&first, &second]) {
        assert_eq!(received.hash, keccak256(raw));
        assert_eq!(received.header.hash_slow(), received.hash);
        assert_eq!(received.header.block_access_list_hash, Some(fields.bal_hash));
        assert_eq!(received.header.slot_number, fields.slot_number);
    }
    // A field past the ones the header knows is not silently dropped (the hash would be wrong).
    let mut extended = expected_payload(&first);
    uint(&mut extended, &5u64.to_be_bytes());
    let mut unknown = Vec::new();
    prefix(&mut unknown, 0xc0, extended.len());
    unknown.extend_from_slice(&extended);
    let reply = BlockHeaders::encode_raw(43, &[Bytes::from(unknown)]);
    assert!(BlockHeaders::decode_data(&reply).is_err());
}
