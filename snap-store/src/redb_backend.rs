//! The redb backend: one copy-on-write B-tree file, a table per [`Table`], a write transaction
//! per batch committed with immediate durability.

use std::{ops::Bound, path::Path};

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::{
    BatchOps, KvBackend, KvIter, KvOp, KvOpRef, KvStore, StoreError, StoreOptions, keys::Table,
};

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
        Self::open_with(dir, &StoreOptions::default())
    }

    /// [`open`](Self::open) with `options` (the page cache's size).
    pub fn open_with(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(dir.join(REDB_FILE))
            .map_err(error)?;
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
        self.write(|apply| ops.iter().try_for_each(|op| apply(op.as_op_ref())))
    }

    fn commit_batch(&mut self, ops: &BatchOps<'_>) -> Result<(), StoreError> {
        self.write(|apply| ops.for_each(apply))
    }
}

impl RedbBackend {
    /// One write transaction: `ops` hands each operation to the function it is given, which
    /// applies it; then the transaction commits.
    fn write(
        &self,
        ops: impl FnOnce(
            &mut dyn FnMut(KvOpRef<'_>) -> Result<(), StoreError>,
        ) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(error)?;
        {
            let mut tables = Vec::with_capacity(Table::ALL.len());
            for table in Table::ALL {
                tables.push(txn.open_table(definition(table)).map_err(error)?);
            }
            ops(&mut |op| {
                match op {
                    KvOpRef::Put { table, key, value } => {
                        tables[table as usize].insert(key, value).map_err(error)?;
                    }
                    KvOpRef::Delete { table, key } => {
                        tables[table as usize].remove(key).map_err(error)?;
                    }
                    KvOpRef::DeleteRange { table, start, end } => {
                        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
                        tables[table as usize]
                            .retain_in::<&[u8], _>((Bound::Included(start), upper), |_, _| false)
                            .map_err(error)?;
                    }
                }
                Ok(())
            })?;
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

    /// Opens (or creates) the redb store in directory `dir` with `options`.
    pub fn open_with(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        RedbBackend::open_with(dir, options).map(Self::new)
    }
}
