//! The actor system over simulated peers: one owner actor holds the `Syncer`, per-peer worker
//! actors do the IO (two of them crash now and then and are restarted, one stalls past its
//! timeout), the chain moves once, and the controller prints what it hears.
//!
//! `cargo run --release -p snap-hosts --example actor_system [accounts]`

use std::{sync::mpsc, time::Duration};

use snap_core::sync::{SyncConfig, host::MemoryStore};
use snap_hosts::{
    Header,
    actors::{ActorSystem, ControllerMessage, OwnerMessage},
    peer::{Faults, ServedStates, SimulatedPeer},
};
use snap_sim::sim::{StateSpec, TargetState, check_exact};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let accounts = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(20_000);
    let spec = StateSpec { node_oracle: false, ..StateSpec::new(2, accounts, accounts * 10) };
    let first = TargetState::generate(&spec)?;
    let next = first.variant()?;
    let served = ServedStates::new([first.state.clone()]);
    let latency = Duration::from_millis(2);
    let faults = [
        Faults { latency, ..Faults::default() },
        Faults { latency, ..Faults::default() },
        Faults { crash_every: Some(25), latency, ..Faults::default() },
        Faults { crash_every: Some(40), latency, ..Faults::default() },
        Faults { stall_every: Some((10, Duration::from_secs(5))), latency, ..Faults::default() },
    ];
    let clients = SimulatedPeer::factories(&served, &faults);
    // Crashes are expected here: keep their panic messages short.
    std::panic::set_hook(Box::new(|info| eprintln!("worker crashed: {info}")));
    let (controller, messages) = mpsc::channel();
    let header = Header { number: 1_000, state_root: first.root() };
    let system =
        ActorSystem::start(SyncConfig::default(), header, MemoryStore::new(), clients, controller);
    let mut moved = false;
    loop {
        match messages.recv()? {
            ControllerMessage::Progress(report) => {
                println!(
                    "{:?}: {:.1}% accounts={} slots={} heal_pending={} peers={}",
                    report.phase,
                    report.fraction_done * 100.0,
                    report.counters.accounts,
                    report.counters.slots,
                    report.heal_pending,
                    report.peers
                );
                if !moved {
                    moved = true;
                    served.push(next.clone());
                    let header = Header { number: 1_064, state_root: next.root() };
                    system.mailbox().send(OwnerMessage::Header(header))?;
                }
            }
            ControllerMessage::Restarted { crashed, replacement } => {
                println!("supervisor: worker {crashed:?} restarted as {replacement:?}");
            }
            ControllerMessage::NewTarget(target) => println!("new target: block {}", target.number),
            ControllerMessage::Done { target, counters } => {
                println!(
                    "done at root {} ({} accounts, {} slots, {} healed nodes)",
                    target.root, counters.accounts, counters.slots, counters.nodes
                );
                break;
            }
        }
    }
    let store = system.join().map_err(|_| "the owner panicked")?;
    check_exact(&store, &next)?;
    println!("store is exact");
    Ok(())
}
