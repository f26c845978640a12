//! Prints the client's CPU for a recorded sync against the keccak floor of the nodes it writes
//! (see `snap_benches::client_replay`). Arguments: `[accounts] [slots] [rounds]`.
//!
//! Each round runs the floor, the replay and decoding alone back to back, and the ratios are
//! medians of the per-round ratios: on a shared machine, a round's runs meet the same load.
//!
//! Under a profiler: `perf record --call-graph dwarf target/release/examples/client_replay`.

use std::{hint::black_box, time::Duration};

use snap_benches::{
    client_replay::record,
    cpu_time::{interleaved, thread_user_sys_ticks},
};

fn main() {
    let args: Vec<usize> =
        std::env::args().skip(1).map(|a| a.parse().expect("numeric argument")).collect();
    let accounts = args.first().copied().unwrap_or(20_000);
    let slots = args.get(1).copied().unwrap_or(accounts * 10);
    let rounds = args.get(2).copied().unwrap_or(9).max(1);
    let recording = record(1, accounts, slots, 8);
    let nodes = recording.written_nodes.len() as f64;
    let node_bytes: usize = recording.written_nodes.iter().map(|n| n.len()).sum();
    let mib = recording.response_bytes as f64 / (1024.0 * 1024.0);
    println!(
        "{accounts} accounts, {} slots: {} responses, {mib:.1} MiB; {nodes} nodes written ({:.1} MiB)",
        recording.slots,
        recording.responses,
        node_bytes as f64 / (1024.0 * 1024.0)
    );
    let ticks_before = thread_user_sys_ticks();
    let results = interleaved(
        rounds,
        &mut [
            &mut || {
                black_box(recording.keccak_floor());
            },
            &mut || {
                black_box(recording.replay());
            },
            &mut || {
                black_box(recording.decode_all());
            },
        ],
    );
    let per_node = |d: Duration| d.as_secs_f64() * 1e9 / nodes;
    let [(floor, _), (replay, ratio), (decode, decode_ratio)] = results[..] else {
        unreachable!("three tasks")
    };
    println!(
        "client: {:.1} ms, {:.1} MiB/s, {:.0} ns per written node; {ratio:.2}x the keccak floor",
        replay.as_secs_f64() * 1e3,
        mib / replay.as_secs_f64(),
        per_node(replay)
    );
    println!(
        "keccak floor (one keccak per written node): {:.1} ms, {:.0} ns per node",
        floor.as_secs_f64() * 1e3,
        per_node(floor)
    );
    println!(
        "decoding the responses alone: {:.1} ms, {decode_ratio:.2}x the floor",
        decode.as_secs_f64() * 1e3
    );
    if let (Some(before), Some(after)) = (ticks_before, thread_user_sys_ticks()) {
        let (user, sys) = (after.0 - before.0, after.1 - before.1);
        println!(
            "CPU split over the rounds: {:.0}% user, {:.0}% system",
            100.0 * user as f64 / (user + sys).max(1) as f64,
            100.0 * sys as f64 / (user + sys).max(1) as f64
        );
    }
}
