//! [`StoreOptions`]: how a backend is opened.

/// How a store is opened. The cache is the store's main share of the process's memory: the
/// rest of a syncing node's memory is bounded by the core's limits and the writer queue.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Bytes of pages (redb) or blocks (fjall) the backend caches in memory. MDBX keeps no cache
    /// of its own: it reads through the operating system's page cache (its memory map), which
    /// the kernel sizes and reclaims, so this does not apply to it.
    pub cache_bytes: usize,
}

impl StoreOptions {
    /// The default cache: 1 GiB (redb's own default).
    pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

    /// Options with a cache of `bytes`.
    pub const fn with_cache_bytes(bytes: usize) -> Self {
        Self { cache_bytes: bytes }
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self::with_cache_bytes(Self::DEFAULT_CACHE_BYTES)
    }
}
