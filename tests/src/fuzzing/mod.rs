//! The bodies of the cargo-fuzz targets in `fuzz/`, as library functions: the fuzz targets call
//! them, and `tests/fuzz_corpus.rs` replays every committed corpus file through [`replay`] on
//! the stable toolchain.
//!
//! Targets that take a typed input decode it exactly as libfuzzer-sys does (the input's minimal
//! size first, then `Arbitrary::arbitrary_take_rest`), so a corpus file means the same thing to
//! the fuzzer and to the replay.

use arbitrary::{Arbitrary, Unstructured};

pub mod bal;
pub mod bal_sync;
pub mod decode_message;
pub mod discv4_packets;
pub mod pivot;
pub mod range_proof;
pub mod rlpx_frames;
pub mod serve;
pub mod syncer;
pub mod trie_generate;

/// Every fuzz target, by its name in `fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &[
    "bal",
    "bal_sync",
    "decode_message",
    "discv4_packets",
    "pivot",
    "range_proof",
    "rlpx_frames",
    "serve",
    "syncer",
    "trie_generate",
];

/// Runs one input of the fuzz target `target` (a name of [`TARGETS`]); returns `false` for an
/// unknown target. Panics exactly where the fuzz target would crash.
pub fn replay(target: &str, data: &[u8]) -> bool {
    match target {
        "bal" => with_arbitrary(data, bal::check),
        "bal_sync" => with_arbitrary(data, bal_sync::check),
        "decode_message" => decode_message::check(data),
        "discv4_packets" => discv4_packets::check(data),
        "pivot" => with_arbitrary(data, pivot::check),
        "range_proof" => with_arbitrary(data, range_proof::check),
        "rlpx_frames" => rlpx_frames::check(data),
        "serve" => with_arbitrary(data, serve::check),
        "syncer" => syncer::run_bytes(data),
        "trie_generate" => with_arbitrary(data, trie_generate::check),
        _ => return false,
    }
    true
}

/// Decodes `data` as libfuzzer-sys decodes a typed fuzz target's input and runs `check` on it;
/// inputs that do not decode are skipped, as the fuzzer skips them.
pub fn with_arbitrary<T: for<'a> Arbitrary<'a>>(data: &[u8], check: impl FnOnce(T)) {
    if data.len() < T::size_hint(0).0 {
        return;
    }
    if let Ok(input) = T::arbitrary_take_rest(Unstructured::new(data)) {
        check(input);
    }
}
