//! The embedded, crash-safe store of a snap node.
//!
//! The `Syncer` (in `snap-core`) hands out [`WriteBatch`](snap_core::sync::WriteBatch)es of
//! verified data, each with the progress record that covers it, and asks
//! [`Lookup`](snap_core::sync::Lookup)s about what is stored. This crate is the host's side:
//!
//! - [`SyncStore`]: the small trait a database implements: apply a batch atomically and
//!   durably, read the last progress record, answer lookups, read flat state and nodes;
//! - [`KvStore`]: a [`SyncStore`] on any ordered key-value database ([`KvBackend`]), with the
//!   key layout of [`keys`] (every range the sync deletes is one contiguous key range);
//! - two backends, one per cargo feature: [`RedbStore`] (`redb`, the default) and
//!   [`FjallStore`] (`fjall`); the README's "Store" section has the measurements behind the
//!   default;
//! - [`StoreView`]: the server's `StateView` over a store, so a synced node serves what it
//!   synced;
//! - [`verify()`]: recomputes the root from the flat state and checks the stored trie nodes
//!   against it (what `snap verify` runs).
//!
//! This crate does IO; `snap-core` stays IO-free and does not depend on it.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
#[cfg(feature = "fjall")]
mod fjall_backend;
pub mod keys;
mod kv;
#[cfg(feature = "mdbx")]
mod mdbx_backend;
mod ops;
mod options;
#[cfg(feature = "redb")]
mod redb_backend;
mod store;
mod verify;
mod view;

pub use error::StoreError;
#[cfg(feature = "fjall")]
pub use fjall_backend::{FJALL_DIR, FjallBackend, FjallStore};
pub use kv::{KvBackend, KvIter, KvStore};
#[cfg(feature = "mdbx")]
pub use mdbx_backend::{MDBX_DIR, MdbxBackend, MdbxStore};
pub use ops::{BatchOps, KvOp, KvOpRef, batch_ops};
pub use options::StoreOptions;
#[cfg(feature = "redb")]
pub use redb_backend::{REDB_FILE, RedbBackend, RedbStore};
pub use store::{StoreIter, SyncStore};
pub use verify::{MAX_LISTED_MISMATCHES, Mismatch, VerifyReport, verify};
pub use view::StoreView;
