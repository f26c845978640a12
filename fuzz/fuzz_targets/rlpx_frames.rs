//! Arbitrary bytes into the RLPx frame decoder: see `snap_sim::fuzzing::rlpx_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| snap_sim::fuzzing::rlpx_frames::check(data));
