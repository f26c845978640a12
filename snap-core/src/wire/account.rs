//! Account bodies: the slim form snap sends and its expansion to [`TrieAccount`].
//!
//! The slim form is the RLP list `[nonce, balance, storageRoot, codeHash]` in which a storage
//! root equal to [`EMPTY_ROOT_HASH`] and a code hash equal to [`KECCAK_EMPTY`] are sent as empty
//! strings. The decoder also accepts the full (consensus) form, taking 32-byte hashes literally,
//! as geth's `FullAccountRLP` does; the encoder always writes the slim form, so the slim form is
//! the canonical one.

use alloy_primitives::B256;
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};

use super::{
    error::DecodeError,
    rlp::{self, B256_LEN},
};

/// Encoded length of a hash that is sent as the empty string when it equals `empty`.
#[inline]
fn optional_hash_len(hash: &B256, empty: &B256) -> usize {
    if hash == empty { 1 } else { B256_LEN }
}

/// Length of the slim account's list payload.
#[inline]
fn slim_payload_len(account: &TrieAccount) -> usize {
    rlp::u64_len(account.nonce)
        + account.balance.length()
        + optional_hash_len(&account.storage_root, &EMPTY_ROOT_HASH)
        + optional_hash_len(&account.code_hash, &KECCAK_EMPTY)
}

/// Exact length of [`encode_slim_account`]'s output.
#[inline]
pub fn slim_account_len(account: &TrieAccount) -> usize {
    rlp::item_len(slim_payload_len(account))
}

/// Writes the slim RLP body of `account`: `[nonce, balance, root-or-empty, codeHash-or-empty]`.
#[inline]
pub fn encode_slim_account(account: &TrieAccount, out: &mut Vec<u8>) {
    rlp::put_list_header(slim_payload_len(account), out);
    rlp::put_u64(account.nonce, out);
    account.balance.encode(out);
    put_optional_hash(&account.storage_root, &EMPTY_ROOT_HASH, out);
    put_optional_hash(&account.code_hash, &KECCAK_EMPTY, out);
}

#[inline]
fn put_optional_hash(hash: &B256, empty: &B256, out: &mut Vec<u8>) {
    if hash == empty {
        out.push(alloy_rlp::EMPTY_STRING_CODE);
    } else {
        rlp::put_b256(hash, out);
    }
}

/// Decodes an account body in slim or full form. The whole of `body` must be the account.
///
/// Rejects anything else with [`DecodeError::BadAccount`] or an RLP error: a list of other than
/// four fields, a hash field that is neither empty nor 32 bytes, a non-canonical or oversized
/// nonce or balance.
pub fn decode_account_body(body: &[u8]) -> Result<TrieAccount, DecodeError> {
    let mut buf = body;
    let account = decode_account_item(&mut buf)?;
    if !buf.is_empty() {
        return Err(DecodeError::BadAccount("bytes after the account list"));
    }
    Ok(account)
}

/// Decodes one account body item from the front of `buf`.
#[inline]
pub(crate) fn decode_account_item(buf: &mut &[u8]) -> Result<TrieAccount, DecodeError> {
    const WHAT: &str = "account body";
    let mut payload = rlp::list(buf, WHAT)?;
    let nonce = rlp::u64(&mut payload, "account nonce")?;
    let balance = rlp::u256(&mut payload, "account balance")?;
    let storage_root = optional_hash(&mut payload, EMPTY_ROOT_HASH, "storage root")?;
    let code_hash = optional_hash(&mut payload, KECCAK_EMPTY, "code hash")?;
    if !payload.is_empty() {
        return Err(DecodeError::BadAccount("more than four fields"));
    }
    Ok(TrieAccount::new(nonce, balance, storage_root, code_hash))
}

#[inline]
fn optional_hash(buf: &mut &[u8], empty: B256, what: &'static str) -> Result<B256, DecodeError> {
    let bytes = rlp::string(buf, what).map_err(|e| match e {
        DecodeError::MissingField { .. } => DecodeError::BadAccount("fewer than four fields"),
        other => other,
    })?;
    match bytes.len() {
        0 => Ok(empty),
        32 => Ok(B256::from_slice(bytes)),
        _ => Err(DecodeError::BadAccount("hash field neither empty nor 32 bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    #[test]
    fn slim_empty_account_known_answer() {
        // nonce 0 -> 0x80, balance 0 -> 0x80, empty root -> 0x80, empty code -> 0x80,
        // in a list of 4 payload bytes -> 0xc4.
        let acc = TrieAccount::new(0, U256::ZERO, EMPTY_ROOT_HASH, KECCAK_EMPTY);
        let mut out = Vec::new();
        encode_slim_account(&acc, &mut out);
        assert_eq!(out, [0xc4, 0x80, 0x80, 0x80, 0x80]);
        assert_eq!(slim_account_len(&acc), 5);
        assert_eq!(decode_account_body(&out), Ok(acc));
    }

    #[test]
    fn slim_account_with_nonce_balance_known_answer() {
        // nonce 1 -> 0x01 (single byte), balance 0x0400 -> 0x82 0x04 0x00,
        // root and code empty -> 0x80 0x80; payload 6 bytes -> 0xc6.
        let acc = TrieAccount::new(1, U256::from(0x0400), EMPTY_ROOT_HASH, KECCAK_EMPTY);
        let mut out = Vec::new();
        encode_slim_account(&acc, &mut out);
        assert_eq!(out, [0xc6, 0x01, 0x82, 0x04, 0x00, 0x80, 0x80]);
    }

    #[test]
    fn full_form_is_accepted_literally() {
        let acc = TrieAccount::new(7, U256::from(9), EMPTY_ROOT_HASH, KECCAK_EMPTY);
        // alloy's consensus encoding writes both hashes in full.
        let full = alloy_rlp::encode(acc);
        assert_eq!(full.len(), 2 + 1 + 1 + 33 + 33);
        assert_eq!(decode_account_body(&full), Ok(acc));
    }

    #[test]
    fn rejects_malformed_bodies() {
        // 5-byte storage root.
        let bad_root = [0xc9, 0x80, 0x80, 0x85, 1, 2, 3, 4, 5, 0x80];
        assert!(matches!(decode_account_body(&bad_root), Err(DecodeError::BadAccount(_))));
        // Nonce with a leading zero: 0x82 0x00 0x01.
        let bad_nonce = [0xc6, 0x82, 0x00, 0x01, 0x80, 0x80, 0x80];
        assert!(matches!(
            decode_account_body(&bad_nonce),
            Err(DecodeError::NonCanonicalInteger { .. })
        ));
        // Nonce 5 as a string 0x81 0x05 instead of the single byte 0x05.
        let bad_single = [0xc5, 0x81, 0x05, 0x80, 0x80, 0x80];
        assert_eq!(decode_account_body(&bad_single), Err(DecodeError::NonCanonicalHeader));
        // Three fields.
        assert!(matches!(
            decode_account_body(&[0xc3, 0x80, 0x80, 0x80]),
            Err(DecodeError::BadAccount(_))
        ));
        // Five fields.
        assert!(matches!(
            decode_account_body(&[0xc5, 0x80, 0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::BadAccount(_))
        ));
        // Not a list.
        assert!(matches!(decode_account_body(&[0x80]), Err(DecodeError::ExpectedList { .. })));
        // Truncated.
        assert_eq!(decode_account_body(&[0xc4, 0x80, 0x80]), Err(DecodeError::Truncated));
        // Nonce wider than 64 bits.
        let wide = [0xcd, 0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80];
        assert!(matches!(decode_account_body(&wide), Err(DecodeError::IntegerOverflow { .. })));
    }
}
