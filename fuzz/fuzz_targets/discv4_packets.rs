//! Datagrams into the discv4 decoder and a discv4 node: see `snap_sim::fuzzing::discv4_packets`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| snap_sim::fuzzing::discv4_packets::check(data));
