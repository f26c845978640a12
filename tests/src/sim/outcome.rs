//! What a run reports: the outcome, its summary and rendering, and what observers see.

use std::time::Duration;

use alloy_primitives::B256;
use snap_core::sync::{Phase, ProgressReport, Syncer};

use super::{
    config::SimConfig,
    network::EventQueue,
    peer::{Behaviour, PeerStats},
    store::{StoreMode, Written},
};

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    /// The configuration that was run.
    pub config: SimConfig,
    /// `Ok` with the summary, or the reason of the failure.
    pub result: Result<Summary, String>,
    /// Each peer's behaviour and what happened to it.
    pub peers: Vec<(Behaviour, PeerStats)>,
    /// A digest of every output of the syncer and every delivery, in order.
    pub trace: u64,
    /// Real time the run took.
    pub wall: Duration,
    /// Real time spent generating the state before the sync started.
    pub setup: Duration,
}

/// Requests sent, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// `GetAccountRange`.
    pub accounts: u64,
    /// `GetStorageRanges`.
    pub storage: u64,
    /// `GetStorageRanges` for a range of one contract (a chunk of a large one).
    pub chunks: u64,
    /// `GetByteCodes`.
    pub codes: u64,
    /// `GetTrieNodes`.
    pub nodes: u64,
}

/// A move of the target, as the runner fed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveRecord {
    /// The new target's block.
    pub number: u64,
    /// The syncer's phase when the move was fed.
    pub phase: Phase,
    /// Virtual time of the move.
    pub at: Duration,
    /// Requests sent before the move.
    pub kinds: RequestCounts,
    /// What the store had applied before the move.
    pub written: Written,
    /// Whether the host crashed right after feeding the move (before anything else happened).
    pub crash_after: bool,
}

/// What a successful run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The state root.
    pub root: B256,
    /// Accounts stored.
    pub accounts: u64,
    /// Slots stored.
    pub slots: u64,
    /// Codes stored.
    pub codes: u64,
    /// Trie nodes stored.
    pub nodes: u64,
    /// Trie nodes written by healing (the final `Counters::nodes`).
    pub heal_nodes: u64,
    /// Flat accounts written by healing.
    pub healed_accounts: u64,
    /// Flat slots written by healing.
    pub healed_slots: u64,
    /// The target's moves fed, in order (fewer than configured when the sync finished before
    /// the chain stopped: the end check is then against the last target fed).
    pub moves: Vec<MoveRecord>,
    /// Stored trie nodes of the last target fed that the first lacks (`None` without the
    /// oracle): the least healing must fetch after a sync of the first target.
    pub changed_nodes: Option<u64>,
    /// Pruned ranges applied.
    pub pruned: u64,
    /// Accounts the store held with storage that pruned ranges removed and that the last
    /// target no longer has: deleted by the chain after they were downloaded.
    pub deleted_after_download: Vec<B256>,
    /// Requests sent.
    pub requests: u64,
    /// Requests sent by kind: account ranges, storage ranges (of which chunks of one large
    /// contract), bytecodes.
    pub kinds: RequestCounts,
    /// Bytes of responses received.
    pub bytes: u64,
    /// Virtual time.
    pub sim: Duration,
    /// Steps.
    pub steps: u64,
    /// Crashes survived.
    pub crashes: u64,
    /// Batches applied.
    pub batches: u64,
    /// Progress events.
    pub reports: u64,
    /// Stall events.
    pub stalls: u64,
}

impl Outcome {
    /// Whether the run passed.
    pub const fn passed(&self) -> bool {
        self.result.is_ok()
    }

