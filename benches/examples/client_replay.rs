//! Prints the client's CPU for a recorded sync against the keccak floor of the nodes it writes
//! (see `snap_benches::client_replay`). Arguments: `[accounts] [slots] [runs]`.
//!
//! Under a profiler: `perf record -g target/release/examples/client_replay 20000 200000 20`.

use std::time::{Duration, Instant};

use snap_benches::client_replay::record;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// CPU time this thread has run, from the scheduler's statistics (nanoseconds; Linux), or the
/// wall clock elsewhere. The machine these numbers come from is shared, so CPU time is the
/// steadier measure.
#[allow(clippy::disallowed_methods)]
fn cpu_now() -> Duration {
    match std::fs::read_to_string("/proc/thread-self/schedstat") {
        Ok(stat) => Duration::from_nanos(
            stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).unwrap_or(0),
        ),
        Err(_) => {
            static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            START.get_or_init(Instant::now).elapsed()
        }
    }
}

/// The median CPU time of `runs` calls of `f`.
fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let started = cpu_now();
                f();
                cpu_now().saturating_sub(started)
            })
            .collect(),
    )
}

fn main() {
    let args: Vec<usize> =
        std::env::args().skip(1).map(|a| a.parse().expect("numeric argument")).collect();
    let accounts = args.first().copied().unwrap_or(20_000);
    let slots = args.get(1).copied().unwrap_or(accounts * 10);
    let runs = args.get(2).copied().unwrap_or(5).max(1);
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
    let replay = time(runs, || {
        std::hint::black_box(recording.replay());
    });
    let decode = time(runs, || {
        std::hint::black_box(recording.decode_all());
    });
    let floor = time(runs, || {
        std::hint::black_box(recording.keccak_floor());
    });
    let per_node = |d: Duration| d.as_secs_f64() * 1e9 / nodes;
    println!(
        "client: {:.1} ms, {:.1} MiB/s, {:.0} ns per written node",
        replay.as_secs_f64() * 1e3,
        mib / replay.as_secs_f64(),
        per_node(replay)
    );
    println!(
        "decode alone: {:.1} ms ({:.0} ns per node)",
        decode.as_secs_f64() * 1e3,
        per_node(decode)
    );
    println!(
        "keccak floor: {:.1} ms ({:.0} ns per node); client / floor = {:.2}",
        floor.as_secs_f64() * 1e3,
        per_node(floor),
        replay.as_secs_f64() / floor.as_secs_f64()
    );
}
