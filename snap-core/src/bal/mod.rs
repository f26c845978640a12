//! EIP-7928 block access lists (BALs): [`alloy_eip7928`]'s types (what reth and alloy's
//! consensus types use, so an embedder passes its lists straight in), with what syncing needs
//! on top: a strict decoder that accepts only canonical lists, the canonical-order check on
//! its own, and the post-block state diff a list implies, keyed the way the state trie keys it.
//!
//! A BAL is the RLP list of [`AccountChanges`]:
//!
//! ```text
//! BlockAccessList = [AccountChanges, ...]
//! AccountChanges  = [address: B_20, [SlotChanges...], [storage_read: U256...],
//!                    [BalanceChange...], [NonceChange...], [CodeChange...]]
//! SlotChanges     = [slot: U256, [StorageChange...]]
//! StorageChange   = [index: P, value: U256]      BalanceChange = [index: P, balance: U256]
//! NonceChange     = [index: P, nonce: P]         CodeChange    = [index: P, code: B]
//! ```
//!
//! `index` is the block access index: 0 before the transactions, `1..=n` for them, `n + 1`
//! after. A BAL is valid only in canonical order: accounts by address, slots and reads by key,
//! changes by index, every sequence strictly increasing (so without duplicates). The header
//! commits to `keccak256` of the encoding ([`crate::wire::verify_bal`]).
//!
//! The post-block value of a field is its change with the highest index; a block's
//! [`BlockDiff`] holds exactly those, with addresses and slots hashed as the trie keys them.
//!
//! ```
//! use alloy_primitives::{Address, U256, keccak256};
//! use snap_core::bal::{self, AccountChanges, BalanceChange, BlockDiff};
//!
//! // A list as alloy (and reth) build it.
//! let address = Address::repeat_byte(1);
//! let list = vec![
//!     AccountChanges::new(address)
//!         .with_balance_change(BalanceChange::new(1, U256::from(7)))
//!         .with_balance_change(BalanceChange::new(3, U256::from(5))),
//! ];
//! // What a peer sends is decoded strictly; what a valid block commits to decodes.
//! let bytes = bal::encode(&list);
//! assert_eq!(bal::decode(&bytes)?, list);
//! // The post-block state: the balance after the last change, keyed by the address's hash.
//! let diff = BlockDiff::of(&list)?;
//! assert_eq!(diff.accounts[0].hash, keccak256(address));
//! assert_eq!(diff.accounts[0].balance, Some(U256::from(5)));
//! // Out of order is not a valid list.
//! let mut swapped = list.clone();
//! swapped[0].balance_changes.reverse();
//! assert!(BlockDiff::of(&swapped).is_err());
//! # Ok::<(), snap_core::bal::BalError>(())
//! ```

mod diff;
#[cfg(test)]
mod tests;

use alloy_rlp::Decodable;

pub use alloy_eip7928::{
    AccountChanges, BalanceChange, BlockAccessIndex, BlockAccessList, CodeChange, NonceChange,
    SlotChanges, StorageChange,
};
pub use diff::{AccountDiff, BlockDiff, apply_account};

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
