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
//! use snap_core::bal::{self, AccountChanges, BalanceChange, BlockAccessIndex, BlockDiff};
//!
//! // A list as alloy (and reth) build it.
//! let address = Address::repeat_byte(1);
//! let list = vec![
//!     AccountChanges::new(address)
//!         .with_balance_change(BalanceChange::new(BlockAccessIndex::new(1), U256::from(7)))
//!         .with_balance_change(BalanceChange::new(BlockAccessIndex::new(3), U256::from(5))),
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

mod canonical;
mod diff;
#[cfg(test)]
mod tests;

pub use alloy_eip7928::{
    AccountChanges, BalanceChange, BlockAccessIndex, BlockAccessList, CodeChange, NonceChange,
    SlotChanges, StorageChange,
};
pub use canonical::{BalError, check_order, decode, encode};
pub use diff::{AccountDiff, BlockDiff, apply_account};
