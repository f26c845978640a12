//! The chunk trie generator on fuzzer-chosen keys and chunks: see
//! `snap_sim::fuzzing::trie_generate`.
#![no_main]

use snap_sim::fuzzing::trie_generate::{Input, check};

libfuzzer_sys::fuzz_target!(|input: Input| check(input));
