//! The whole `Syncer` in snap/2 catch-up, in fuzzer-chosen scenarios of the BAL simulation:
//! see `snap_sim::fuzzing::bal_sync`.
#![no_main]

use snap_sim::fuzzing::bal_sync::{Input, check};

libfuzzer_sys::fuzz_target!(|input: Input| check(input));
