//! Decodes arbitrary bytes as any snap message of either version: see
//! `snap_sim::fuzzing::decode_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| snap_sim::fuzzing::decode_message::check(data));
