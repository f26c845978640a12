//! `syncer`: the whole `Syncer` driven by fuzzer-chosen host operations.
//!
//! One `snap_core::sync::Syncer` syncs the first of two small states ([`world`]). The fuzzer's
//! bytes choose its configuration ([`ops::Setup`]) and a sequence of operations ([`ops::Op`]):
//! peers connecting (holding one state or both) and leaving, outstanding requests answered by
//! the real server ([`respond`]) honestly or changed (dropped, truncated, reordered, duplicated,
//! answered for another id or by another peer, proofs corrupted, huge or empty, from the other
//! state, of another kind), time jumping forward, batches applied to a model store ([`store`])
//! and acknowledged late or never, lookups answered from that store, new targets (the other
//! state, or back), and host crashes with a resume from the last applied progress record.
//! The operations are read byte by byte from the raw input (str0m's receive-fuzz shape). (An
//! `Arbitrary`-derived operation list was tried beside it and found nothing more: see
//! fuzz/README.md.)
//!
//! After every input the outputs are drained (at most [`harness::MAX_OUTPUTS`]) and checked:
//!
//! - every account, slot, code and trie node in a write batch is the item of one of the states
//!   given as targets (nodes: that state's node at that path), and every batch's progress record
//!   decodes, names a given root, and neither its fraction done nor its counters go backwards;
//! - batches come with consecutive ids; `in_flight()` stays within `max_requests` and
//!   `max_requests_per_peer` times the connected peers; `unacknowledged_batches()` equals the
//!   host's count and stays within `max_unacknowledged_batches + 1`; the counters never shrink;
//! - requests go only to connected peers, in a version they negotiated, name a given root, and
//!   are accepted by the server;
//! - a `Disconnect` only ever follows a response from that peer that the harness changed (or
//!   could not know to be honest: a late answer beyond the syncer's memory of timed-out ids), in
//!   the same drain; an honest, unchanged response is never penalized;
//! - after `handle_timeout(now)` the next deadline lies after `now` (no spin);
//! - `Done` comes only with every batch acknowledged, names a given target, and then the store
//!   holds exactly that state; nothing at all is output after it.
//!
//! With bit 7 of [`ops::Setup::shape`] the input ends with the honest drain: an honest peer
//! holding both states connects and every request, batch and lookup is answered honestly until
//! the sync is `Done`, which it must reach within [`harness::DRAIN_STEPS`] steps.

pub mod harness;
pub mod ops;
pub mod respond;
pub mod store;
pub mod world;

use harness::Harness;
use ops::Reader;

/// The `syncer` target: the raw input read as a setup and operations, then the honest drain
/// when the setup asks for it.
pub fn run_bytes(data: &[u8]) {
    let mut reader = Reader::new(data);
    let setup = reader.setup();
    let mut harness = Harness::new(setup);
    while let Some(op) = reader.op() {
        harness.run(op);
    }
    if setup.drain() {
        harness.honest_drain();
    }
}
