//! The MDBX backend (feature `mdbx`): libmdbx, the memory-mapped copy-on-write B+tree reth and
//! Erigon use, through `signet-libmdbx` (the maintained fork of reth's bindings). One named
//! database per [`Table`], a write transaction per batch committed in MDBX's durable mode (data
//! pages, then the meta page, each synced), so a crash keeps whole batches only.
//!
//! MDBX keeps no cache of its own: reads go through the memory map, i.e. the kernel's page
//! cache. Scans read in chunks, each in its own short read transaction, so no iterator holds a
//! transaction open (a consistent view as long as no batch commits in between, which the
//! store's `&mut` commits guarantee).

use std::{collections::VecDeque, path::Path};

use signet_libmdbx::{
    Database, DatabaseFlags, Environment, EnvironmentFlags, Geometry, Mode, SyncMode, WriteFlags,
};

use crate::{
    BatchOps, KvBackend, KvIter, KvOp, KvOpRef, KvStore, StoreError, StoreOptions, keys::Table,
};

/// The subdirectory the MDBX backend keeps in its directory.
pub const MDBX_DIR: &str = "mdbx";

/// A key and its value.
type Entry = (Vec<u8>, Vec<u8>);

/// Entries a scan reads per read transaction.
const SCAN_CHUNK: usize = 1024;

fn error(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// A [`KvBackend`] on an MDBX environment.
pub struct MdbxBackend {
    env: Environment,
    dbs: Vec<Database>,
}

impl std::fmt::Debug for MdbxBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdbxBackend").finish_non_exhaustive()
    }
}

impl MdbxBackend {
    /// Opens (or creates) the environment under directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, &StoreOptions::default())
    }

    /// [`open`](Self::open) with `options` (MDBX has no cache of its own to size).
    pub fn open_with(dir: &Path, _options: &StoreOptions) -> Result<Self, StoreError> {
        let path = dir.join(MDBX_DIR);
        std::fs::create_dir_all(&path)?;
        let env = Environment::builder()
            .set_max_dbs(Table::ALL.len())
            .set_flags(EnvironmentFlags {
                mode: Mode::ReadWrite { sync_mode: SyncMode::Durable },
                ..EnvironmentFlags::default()
            })
            .set_geometry(Geometry {
                // Map up to 8 TiB (address space only), grow the file 256 MiB at a time.
                size: Some(0..(8usize << 40)),
                growth_step: Some(256 << 20),
                shrink_threshold: None,
                page_size: None,
            })
            .open(&path)
            .map_err(error)?;
        let txn = env.begin_rw_unsync().map_err(error)?;
        let dbs = Table::ALL
            .iter()
            .map(|table| txn.create_db(Some(table.name()), DatabaseFlags::empty()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(error)?;
        txn.commit().map_err(error)?;
        Ok(Self { env, dbs })
    }

    fn db(&self, table: Table) -> Database {
        self.dbs[table as usize]
    }

    /// Up to [`SCAN_CHUNK`] entries of `table` from `start` (inclusive) below `end`.
    fn read_chunk(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<Vec<Entry>, StoreError> {
        let txn = self.env.begin_ro_unsync().map_err(error)?;
        let mut cursor = txn.cursor(self.db(table)).map_err(error)?;
        let mut chunk = Vec::new();
        let mut entry: Option<Entry> = cursor.set_range(start).map_err(error)?;
        while let Some((key, value)) = entry {
            if end.is_some_and(|end| key.as_slice() >= end) {
                break;
            }
            chunk.push((key, value));
            if chunk.len() == SCAN_CHUNK {
                break;
            }
            entry = cursor.next().map_err(error)?;
        }
        Ok(chunk)
    }
}

/// A scan reading [`SCAN_CHUNK`] entries per read transaction.
struct Scan<'a> {
    backend: &'a MdbxBackend,
    table: Table,
    /// Where the next chunk starts; `None` once the range is read.
    next: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
    buffered: VecDeque<Entry>,
}

impl Iterator for Scan<'_> {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffered.is_empty() {
            let start = self.next.take()?;
            match self.backend.read_chunk(self.table, &start, self.end.as_deref()) {
                Ok(chunk) => {
                    if chunk.len() == SCAN_CHUNK {
                        // The next key after the last one read: the same bytes and a zero.
                        self.next = chunk.last().map(|(key, _)| {
                            let mut next = key.clone();
                            next.push(0);
                            next
                        });
                    }
                    self.buffered = chunk.into();
                }
                Err(error) => return Some(Err(error)),
            }
        }
        self.buffered.pop_front().map(Ok)
    }
}

