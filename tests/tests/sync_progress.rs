//! Progress reports over the simulated network: on a state whose slots are mostly one giant
//! contract, the fraction done counts the giant's slots still to come, not only the account
//! key space (which is nearly all written long before the giant is).

use snap_core::sync::{Phase, ProgressReport};
use snap_sim::sim::{RunOptions, SimConfig, World};

/// 2,000 accounts and about 200,000 slots, 90 % of them in one contract fetched as one chunk
/// (one request at a time, while the account ranges go on in parallel); a report every 10 ms
/// of virtual time.
fn giant(seed: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, 2_000, 4);
    config.slots = 200_000;
    config.large = 1;
    config.large_percent = 90;
    config.chunk_slots = 1_000_000;
    config.progress_ms = 10;
    config
}

#[test]
fn the_fraction_done_counts_a_giant_contracts_slots() {
    let config = giant(11);
    let world = World::build(&config, RunOptions::default()).expect("the world builds");
    let state = &world.target().state;
    let accounts = state.account_list().len() as u64;
    let slots: Vec<u64> =
        state.account_list().iter().map(|(hash, _)| state.slot_list(hash).len() as u64).collect();
    let total_slots: u64 = slots.iter().sum();
    let giant = slots.iter().copied().max().unwrap_or(0);
    assert!(giant * 10 > total_slots * 8, "the giant holds most slots: {giant} of {total_slots}");
    let mut reports: Vec<ProgressReport> = Vec::new();
    let outcome = world.run(&config, RunOptions::default(), &mut |probe| {
        reports.extend(probe.reports.iter().filter(|r| r.phase == Phase::Ranges).cloned());
    });
    assert!(outcome.passed(), "{}", outcome.render());
    let truth = |r: &ProgressReport| {
        (r.counters.accounts + r.counters.slots) as f64 / (accounts + total_slots) as f64
    };
    // Reports when the account ranges are all but written (the giant's own range waits for
    // it) and most of the giant is still to come.
    let waiting: Vec<&ProgressReport> = reports
        .iter()
        .filter(|r| r.counters.accounts * 10 >= accounts * 9)
        .filter(|r| !r.largest_pending_contracts.is_empty())
        .filter(|r| r.counters.slots < total_slots / 2)
        .collect();
    assert!(!waiting.is_empty(), "no report while the giant was fetched after the accounts");
    for report in waiting {
        let (fraction, truth) = (report.fraction_done, truth(report));
        assert!(fraction < 0.9, "{fraction} done with {truth} of the work written");
    }
    // The fraction never says more than a tenth beyond the work written, but for what it
    // showed before the giant was known (it never goes back).
    let found = reports.iter().position(|r| !r.largest_pending_contracts.is_empty());
    let held = found.and_then(|at| at.checked_sub(1)).map_or(0.0, |at| reports[at].fraction_done);
    for report in &reports {
        let (fraction, truth) = (report.fraction_done, truth(report));
        assert!(fraction <= held.max(truth) + 0.1, "{fraction} done with {truth} written");
    }
}
