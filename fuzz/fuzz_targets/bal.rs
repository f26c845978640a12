//! Block access lists: strict decoding of arbitrary bytes, and application of fuzzer-built
//! blocks against an address-keyed model: see `snap_sim::fuzzing::bal`.
#![no_main]

use snap_sim::fuzzing::bal::{Input, check};

libfuzzer_sys::fuzz_target!(|input: Input| check(input));
