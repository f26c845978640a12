//! Range-proof verification under fuzzer-chosen tries, ranges and corruptions: see
//! `snap_sim::fuzzing::range_proof`.
#![no_main]

use snap_sim::fuzzing::range_proof::{Input, check};

libfuzzer_sys::fuzz_target!(|input: Input| check(input));
