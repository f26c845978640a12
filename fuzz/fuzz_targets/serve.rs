//! Arbitrary requests against a small fixed state: see `snap_sim::fuzzing::serve`.
#![no_main]

use snap_sim::fuzzing::serve::{Request, check};

libfuzzer_sys::fuzz_target!(|request: Request| check(request));
