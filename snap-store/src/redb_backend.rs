//! The redb backend: one copy-on-write B-tree file, a table per [`Table`], a write transaction
//! per batch committed with immediate durability.

use std::{ops::Bound, path::Path};

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::{KvBackend, KvIter, KvOp, KvStore, StoreError, keys::Table};

/// The file the redb backend keeps in its directory.
pub const REDB_FILE: &str = "store.redb";

type RawTable = TableDefinition<'static, &'static [u8], &'static [u8]>;

const fn definition(table: Table) -> RawTable {
    TableDefinition::new(table.name())
}

fn error(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Redb(error.into())
}

/// A [`KvBackend`] on a redb database file.
pub struct RedbBackend {
    db: Database,
}

impl std::fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbBackend").finish_non_exhaustive()
    }
}

impl RedbBackend {
    /// Opens (or creates) the database in directory `dir` (created if missing), recovering
    /// from an unclean shutdown if needed.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = Database::create(dir.join(REDB_FILE)).map_err(error)?;
        let txn = db.begin_write().map_err(error)?;
        for table in Table::ALL {
            txn.open_table(definition(table)).map_err(error)?;
        }
        txn.commit().map_err(error)?;
        Ok(Self { db })
    }
}

impl KvBackend for RedbBackend {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(error)?;
        let table = txn.open_table(definition(table)).map_err(error)?;
        Ok(table.get(key).map_err(error)?.map(|value| value.value().to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<KvIter<'_>, StoreError> {
        let txn = self.db.begin_read().map_err(error)?;
        let table = txn.open_table(definition(table)).map_err(error)?;
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        let range = table.range::<&[u8]>((Bound::Included(start), upper)).map_err(error)?;
        Ok(Box::new(range.map(|entry| {
            let (key, value) = entry.map_err(error)?;
            Ok((key.value().to_vec(), value.value().to_vec()))
        })))
    }

    fn commit(&mut self, ops: &[KvOp]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(error)?;
        {
            let mut tables = Vec::with_capacity(Table::ALL.len());
            for table in Table::ALL {
                tables.push(txn.open_table(definition(table)).map_err(error)?);
            }
            for op in ops {
                match op {
                    KvOp::Put { table, key, value } => {
                        tables[*table as usize]
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(error)?;
                    }
                    KvOp::Delete { table, key } => {
                        tables[*table as usize].remove(key.as_slice()).map_err(error)?;
                    }
                    KvOp::DeleteRange { table, start, end } => {
                        let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                        tables[*table as usize]
                            .retain_in::<&[u8], _>(
                                (Bound::Included(start.as_slice()), upper),
                                |_, _| false,
                            )
                            .map_err(error)?;
                    }
                }
            }
        }
        txn.commit().map_err(error)
    }
}

/// The store on redb.
pub type RedbStore = KvStore<RedbBackend>;

impl KvStore<RedbBackend> {
    /// Opens (or creates) the redb store in directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        RedbBackend::open(dir).map(Self::new)
    }
}
