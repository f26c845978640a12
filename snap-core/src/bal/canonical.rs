//! Canonical block access lists: the strict decoder and the ordering rules of the EIP.

use alloy_eip7928::{AccountChanges, BlockAccessList};
use alloy_rlp::Decodable;

/// Why bytes are not a valid block access list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BalError {
    /// Not the RLP the schema requires.
    #[error("malformed block access list: {0}")]
    Rlp(alloy_rlp::Error),
    /// Bytes after the list.
    #[error("{0} bytes after the block access list")]
    TrailingBytes(usize),
    /// A sequence that must be strictly increasing is not (out of order or duplicated).
    #[error("{what} out of canonical order")]
    Order {
        /// Which sequence.
        what: &'static str,
    },
}

/// Decodes a BAL strictly: the RLP the schema requires with canonical integers, nothing after
/// the list, and canonical order ([`check_order`]). Never panics; allocation is bounded by the
/// input's length.
pub fn decode(mut bytes: &[u8]) -> Result<BlockAccessList, BalError> {
    let list = BlockAccessList::decode(&mut bytes).map_err(BalError::Rlp)?;
    if !bytes.is_empty() {
        return Err(BalError::TrailingBytes(bytes.len()));
    }
    check_order(&list)?;
    Ok(list)
}

/// The RLP encoding (whose keccak the header commits to).
pub fn encode(list: &[AccountChanges]) -> Vec<u8> {
    let mut out = Vec::new();
    alloy_rlp::encode_list(list, &mut out);
    out
}

/// Checks every ordering rule of the EIP: accounts by address, slots and reads by key, changes
/// by index, each strictly increasing.
pub fn check_order(list: &[AccountChanges]) -> Result<(), BalError> {
    increasing(list.iter().map(|a| a.address), "accounts")?;
    for account in list {
        increasing(account.storage_changes.iter().map(|s| s.slot), "storage changes")?;
        for slot in &account.storage_changes {
            increasing(slot.changes.iter().map(|c| c.block_access_index), "slot writes")?;
        }
        increasing(account.storage_reads.iter().copied(), "storage reads")?;
        increasing(
            account.balance_changes.iter().map(|c| c.block_access_index),
            "balance changes",
        )?;
        increasing(account.nonce_changes.iter().map(|c| c.block_access_index), "nonce changes")?;
        increasing(account.code_changes.iter().map(|c| c.block_access_index), "code changes")?;
    }
    Ok(())
}

fn increasing<T: Ord>(
    mut items: impl Iterator<Item = T>,
    what: &'static str,
) -> Result<(), BalError> {
    let Some(mut previous) = items.next() else { return Ok(()) };
    for item in items {
        if item <= previous {
            return Err(BalError::Order { what });
        }
        previous = item;
    }
    Ok(())
}