    /// The report: one line per peer, the trace digest, then (on failure) the replay command,
    /// and last the `PASS`/`FAIL` line. Only the last line's `wall_ms` depends on the machine.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let net = self.config.network();
        let sync = self.config.sync_config();
        out.push_str(&format!(
            "net latency_us={} jitter_us={} bandwidth={} loss={} store_delay_us={}\nsync tasks={} min_request_bytes={} max_request_bytes={} chunk_slots={} max_chunks={} codes_per_request={} requests_per_peer={} unacknowledged={} batch_bytes={} ttl_limit_ms={}\n",
            net.latency.as_micros(),
            net.jitter.as_micros(),
            net.bandwidth,
            net.loss,
            self.config.store_delay.as_micros(),
            sync.account_tasks,
            sync.min_request_bytes,
            sync.max_request_bytes,
            sync.min_slots_per_chunk,
            sync.max_storage_chunks,
            sync.max_codes_per_request,
            sync.max_requests_per_peer,
            sync.max_unacknowledged_batches,
            sync.batch_bytes,
            sync.rates.ttl_limit.as_millis(),
        ));
        for (index, (behaviour, stats)) in self.peers.iter().enumerate() {
            out.push_str(&format!(
                "peer {index} {behaviour} snap/{} requests={} (accounts/storage/codes/nodes {}/{}/{}/{}) replies={} unknown_roots={} syncer_disconnects={} decode_disconnects={} own_disconnects={}{}\n",
                stats.version,
                stats.requests,
                stats.by_kind[0],
                stats.by_kind[1],
                stats.by_kind[2],
                stats.by_kind[3],
                stats.replies,
                stats.unknown_roots,
                stats.syncer_disconnects,
                stats.decode_disconnects,
                stats.own_disconnects,
                stats.first_reason.as_ref().map(|r| format!(" reason=\"{r}\"")).unwrap_or_default(),
            ));
        }
        out.push_str(&format!("trace=0x{:016x}\n", self.trace));
        let seed = self.config.seed;
        match &self.result {
            Ok(s) => {
                for (index, m) in s.moves.iter().enumerate() {
                    out.push_str(&format!(
                        "move {} block={} at_ms={} phase={:?} requests_before={} chunk_requests_before={} node_requests_before={}{}\n",
                        index + 1,
                        m.number,
                        m.at.as_millis(),
                        m.phase,
                        m.kinds.accounts + m.kinds.storage + m.kinds.codes + m.kinds.nodes,
                        m.kinds.chunks,
                        m.kinds.nodes,
                        if m.crash_after { " crash_after" } else { "" },
                    ));
                }
                out.push_str(&format!(
                    "steps={} crashes={} batches={} reports={} stalls={} nodes={} account_requests={} storage_requests={} chunk_requests={} code_requests={} node_requests={} healed_accounts={} healed_slots={} pruned={}\nPASS seed={seed} root={} accounts={} slots={} codes={} requests={} bytes={} heal_nodes={} moves={} changed_nodes={} sim_ms={} wall_ms={}\n",
                    s.steps,
                    s.crashes,
                    s.batches,
                    s.reports,
                    s.stalls,
                    s.nodes,
                    s.kinds.accounts,
                    s.kinds.storage,
                    s.kinds.chunks,
                    s.kinds.codes,
                    s.kinds.nodes,
                    s.healed_accounts,
                    s.healed_slots,
                    s.pruned,
                    s.root,
                    s.accounts,
                    s.slots,
                    s.codes,
                    s.requests,
                    s.bytes,
                    s.heal_nodes,
                    s.moves.len(),
                    s.changed_nodes.map_or("-".to_string(), |n| n.to_string()),
                    s.sim.as_millis(),
                    self.wall.as_millis()
                ));
            }
            Err(reason) => out.push_str(&format!(
                "replay: {}\nFAIL seed={seed} reason={reason}\n",
                self.config.replay_command()
            )),
        }
        out
    }
}

/// What an observer sees after every step.
#[derive(Debug)]
pub struct Probe<'a> {
    /// The syncer, when one is alive.
    pub syncer: Option<&'a Syncer>,
    /// The events in flight (messages on the wire, batches being applied).
    pub queue: &'a EventQueue,
    /// The progress reports the syncer emitted during the step.
    pub reports: &'a [ProgressReport],
}

/// Options that do not change what is simulated, only how it is measured.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Keep the written state (end check exact) or only verify and count it.
    pub store: StoreMode,
    /// Build alloy-trie's node oracle (otherwise nodes are checked against the served tries).
    pub node_oracle: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { store: StoreMode::Keep, node_oracle: true }
    }
}
