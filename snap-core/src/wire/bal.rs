//! snap/2 block access lists (EIP-7928 BALs) as the codec carries them.
//!
//! What the specs and clients say (EIP-8189 as merged in ethereum/EIPs at `40280fe`, the
//! devp2p snap spec, geth's `eth/protocols/snap` and reth's `eth-wire-types` as of 2026-08):
//!
//! - snap/2 drops `GetTrieNodes`/`TrieNodes` (0x06/0x07, reserved) and adds
//!   `GetBlockAccessLists` (0x08) and `BlockAccessLists` (0x09); the message space is 10 ids.
//!   (An early EIP draft reused 0x06/0x07; the EIP no longer does.)
//! - `GetBlockAccessLists` is `[reqID: P, hashes: [B_32, ...], bytes: P]`. The EIP's text
//!   leaves out `bytes`; the devp2p spec, geth, reth, besu and nethermind all carry it as the
//!   response's soft limit, and so do we. The recommended soft limit is 2 MiB; a server may
//!   return fewer entries than asked, truncating from the tail, never reordering.
//! - `BlockAccessLists` is `[reqID: P, bals: [bal, ...]]`, positional: an unavailable BAL is a
//!   zero-length string (`0x80`), never dropped. Each available `bal` is the BAL's own RLP
//!   encoding (an RLP list) embedded **as is** in the outer list, not wrapped in a byte string
//!   (geth decodes the entries as raw RLP values), and it is valid iff
//!   `keccak256(bal) == header.block_access_list_hash`.
//!
//! So in [`BlockAccessLists`](super::BlockAccessLists) an entry is the raw RLP list item (header
//! included), or empty for an unavailable BAL; the encoder writes the entry verbatim (or `0x80`
//! when empty) and the decoder accepts exactly an RLP list or `0x80` per entry.

use alloy_primitives::{B256, keccak256};

/// A block access list whose hash does not match its header's commitment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("block access list hashes to {actual}, header commits to {expected}")]
pub struct BalHashMismatch {
    /// The header's `block_access_list_hash`.
    pub expected: B256,
    /// keccak256 of the received BAL.
    pub actual: B256,
}

/// Checks a raw BAL (its RLP encoding, as carried in `BlockAccessLists`) against the header's
/// `block_access_list_hash`. An empty (unavailable) entry never matches a real commitment.
pub fn verify_bal(bal: &[u8], commitment: &B256) -> Result<(), BalHashMismatch> {
    let actual = keccak256(bal);
    if actual == *commitment {
        Ok(())
    } else {
        Err(BalHashMismatch { expected: *commitment, actual })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_bal_checks_keccak_of_raw_bytes() {
        // The empty BAL is the empty list 0xc0.
        let bal = [0xc0u8];
        let commitment = keccak256(bal);
        assert_eq!(verify_bal(&bal, &commitment), Ok(()));
        let err = verify_bal(&[0xc1, 0x80], &commitment).unwrap_err();
        assert_eq!(err.expected, commitment);
        assert_eq!(err.actual, keccak256([0xc1, 0x80]));
        assert!(verify_bal(&[], &commitment).is_err());
    }
}
