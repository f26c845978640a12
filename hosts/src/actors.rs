//! An actor system on plain threads and channels, the shape of a design we learned from (a snap
//! controller over per-kind coordinators, each with a pool of workers, supervision, timeouts
//! that requeue tasks, blacklists, per-kind concurrency) with the core doing the coordinating:
//!
//! - **one owner actor** holds the `Syncer`: no shared mutable state, no locks around the sync;
//!   the per-kind coordinators, requeueing on timeout and blacklisting are the core's job;
//! - **per-peer worker actors** do the IO (a blocking client each);
//! - **supervision**: the owner, as supervisor, restarts a crashed worker under a new
//!   connection id; the core only sees a peer go and another come;
//! - **per-kind concurrency** is the core's configuration (`SyncConfig::account_tasks` = 16
//!   account ranges, `max_requests_per_peer`, `max_requests`);
//! - **a controller actor** receives progress messages and the end of the sync.

use std::{
    sync::mpsc::{self, Receiver, Sender},
    thread::{self, JoinHandle},
    time::Duration,
};

use snap_core::sync::{
    Counters, Input, PeerId, ProgressReport, SyncConfig, SyncEvent, Syncer, Target,
    host::MemoryStore,
};

pub use crate::peer::ClientFactory;
use crate::{Header, workers::Owner};

/// What the controller hears from the owner.
#[derive(Clone, Debug, PartialEq)]
pub enum ControllerMessage {
    /// Periodic progress.
    Progress(Box<ProgressReport>),
    /// A worker crashed and was restarted under a new peer id.
    Restarted {
        /// The crashed worker's peer id.
        crashed: PeerId,
        /// The new worker's peer id.
        replacement: PeerId,
    },
    /// The sync followed a new target.
    NewTarget(Target),
    /// The state is complete.
    Done {
        /// The target reached.
        target: Target,
        /// Final totals.
        counters: Counters,
    },
}

/// What the owner accepts from outside.
#[derive(Debug)]
pub enum OwnerMessage {
    /// A new header (the chain moved).
    Header(Header),
    /// Stop now (progress is committed batch by batch; a restart resumes).
    Stop,
}

/// The running system: the owner actor's thread and its mailbox.
#[derive(Debug)]
pub struct ActorSystem {
    mailbox: Sender<OwnerMessage>,
    owner: JoinHandle<MemoryStore>,
}

impl ActorSystem {
    /// Starts the owner actor syncing `header`'s state into `store` (resuming from the store's
    /// progress record if it has one), with one worker per client factory, reporting to
    /// `controller`.
    pub fn start(
        config: SyncConfig,
        header: Header,
        store: MemoryStore,
        clients: Vec<ClientFactory>,
        controller: Sender<ControllerMessage>,
    ) -> Self {
        let (mailbox, inbox) = mpsc::channel();
        let owner =
            thread::spawn(move || run_owner(config, header, store, clients, inbox, controller));
        Self { mailbox, owner }
    }

    /// The owner's mailbox.
    pub fn mailbox(&self) -> Sender<OwnerMessage> {
        self.mailbox.clone()
    }

    /// Waits for the owner to finish (done or stopped) and returns its store.
    pub fn join(self) -> thread::Result<MemoryStore> {
        self.owner.join()
    }
}

fn run_owner(
    config: SyncConfig,
    header: Header,
    store: MemoryStore,
    mut clients: Vec<ClientFactory>,
    inbox: Receiver<OwnerMessage>,
    controller: Sender<ControllerMessage>,
) -> MemoryStore {
    let now = std::time::Instant::now();
    let record = store
        .progress()
        .and_then(|bytes| snap_core::sync::ProgressRecord::decode_versioned(bytes).ok());
    let syncer = match record {
        Some(record) => Syncer::resume(config, record, now),
        None => Syncer::new(config, header.target(), now),
    };
    let mut owner = Owner::new(syncer, store);
    owner.input(Input::NewTarget(header.target()));
    // Peer ids are connection ids: a restarted worker gets a new one. `slots` maps each live
    // peer id to the factory that made its client.
    let mut next_id = 0u64;
    let mut slots = std::collections::BTreeMap::new();
    for (slot, factory) in clients.iter_mut().enumerate() {
        owner.connect(PeerId(next_id), factory());
        slots.insert(PeerId(next_id), slot);
        next_id += 1;
    }
    while !owner.is_done() {
        match inbox.try_recv() {
            Ok(OwnerMessage::Header(header)) => owner.input(Input::NewTarget(header.target())),
            Ok(OwnerMessage::Stop) => break,
            Err(_) => {}
        }
        let turn = owner.turn(Duration::from_millis(50));
        for crashed in turn.crashed {
            // Supervision: the same peer slot comes back as a new connection.
            let Some(slot) = slots.remove(&crashed) else { continue };
            let replacement = PeerId(next_id);
            next_id += 1;
            owner.connect(replacement, clients[slot]());
            slots.insert(replacement, slot);
            let _ = controller.send(ControllerMessage::Restarted { crashed, replacement });
        }
        for event in turn.events {
            let message = match event {
                SyncEvent::Progress(report) => ControllerMessage::Progress(Box::new(report)),
                SyncEvent::NewTarget(target) => ControllerMessage::NewTarget(target),
                SyncEvent::Done { target, counters } => {
                    ControllerMessage::Done { target, counters }
                }
                _ => continue,
            };
            let _ = controller.send(message);
        }
    }
    owner.into_store()
}