impl KvBackend for MdbxBackend {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.env.begin_ro_unsync().map_err(error)?;
        txn.get::<Vec<u8>>(self.db(table).dbi(), key).map_err(error)
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<KvIter<'_>, StoreError> {
        Ok(Box::new(Scan {
            backend: self,
            table,
            next: Some(start.to_vec()),
            end: end.map(<[u8]>::to_vec),
            buffered: VecDeque::new(),
        }))
    }

    fn commit(&mut self, ops: &[KvOp]) -> Result<(), StoreError> {
        self.write(|apply| ops.iter().try_for_each(|op| apply(op.as_op_ref())))
    }

    fn commit_batch(&mut self, ops: &BatchOps<'_>) -> Result<(), StoreError> {
        self.write(|apply| ops.for_each(apply))
    }
}

impl MdbxBackend {
    /// One write transaction: `ops` hands each operation to the function it is given, which
    /// applies it; then the transaction commits. A put whose key follows every key of its table
    /// appends (no search from the root); the others insert.
    fn write(
        &self,
        ops: impl FnOnce(
            &mut dyn FnMut(KvOpRef<'_>) -> Result<(), StoreError>,
        ) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.env.begin_rw_unsync().map_err(error)?;
        // Per table: the largest key, once read (`Some(None)`: the table is empty).
        let mut last: Vec<Option<Option<Vec<u8>>>> = vec![None; Table::ALL.len()];
        ops(&mut |op| {
            match op {
                KvOpRef::Put { table, key, value } => {
                    let db = self.db(table);
                    let last = match &mut last[table as usize] {
                        Some(last) => last,
                        slot => {
                            let mut cursor = txn.cursor(db).map_err(error)?;
                            let found: Option<(Vec<u8>, ())> = cursor.last().map_err(error)?;
                            slot.insert(found.map(|(key, ())| key))
                        }
                    };
                    if last.as_deref().is_none_or(|last| key > last) {
                        txn.append(db, key, value).map_err(error)?;
                        let stored = last.get_or_insert_with(Vec::new);
                        stored.clear();
                        stored.extend_from_slice(key);
                    } else {
                        txn.put(db, key, value, WriteFlags::empty()).map_err(error)?;
                    }
                }
                KvOpRef::Delete { table, key } => {
                    txn.del(self.db(table), key, None).map_err(error)?;
                }
                KvOpRef::DeleteRange { table, start, end } => {
                    let mut cursor = txn.cursor(self.db(table)).map_err(error)?;
                    loop {
                        let entry: Option<(Vec<u8>, ())> =
                            cursor.set_range(start).map_err(error)?;
                        match entry {
                            Some((key, ())) if end.is_none_or(|end| key.as_slice() < end) => {
                                cursor.del().map_err(error)?;
                            }
                            _ => break,
                        }
                    }
                }
            }
            Ok(())
        })?;
        txn.commit().map_err(error)
    }
}

/// The store on MDBX.
pub type MdbxStore = KvStore<MdbxBackend>;

impl KvStore<MdbxBackend> {
    /// Opens (or creates) the MDBX store under directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        MdbxBackend::open(dir).map(Self::new)
    }

    /// Opens (or creates) the MDBX store under directory `dir` with `options`.
    pub fn open_with(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        MdbxBackend::open_with(dir, options).map(Self::new)
    }
}
