//! A seed sweep over random states, fault mixes, network and syncer tunables and crash points
//! (`SNAP_SIM_SEEDS` seeds, default 200, starting at `SNAP_SIM_FIRST_SEED`, default 0), and the
//! determinism check: the same configuration gives the same report byte for byte.

use std::time::Duration;

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

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

#[test]
fn seed_sweep() {
    let seeds = env_u64("SNAP_SIM_SEEDS", 200);
    let first = env_u64("SNAP_SIM_FIRST_SEED", 0);
    let mut failures = Vec::new();
    let mut crashes = 0;
    let mut disconnects = 0;
    for seed in first..first + seeds {
        let config = sweep_config(seed);
        let outcome = run(&config);
        match &outcome.result {
            Ok(summary) => crashes += summary.crashes,
            Err(_) => {
                let report = outcome.render();
                eprintln!("{report}");
                failures.push(report.lines().rev().take(2).collect::<Vec<_>>().join("\n"));
            }
        }
        disconnects += outcome
            .peers
            .iter()
            .map(|(_, stats)| stats.syncer_disconnects + stats.decode_disconnects)
            .sum::<u64>();
    }
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

#[test]
fn same_seed_same_report() {
    for seed in [7, 8] {
        let mut config = sweep_config(seed);
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
