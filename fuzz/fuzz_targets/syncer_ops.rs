//! The `syncer` harness on an `Arbitrary`-derived operation sequence: see
//! `snap_sim::fuzzing::syncer`.
#![no_main]

use snap_sim::fuzzing::syncer::{ops::OpsInput, run_ops};

libfuzzer_sys::fuzz_target!(|input: OpsInput| run_ops(input));
