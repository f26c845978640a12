//! Both thread-based hosts end on the target root, exactly, through interruptions: the stage
//! killed and re-run between commits, the actor system with crashing and stalling workers; and
//! both follow a target that moves while they run.

use std::{sync::mpsc, time::Duration};

use snap_core::{
    serve::InMemoryState,
    sync::{RateConfig, SyncConfig, host::MemoryStore},
};
use snap_hosts::{
    Header,
    actors::{ActorSystem, ControllerMessage, OwnerMessage},
    peer::{Faults, ServedStates, SimulatedPeer},
    pipeline::{Database, ExecInput, SnapSyncStage},
};
use snap_sim::sim::{StateSpec, TargetState, check_exact};

/// A state and the next one (a third of the balances and a fifth of the slots changed).
fn states(seed: u64) -> (InMemoryState, InMemoryState) {
    let spec = StateSpec { node_oracle: false, ..StateSpec::new(seed, 1_500, 15_000) };
    let first = TargetState::generate(&spec).expect("a valid state");
    let next = first.variant().expect("a valid variant");
    (first.state, next)
}

/// Small requests and short timeouts, so a short test has many requests and timeouts bite.
fn config() -> SyncConfig {
    SyncConfig {
        max_request_bytes: 64 * 1024,
        min_request_bytes: 16 * 1024,
        batch_bytes: 64 * 1024,
        min_slots_per_chunk: 500,
        // The header stream gives each target once and the stage is re-created between calls:
        // a target held back until it is stale would be lost with the stage, so take each at
        // once (it then lives in the progress record).
        max_target_lag: 0,
        rates: RateConfig {
            rtt_min: Duration::from_millis(100),
            rtt_max: Duration::from_millis(400),
            ttl_limit: Duration::from_secs(1),
            ..RateConfig::default()
        },
        ..SyncConfig::default()
    }
}

#[test]
fn pipeline_stage_killed_between_commits_and_rerun_ends_on_the_moved_target() {
    let (first, next) = states(11);
    let served = ServedStates::new([first.clone()]);
    let (headers, stream) = mpsc::channel();
    headers.send(Header { number: 100, state_root: first.root() }).unwrap();
    let peers = served.clone();
    let faults = [Faults { latency: Duration::from_millis(1), ..Faults::default() }; 3];
    let mut stage =
        SnapSyncStage::new(config(), stream, move |_| SimulatedPeer::clients(&peers, &faults));
    let mut db = Database::new();
    // Six commits a call: with three, a call's budget could be spent on batches of the heal
    // walk's prunes before any subtree committed, and every call then redid the same walk (2 to
    // 3 runs in 10 failed that way, before and after snap/2; see the closing note of session 3).
    let budget = ExecInput { max_commits: 6, max_time: Duration::from_secs(20) };
    let mut calls = 0;
    let mut previous = 0;
    let output = loop {
        calls += 1;
        assert!(calls < 400, "the stage does not finish");
        if calls == 4 {
            // The chain moves while the stage is between two calls.
            served.push(next.clone());
            headers.send(Header { number: 140, state_root: next.root() }).unwrap();
        }
        let output = stage.execute(&mut db, budget).expect("a target is known");
        // Each call continues from the last commit: progress never goes back.
        let written = output.counters.accounts + output.counters.healed_accounts;
        assert!(written >= previous, "call {calls}: {written} < {previous}");
        previous = written;
        if output.done {
            break output;
        }
        // An unfinished call spends its budget (the turn that reaches it may commit more).
        assert!(output.commits >= 6, "call {calls} stopped early: {} commits", output.commits);
    };
    assert!(calls > 4, "the stage was interrupted and re-run ({calls} calls)");
    assert_eq!(output.target.root, next.root());
    check_exact(db.tables(), &next).unwrap();
}

#[test]
fn actor_system_survives_crashing_and_stalling_workers_and_ends_on_the_moved_target() {
    let (first, next) = states(12);
    let served = ServedStates::new([first.clone()]);
    let (controller, messages) = mpsc::channel();
    let faults = [
        Faults { latency: Duration::from_millis(1), ..Faults::default() },
        Faults { crash_every: Some(7), latency: Duration::from_millis(1), ..Faults::default() },
        Faults {
            stall_every: Some((5, Duration::from_millis(1_500))),
            latency: Duration::from_millis(1),
            ..Faults::default()
        },
        Faults { crash_every: Some(11), latency: Duration::from_millis(2), ..Faults::default() },
    ];
    let clients = SimulatedPeer::factories(&served, &faults);
    let header = Header { number: 100, state_root: first.root() };
    let system = ActorSystem::start(config(), header, MemoryStore::new(), clients, controller);
    let mut restarts = 0;
    let mut progress = 0;
    let mut moved = false;
    let done = loop {
        let message = messages.recv_timeout(Duration::from_secs(60)).expect("the owner reports");
        match message {
            ControllerMessage::Restarted { crashed, replacement } => {
                assert_ne!(crashed, replacement, "a restarted worker is a new connection");
                restarts += 1;
            }
            ControllerMessage::Progress(_) => {
                progress += 1;
                if !moved {
                    moved = true;
                    served.push(next.clone());
                    let header = Header { number: 140, state_root: next.root() };
                    system.mailbox().send(OwnerMessage::Header(header)).unwrap();
                }
            }
            ControllerMessage::NewTarget(_) => {}
            ControllerMessage::Done { target, .. } => break target,
        }
    };
    let store = system.join().expect("the owner does not panic");
    assert!(restarts >= 2, "workers crashed and were restarted ({restarts})");
    assert!(progress >= 1);
    assert_eq!(done.root, next.root());
    check_exact(&store, &next).unwrap();
}
