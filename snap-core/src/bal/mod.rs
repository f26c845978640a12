//! EIP-7928 block access lists (BALs): the typed list, its strict decoder, and the post-block
//! state diff it implies, keyed the way the state trie keys it.
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

mod diff;
#[cfg(test)]
mod tests;

use alloy_primitives::{Address, Bytes, U256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};

pub use diff::{AccountDiff, BlockDiff, apply_account};

/// One write to a storage slot: its value after the transaction at `index`.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StorageChange {
    /// The block access index.
    pub index: u32,
    /// The slot's value after it.
    pub value: U256,
}

/// A balance after the transaction at `index`.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BalanceChange {
    /// The block access index.
    pub index: u32,
    /// The balance after it.
    pub balance: U256,
}

/// A nonce after the transaction at `index`.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct NonceChange {
    /// The block access index.
    pub index: u32,
    /// The nonce after it.
    pub nonce: u64,
}

/// Runtime code after the transaction at `index`.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct CodeChange {
    /// The block access index.
    pub index: u32,
    /// The code after it.
    pub code: Bytes,
}

/// Every write to one storage slot within the block.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct SlotChanges {
    /// The slot (its key, unhashed).
    pub slot: U256,
    /// Its writes, by increasing index.
    pub changes: Vec<StorageChange>,
}

/// Everything one account went through within the block.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct AccountChanges {
    /// The account's address.
    pub address: Address,
    /// Slots written, by increasing key.
    pub storage_changes: Vec<SlotChanges>,
    /// Slots only read, by increasing key.
    pub storage_reads: Vec<U256>,
    /// Balance changes, by increasing index.
    pub balance_changes: Vec<BalanceChange>,
    /// Nonce changes, by increasing index.
    pub nonce_changes: Vec<NonceChange>,
    /// Code changes, by increasing index.
    pub code_changes: Vec<CodeChange>,
}

impl AccountChanges {
    /// An account the block accessed without changing anything (yet).
    pub const fn new(address: Address) -> Self {
        Self {
            address,
            storage_changes: Vec::new(),
            storage_reads: Vec::new(),
            balance_changes: Vec::new(),
            nonce_changes: Vec::new(),
            code_changes: Vec::new(),
        }
    }
}

/// A block access list, in canonical order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockAccessList {
    /// The accounts, by increasing address.
    pub accounts: Vec<AccountChanges>,
}

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

impl BlockAccessList {
    /// Decodes a BAL and checks its canonical order. Never panics; allocation is bounded by the
    /// input's length.
    pub fn decode(mut bytes: &[u8]) -> Result<Self, BalError> {
        let accounts = Vec::<AccountChanges>::decode(&mut bytes).map_err(BalError::Rlp)?;
        if !bytes.is_empty() {
            return Err(BalError::TrailingBytes(bytes.len()));
        }
        let list = Self { accounts };
        list.check_order()?;
        Ok(list)
    }

    /// The RLP encoding (whose keccak the header commits to).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.accounts.encode(&mut out);
        out
    }

    /// Checks every ordering rule of the EIP.
    pub fn check_order(&self) -> Result<(), BalError> {
        increasing(self.accounts.iter().map(|a| a.address), "accounts")?;
        for account in &self.accounts {
            increasing(account.storage_changes.iter().map(|s| s.slot), "storage changes")?;
            for slot in &account.storage_changes {
                increasing(slot.changes.iter().map(|c| c.index), "slot writes")?;
            }
            increasing(account.storage_reads.iter().copied(), "storage reads")?;
            increasing(account.balance_changes.iter().map(|c| c.index), "balance changes")?;
            increasing(account.nonce_changes.iter().map(|c| c.index), "nonce changes")?;
            increasing(account.code_changes.iter().map(|c| c.index), "code changes")?;
        }
        Ok(())
    }

    /// The block's post-state changes, keyed by hashed address and slot.
    pub fn diff(&self) -> BlockDiff {
        BlockDiff::from_list(self)
    }
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
