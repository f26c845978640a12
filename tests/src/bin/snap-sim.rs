//! `snap-sim`: runs one deterministic simulation and prints its report, ending with a `PASS` or
//! `FAIL` line (exit code 1 on failure).
//!
//! ```text
//! snap-sim --seed S [--accounts N] [--slots N] [--peers P] [--faults LIST|all] [--crash-every K]
//!          [--swarm] [--boundary] [--uneven] [--large N] [--tasks N] [--ttl-ms MS]
//!          [--moves M] [--blocks-per-move K] [--block-us US] [--changes-per-block N]
//!          [--retain-blocks N] [--max-target-lag N] [--finish-within N] ...
//! snap-sim --bench [--accounts N] [--slots N]     (16 zero-latency honest peers, memory report)
//! ```

use std::{
    alloc::{GlobalAlloc, Layout, System},
    process::ExitCode,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use snap_sim::sim::{Faults, NetConfig, RunOptions, SimConfig, StoreMode, run, run_with};

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's arguments.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|arg| arg == "--bench");
    args.retain(|arg| arg != "--bench");
    let mut config = match SimConfig::parse(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("snap-sim: {error}");
            return ExitCode::from(2);
        }
    };
    if bench {
        return run_bench(&mut config, &args);
    }
    let outcome = run(&config);
    print!("{}", outcome.render());
    if outcome.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// An end-to-end sync with 16 zero-latency honest peers; the store verifies and counts but
/// keeps nothing, so the heap beyond the target state is the syncer's (plus messages in
/// flight).
fn run_bench(config: &mut SimConfig, args: &[String]) -> ExitCode {
    if !args.iter().any(|arg| arg == "--accounts") {
        config.accounts = 100_000;
    }
    if !args.iter().any(|arg| arg == "--slots") {
        config.slots = config.accounts * 10;
    }
    if !args.iter().any(|arg| arg == "--peers") {
        config.peers = 16;
    }
    config.faults = Faults::None;
    config.net = NetConfig::INSTANT;
    config.store_delay = Duration::ZERO;
    let options = RunOptions { store: StoreMode::Discard, node_oracle: false };
    let mut baseline = None;
    let mut run_peak = 0usize;
    let mut wire_peak = 0usize;
    let mut syncer_peak = 0usize;
    let outcome = run_with(config, options, |probe| {
        let live = LIVE.load(Ordering::Relaxed);
        // The first step: the target state and peers are built; everything after is the run.
        let base = *baseline.get_or_insert_with(|| {
            PEAK.store(live, Ordering::Relaxed);
            live
        });
        let run = live.saturating_sub(base);
        // Messages on the wire and batches on their way to the store.
        let wire = probe.queue.held_bytes();
        run_peak = run_peak.max(run);
        wire_peak = wire_peak.max(wire);
        if probe.syncer.is_some() {
            syncer_peak = syncer_peak.max(run.saturating_sub(wire));
        }
    });
    print!("{}", outcome.render());
    let base = baseline.unwrap_or(0);
    let peak = PEAK.load(Ordering::Relaxed);
    if let Ok(summary) = &outcome.result {
        let items = summary.accounts + summary.slots;
        let sync = outcome.wall.saturating_sub(outcome.setup);
        let secs = sync.as_secs_f64().max(1e-9);
        println!(
            "bench accounts={} slots={} codes={} setup_ms={} sync_ms={} items_per_sec={:.0} heap_baseline_mb={:.1} heap_peak_mb={:.1} run_peak_over_baseline_mb={:.1} sampled_run_peak_mb={:.1} queued_peak_mb={:.1} run_minus_queued_peak_mb={:.1} peak_rss_mb={:.1}",
            summary.accounts,
            summary.slots,
            summary.codes,
            outcome.setup.as_millis(),
            sync.as_millis(),
            items as f64 / secs,
            mb(base),
            mb(peak),
            mb(peak.saturating_sub(base)),
            mb(run_peak),
            mb(wire_peak),
            mb(syncer_peak),
            peak_rss_kb().unwrap_or(0) as f64 / 1024.0,
        );
    }
    if outcome.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The process's peak resident set (VmHWM), on Linux.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
