//! The redb backend: one copy-on-write B-tree file, a table per [`Table`], a write transaction
//! per batch committed with immediate durability.

use std::{
    ops::Bound,
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
};

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
    match error.into() {
        redb::Error::Corrupted(what) => StoreError::Damaged(what),
        other => StoreError::Redb(other),
    }
}

/// Runs a database call, turning a panic inside redb (a damaged page it reads without
/// reporting an error) into [`StoreError::Damaged`]: defence in depth behind the integrity
/// check on open.
fn contained<T>(call: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(call))
        .unwrap_or_else(|_| Err(StoreError::Damaged("reading it failed".into())))
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
        contained(|| {
            let mut db = Database::builder()
                .set_cache_size(options.cache_bytes)
                .create(dir.join(REDB_FILE))
                .map_err(error)?;
            // Every page's checksum, before anything is read from it.
            db.check_integrity().map_err(error)?;
            let txn = db.begin_write().map_err(error)?;
            for table in Table::ALL {
                txn.open_table(definition(table)).map_err(error)?;
            }
            txn.commit().map_err(error)?;
            Ok(Self { db })
        })
    }
}

impl KvBackend for RedbBackend {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        contained(|| {
            let txn = self.db.begin_read().map_err(error)?;
            let table = txn.open_table(definition(table)).map_err(error)?;
            Ok(table.get(key).map_err(error)?.map(|value| value.value().to_vec()))
        })
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<KvIter<'_>, StoreError> {
        let mut range = contained(|| {
            let txn = self.db.begin_read().map_err(error)?;
            let table = txn.open_table(definition(table)).map_err(error)?;
            let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
            table.range::<&[u8]>((Bound::Included(start), upper)).map_err(error)
        })?;
        let mut failed = false;
        Ok(Box::new(std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let next = contained(|| {
                range.next().transpose().map_err(error).map(|entry| {
                    entry.map(|(key, value)| (key.value().to_vec(), value.value().to_vec()))
                })
            });
            failed = next.is_err();
            next.transpose()
        })))
    }

    fn commit(&mut self, ops: &[KvOp]) -> Result<(), StoreError> {
        contained(|| self.write(|apply| ops.iter().try_for_each(|op| apply(op.as_op_ref()))))
    }

    fn commit_batch(&mut self, ops: &BatchOps<'_>) -> Result<(), StoreError> {
        contained(|| self.write(|apply| ops.for_each(apply)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #16 item 7: garbage inside the file is refused on open with a sentence, never a
    /// panic (redb used to panic on the damaged page at the first read).
    #[test]
    fn a_damaged_file_is_refused_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut backend = RedbBackend::open(dir.path()).expect("fresh");
            let ops: Vec<KvOp> = (0u32..20_000)
                .map(|i| KvOp::Put {
                    table: Table::ALL[0],
                    key: i.to_be_bytes().to_vec(),
                    value: vec![i as u8; 48],
                })
                .collect();
            backend.commit(&ops).expect("written");
        }
        let path = dir.path().join(REDB_FILE);
        let mut bytes = std::fs::read(&path).expect("read");
        assert!(bytes.len() > 400_000, "{} bytes", bytes.len());
        let middle = bytes.len() / 2 - 100_000;
        for (i, byte) in bytes[middle..middle + 200_000].iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        std::fs::write(&path, bytes).expect("damaged");
        match RedbBackend::open(dir.path()) {
            Err(StoreError::Damaged(what)) => {
                eprintln!("refused: {what}");
                assert!(!what.is_empty());
            }
            Err(other) => panic!("expected Damaged, got {other}"),
            Ok(_) => panic!("a damaged file opened"),
        }
    }
}
