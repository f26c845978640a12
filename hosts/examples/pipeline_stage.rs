//! The snap sync stage of a staged-sync pipeline, against simulated peers: `execute` is called
//! with a small budget again and again (as a pipeline interleaves stages, or as a restarted
//! node would), the chain moves once, and the stage ends on the new root.
//!
//! `cargo run --release -p snap-hosts --example pipeline_stage [accounts]`

use std::{sync::mpsc, time::Duration};

use snap_core::sync::SyncConfig;
use snap_hosts::{
    Header,
    peer::{Faults, ServedStates, SimulatedPeer},
    pipeline::{Database, ExecInput, SnapSyncStage},
};
use snap_sim::sim::{StateSpec, TargetState, check_exact};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let accounts = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(20_000);
    let spec = StateSpec { node_oracle: false, ..StateSpec::new(1, accounts, accounts * 10) };
    let first = TargetState::generate(&spec)?;
    let next = first.variant()?;
    let served = ServedStates::new([first.state.clone()]);
    let (headers, stream) = mpsc::channel();
    headers.send(Header { number: 1_000, state_root: first.root() })?;
    let peers = served.clone();
    // Small batches, so that a call's budget of commits is a small part of the work.
    let config = SyncConfig { batch_bytes: 256 * 1024, ..SyncConfig::default() };
    let faults = [Faults { latency: Duration::from_millis(2), ..Faults::default() }; 4];
    let mut stage =
        SnapSyncStage::new(config, stream, move |_| SimulatedPeer::clients(&peers, &faults));
    let mut db = Database::new();
    let budget = ExecInput { max_commits: 8, max_time: Duration::from_secs(30) };
    for call in 1.. {
        if call == 3 {
            served.push(next.clone());
            headers.send(Header { number: 1_064, state_root: next.root() })?;
            println!("chain moved to block 1064, root {}", next.root());
        }
        let output = stage.execute(&mut db, budget)?;
        println!(
            "execute #{call}: {} commits, done={}, accounts={} slots={} healed nodes={}",
            output.commits,
            output.done,
            output.counters.accounts,
            output.counters.slots,
            output.counters.nodes
        );
        if output.done {
            let state = if output.target.root == next.root() { &next } else { &first.state };
            check_exact(db.tables(), state)?;
            println!("state complete and exact at root {}", output.target.root);
            return Ok(());
        }
    }
    unreachable!()
}
