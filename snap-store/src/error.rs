//! The store's typed errors.

use alloy_primitives::Bytes;

use crate::keys::Table;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The redb backend failed.
    #[cfg(feature = "redb")]
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    /// The fjall backend failed.
    #[cfg(feature = "fjall")]
    #[error("fjall: {0}")]
    Fjall(#[from] fjall::Error),
    /// A file-system operation around the database failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A stored entry cannot be read back (the database holds bytes this layout never writes),
    /// or an entry offered for storing is not what its table holds.
    #[error("corrupt entry in {table:?} at key {key}: {reason}")]
    Corrupt {
        /// The table holding the entry.
        table: Table,
        /// The entry's key.
        key: Bytes,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The database file is damaged: its integrity check failed, or reading it failed in a
    /// way the database could not report as an error.
    #[error("the database file is damaged ({0}); restore it or sync into a fresh directory")]
    Damaged(String),
    /// A lookup kind this store does not know how to answer.
    #[error("unsupported lookup")]
    UnsupportedLookup,
    /// A client-provided backend failed (for stores outside this crate).
    #[error("backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// A corrupt entry error.
    pub(crate) fn corrupt(table: Table, key: &[u8], reason: &'static str) -> Self {
        Self::Corrupt { table, key: Bytes::copy_from_slice(key), reason }
    }
}
