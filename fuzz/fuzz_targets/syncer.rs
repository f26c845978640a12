//! The whole `Syncer` driven by host operations read byte by byte from the input, with its
//! invariants checked after every step: see `snap_sim::fuzzing::syncer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| snap_sim::fuzzing::syncer::run_bytes(data));
