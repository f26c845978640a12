//! What a host's store uses to keep the contract: the reference store, the one way to apply a
//! [`WriteBatch`](super::WriteBatch), the one way to answer
//! [`Lookup::Flat`](super::Lookup::Flat), and the snap/2 catch-up steps a host may run on its
//! own data (applying block access lists, rebuilding and checking the tries).

mod apply;
mod flat;
mod memory_store;

pub use super::catchup::{
    apply::{Applied, accounts_to_read, apply_blocks},
    rebuild::{Rebuilt, TrieRebuild},
};
pub use apply::{BatchStore, apply_batch, apply_pruned};
pub use flat::{FlatSource, cursor_after, read_flat};
pub use memory_store::MemoryStore;
