//! The fjall backend: an LSM tree, a keyspace per [`Table`], one cross-keyspace write batch
//! per commit, its journal synced (`fsync`) before the commit returns.
//!
//! An LSM batch has no range deletion and gives every item the batch's one sequence number,
//! so the commit first folds the operations, in order, into their net effect per key (a range
//! deletion becomes one tombstone per key it finds, read from the database and from the
//! operations before it); each key then appears once in the batch.

use std::{collections::BTreeMap, ops::Bound, path::Path};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::{KvBackend, KvIter, KvOp, KvStore, StoreError, StoreOptions, keys::Table};

/// The subdirectory the fjall backend keeps in its directory.
pub const FJALL_DIR: &str = "fjall";

/// A [`KvBackend`] on a fjall database.
pub struct FjallBackend {
    db: Database,
    keyspaces: Vec<Keyspace>,
}

impl std::fmt::Debug for FjallBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallBackend").finish_non_exhaustive()
    }
}

impl FjallBackend {
    /// Opens (or creates) the database under directory `dir`, replaying its journal after an
    /// unclean shutdown.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, &StoreOptions::default())
    }

    /// [`open`](Self::open) with `options` (the block cache's size).
    pub fn open_with(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db =
            Database::builder(dir.join(FJALL_DIR)).cache_size(options.cache_bytes as u64).open()?;
        let keyspaces = Table::ALL
            .iter()
            .map(|table| db.keyspace(table.name(), KeyspaceCreateOptions::default))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { db, keyspaces })
    }

    fn keyspace(&self, table: Table) -> &Keyspace {
        &self.keyspaces[table as usize]
    }

    /// Bytes on disk (tables and journal).
    pub fn disk_space(&self) -> Result<u64, StoreError> {
        Ok(self.db.disk_space()?)
    }
}

fn bounds(start: &[u8], end: Option<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    (
        Bound::Included(start.to_vec()),
        end.map_or(Bound::Unbounded, |end| Bound::Excluded(end.to_vec())),
    )
}

impl KvBackend for FjallBackend {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.keyspace(table).get(key)?.map(|value| value.to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<KvIter<'_>, StoreError> {
        let iter = self.keyspace(table).range(bounds(start, end));
        Ok(Box::new(iter.map(|guard| {
            let (key, value) = guard.into_inner()?;
            Ok((key.to_vec(), value.to_vec()))
        })))
    }

    fn commit(&mut self, ops: &[KvOp]) -> Result<(), StoreError> {
        // The net effect per table and key: `Some(value)` to write, `None` to delete.
        let mut net: Vec<BTreeMap<Vec<u8>, Option<&[u8]>>> =
            Table::ALL.iter().map(|_| BTreeMap::new()).collect();
        for op in ops {
            match op {
                KvOp::Put { table, key, value } => {
                    net[*table as usize].insert(key.clone(), Some(value.as_slice()));
                }
                KvOp::Delete { table, key } => {
                    net[*table as usize].insert(key.clone(), None);
                }
                KvOp::DeleteRange { table, start, end } => {
                    let changes = &mut net[*table as usize];
                    for value in changes.range_mut(bounds(start, end.as_deref())).map(|(_, v)| v) {
                        *value = None;
                    }
                    let stored = self.keyspace(*table).range(bounds(start, end.as_deref()));
                    for guard in stored {
                        changes.insert(guard.key()?.to_vec(), None);
                    }
                }
            }
        }
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for (table, changes) in Table::ALL.iter().zip(net) {
            let keyspace = self.keyspace(*table);
            for (key, value) in changes {
                match value {
                    Some(value) => batch.insert(keyspace, key, value),
                    None => batch.remove(keyspace, key),
                }
            }
        }
        Ok(batch.commit()?)
    }
}

/// The store on fjall.
pub type FjallStore = KvStore<FjallBackend>;

impl KvStore<FjallBackend> {
    /// Opens (or creates) the fjall store under directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        FjallBackend::open(dir).map(Self::new)
    }

    /// Opens (or creates) the fjall store under directory `dir` with `options`.
    pub fn open_with(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        FjallBackend::open_with(dir, options).map(Self::new)
    }
}
