//! A seed sweep over random states, fault mixes, network and syncer tunables and crash points
//! (`SNAP_SIM_SEEDS` seeds, default 200, starting at `SNAP_SIM_FIRST_SEED`, default 0), the
//! same with moving targets (`SNAP_SIM_MOVING_SEEDS`, default 40), and the determinism check:
//! the same configuration gives the same report byte for byte.

use std::time::Duration;

use snap_core::sync::Phase;
use snap_sim::sim::{Faults, SimConfig, SimRng, run};

/// The configuration of sweep seed `seed`: everything derived from it, and all of it on the
/// replay command line.
fn sweep_config(seed: u64) -> SimConfig {
    let mut rng = SimRng::derive(seed, "sweep");
    let accounts = rng.between(20, 900) as usize;
    let mut config = SimConfig::new(seed, accounts, rng.between(2, 8) as usize);
    config.slots = accounts * rng.between(0, 12) as usize;
    config.large = rng.between(0, 4) as usize;
    config.faults = Faults::All;
    config.crash_every = *rng.pick(&[0, 0, 30, 100, 300]).unwrap_or(&0);
    config.boundary = rng.chance(0.2);
    config.uneven = rng.chance(0.2);
    config.ttl_ms = *rng.pick(&[0, 0, 0, 2000, 5000]).unwrap_or(&0);
    config.store_delay = Duration::from_millis(*rng.pick(&[0, 5, 100, 1000]).unwrap_or(&5));
    config.swarm = true;
    config
}

/// The configuration of moving-target sweep seed `seed`: the sweep's, with a chain that moves
/// one to eight times at a seeded pace (some moves land in the range phase, some in healing,
/// some after the sync finished a target), a seeded share of short-memory peers and retention.
fn moving_config(seed: u64) -> SimConfig {
    let mut config = sweep_config(seed);
    let mut rng = SimRng::derive(seed, "sweep-moving");
    config.moves = rng.between(1, 8);
    config.blocks_per_move = *rng.pick(&[1, 4, 16, 32]).unwrap_or(&32);
    config.block_time =
        Duration::from_micros(*rng.pick(&[100, 1000, 4000, 50_000, 500_000]).unwrap_or(&4000));
    config.changes_per_block = rng.between(1, 12) as usize;
    config.retain_blocks = *rng.pick(&[128, 128, 64, 16]).unwrap_or(&128);
    config
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// Totals over a sweep.
#[derive(Default)]
struct Totals {
    failures: Vec<String>,
    crashes: u64,
    disconnects: u64,
    moves: u64,
    heal_nodes: u64,
    changed_nodes: u64,
    requests: u64,
    node_requests: u64,
    healing_moves: u64,
    /// Runs whose every move landed during healing: how many, heal nodes, changed nodes.
    healing_only: (u64, u64, u64),
}

fn sweep(first: u64, seeds: u64, config: impl Fn(u64) -> SimConfig) -> Totals {
    let mut totals = Totals::default();
    for seed in first..first + seeds {
        let config = config(seed);
        let outcome = run(&config);
        match &outcome.result {
            Ok(summary) => {
                totals.crashes += summary.crashes;
                totals.moves += summary.moves.len() as u64;
                totals.heal_nodes += summary.heal_nodes;
                totals.changed_nodes += summary.changed_nodes.unwrap_or(0);
                totals.requests += summary.requests;
                totals.node_requests += summary.kinds.nodes;
                totals.healing_moves +=
                    summary.moves.iter().filter(|m| m.phase == Phase::Healing).count() as u64;
                if !summary.moves.is_empty()
                    && summary.moves.iter().all(|m| m.phase == Phase::Healing)
                {
                    totals.healing_only.0 += 1;
                    totals.healing_only.1 += summary.heal_nodes;
                    totals.healing_only.2 += summary.changed_nodes.unwrap_or(0);
                }
            }
            Err(_) => {
                let report = outcome.render();
                eprintln!("{report}");
                totals.failures.push(report.lines().rev().take(2).collect::<Vec<_>>().join("\n"));
            }
        }
        totals.disconnects += outcome
            .peers
            .iter()
            .map(|(_, stats)| stats.syncer_disconnects + stats.decode_disconnects)
            .sum::<u64>();
    }
    totals
}

#[test]
fn seed_sweep() {
    let seeds = env_u64("SNAP_SIM_SEEDS", 200);
    let first = env_u64("SNAP_SIM_FIRST_SEED", 0);
    let Totals { failures, crashes, disconnects, .. } = sweep(first, seeds, sweep_config);
    eprintln!(
        "{seeds} seeds from {first}: {} failed, {crashes} crashes survived, {disconnects} faulty peers dropped",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {seeds} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if seeds >= 50 {
        // The sweep is meant to exercise crashes and bans; a sweep that never does is broken.
        assert!(crashes > 0 && disconnects > 0, "crashes={crashes} disconnects={disconnects}");
    }
}

/// The sweep with moving targets (`SNAP_SIM_MOVING_SEEDS` seeds, default 40, from
/// `SNAP_SIM_FIRST_SEED`). Prints healing's cost: trie nodes healing wrote against the nodes
/// of the final state that the first lacks, and the requests sent.
#[test]
fn moving_seed_sweep() {
    let seeds = env_u64("SNAP_SIM_MOVING_SEEDS", 40);
    let first = env_u64("SNAP_SIM_FIRST_SEED", 0);
    let t = sweep(first, seeds, moving_config);
    eprintln!(
        "{seeds} moving seeds from {first}: {} failed, {} moves ({} during healing), {} crashes survived, {} faulty peers dropped; heal_nodes={} changed_nodes={} ratio={:.3} requests={} node_requests={}; {} runs with every move during healing: heal_nodes={} changed_nodes={} ratio={:.3}",
        t.failures.len(),
        t.moves,
        t.healing_moves,
        t.crashes,
        t.disconnects,
        t.heal_nodes,
        t.changed_nodes,
        t.heal_nodes as f64 / t.changed_nodes.max(1) as f64,
        t.requests,
        t.node_requests,
        t.healing_only.0,
        t.healing_only.1,
        t.healing_only.2,
        t.healing_only.1 as f64 / t.healing_only.2.max(1) as f64,
    );
    assert!(
        t.failures.is_empty(),
        "{} of {seeds} seeds failed:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
    if seeds >= 20 {
        assert!(t.moves > 0 && t.heal_nodes > 0 && t.crashes > 0);
    }
}

#[test]
fn same_seed_same_report() {
    for mut config in [sweep_config(7), sweep_config(8), moving_config(9)] {
        config.crash_every = 50;
        let strip = |report: String| {
            report.rsplit_once("wall_ms=").map(|(head, _)| head.to_string()).unwrap_or(report)
        };
        let first = strip(run(&config).render());
        let second = strip(run(&config).render());
        assert_eq!(first, second);
        assert!(first.contains("trace=0x"));
    }
}

#[test]
fn the_replay_command_replays() {
    let mut config = sweep_config(3);
    config.crash_every = 50;
    let command = config.replay_command();
    let prefix = "cargo run --release -p snap-sim --bin snap-sim -- ";
    assert!(command.starts_with(prefix), "{command}");
    // The printed command, parsed as the binary parses its arguments, runs the same sync.
    let args: Vec<String> = command[prefix.len()..].split_whitespace().map(String::from).collect();
    let replayed = SimConfig::parse(&args).expect("the replay command parses");
    let strip = |report: String| {
        report.rsplit_once("wall_ms=").map(|(head, _)| head.to_string()).unwrap_or(report)
    };
    assert_eq!(strip(run(&replayed).render()), strip(run(&config).render()));
}
