//! Locating `../shared/testdata` (or `$SNAP_TESTDATA`) without committing it to the project.

use std::path::PathBuf;

use alloy_primitives::{B256, b256};

/// The environment variable that overrides where the shared test data lives.
pub const TESTDATA_ENV: &str = "SNAP_TESTDATA";

/// The state root of hivechain block 600, the head of geth's 600-block test chain.
pub const HIVECHAIN_HEAD_STATE_ROOT: B256 =
    b256!("8fcfb02cfca007773bd55bc1c3e50a3c8612a59c87ce057e5957e8bf17c1728b");

/// The hash of hivechain block 600.
pub const HIVECHAIN_HEAD_HASH: B256 =
    b256!("44e3809c9a3cda717f00aea3a9da336d149612c8d5657fbc0028176ef8d94d2a");

/// Returns the directory holding the hivechain files (`chain.rlp`, `genesis.json`,
/// `headstate.json`, ...), or `None` after printing a loud skip notice naming `test` when the
/// data is absent.
///
/// Looks in `$SNAP_TESTDATA/hivechain` first, then in `../shared/testdata/hivechain` relative to
/// the workspace root.
pub fn hivechain_dir(test: &str) -> Option<PathBuf> {
    let candidates = std::env::var_os(TESTDATA_ENV)
        .map(|dir| PathBuf::from(dir).join("hivechain"))
        .into_iter()
        .chain(std::iter::once(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/hivechain"),
        ));
    for dir in candidates {
        if dir.join("headstate.json").is_file() {
            return Some(dir);
        }
    }
    eprintln!(
        "SKIPPED {test}: hivechain test data not found (set {TESTDATA_ENV} or place it at ../shared/testdata/hivechain)"
    );
    None
}
