//! End-to-end simulated sync: the `Syncer` against 16 zero-latency honest peers serving a
//! generated state, every write verified against the target by the simulator's store (which
//! keeps nothing, so the numbers are the sync's). The state is built once, outside the timing.
//!
//! The 100,000-account / 1,000,000-slot run with memory figures is the simulator binary's
//! bench mode: `cargo run --release -p snap-sim --bin snap-sim -- --bench`.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use snap_sim::sim::{NetConfig, RunOptions, SimConfig, StoreMode, World};

fn sim_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_sync");
    group.sample_size(10);
    for (accounts, slots) in [(2_000usize, 20_000usize), (10_000, 100_000)] {
        let mut config = SimConfig::new(1, accounts, 16);
        config.slots = slots;
        config.net = NetConfig::INSTANT;
        config.store_delay = Duration::ZERO;
        let options = RunOptions { store: StoreMode::Discard, node_oracle: false };
        let world = World::build(&config, options).expect("state builds");
        let items = world.target().state.account_list().len() + world.target().slot_count;
        group.throughput(Throughput::Elements(items as u64));
        group.bench_function(format!("{accounts}_accounts_{slots}_slots_16_peers"), |b| {
            b.iter(|| {
                let outcome = world.run(&config, options, &mut |_| {});
                assert!(outcome.passed(), "{}", outcome.render());
                outcome
            });
        });
    }
    group.finish();
}

criterion_group!(benches, sim_sync);
criterion_main!(benches);
