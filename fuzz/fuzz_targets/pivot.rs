//! The target trust model against fuzzer-chosen lying peers, anchors, growth and reorgs: see
//! `snap_sim::fuzzing::pivot`.
#![no_main]

use snap_sim::fuzzing::pivot::{Input, check};

libfuzzer_sys::fuzz_target!(|input: Input| check(input));
