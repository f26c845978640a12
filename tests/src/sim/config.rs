//! A simulation's configuration, and its command line: `to_args` and `parse` are inverses, so
//! every run (including the swarm-derived ones of the sweep) can print the command that
//! replays it.

use std::time::Duration;

use snap_core::sync::SyncConfig;

use super::{network::NetConfig, peer::Behaviour, rng::SimRng, state::StateSpec};

/// Which peers misbehave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Faults {
    /// Every peer is honest.
    None,
    /// Peers `0..list.len()` take these behaviours, the rest (up to the peer count) are honest.
    /// A list without an honest (or honest enough) peer is a run that must not finish.
    List(Vec<Behaviour>),
    /// A seeded mix: every peer but the first may take a random behaviour.
    All,
}

/// Everything that determines a run.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// The seed of everything.
    pub seed: u64,
    /// Accounts in the state.
    pub accounts: usize,
    /// Slots in the state (about).
    pub slots: usize,
    /// Very large contracts (`0`: the generator's default).
    pub large: usize,
    /// Share of the slots in the large contracts.
    pub large_percent: u64,
    /// Share of accounts with small storage.
    pub storage_percent: u64,
    /// Accounts at the task boundaries, slots at the same hashes.
    pub boundary: bool,
    /// Slot keys in three first-nibble buckets.
    pub uneven: bool,
    /// Peers.
    pub peers: usize,
    /// Faulty peers.
    pub faults: Faults,
    /// Crash the syncer about every this many steps (`0`: never).
    pub crash_every: u64,
    /// Derive the network and syncer tunables from the seed.
    pub swarm: bool,
    /// The network, unless swarm-derived.
    pub net: NetConfig,
    /// How long the store takes to apply a batch.
    pub store_delay: Duration,
    /// Account tasks of the syncer (`0`: its default).
    pub tasks: usize,
    /// Smallest range budget (`0`: default).
    pub min_request_bytes: u64,
    /// Largest range budget (`0`: default).
    pub max_request_bytes: u64,
    /// Request time-to-live limit (`0`: default).
    pub ttl_ms: u64,
    /// Slots per chunk the syncer plans with (`0`: default).
    pub chunk_slots: u64,
    /// Batch size (`0`: default).
    pub batch_bytes: usize,
    /// Steps without progress before the run fails as a livelock.
    pub idle_steps: u64,
    /// Most crashes per run; afterwards the run must converge.
    pub max_crashes: u64,
    /// Serve the state of this geth state dump (JSON) instead of a generated one.
    pub state_dump: Option<String>,
    /// The target moves every this many blocks.
    pub blocks_per_move: u64,
    /// How many times the target moves (then the chain stops); `0`: a fixed target.
    pub moves: u64,
    /// Virtual time between blocks.
    pub block_time: Duration,
    /// State changes per block.
    pub changes_per_block: usize,
    /// Blocks whose states peers retain (older roots are answered empty).
    pub retain_blocks: u64,
    /// The syncer may finish at a target at most this many blocks behind the newest one fed
    /// (`SyncConfig::finish_within`); the end check is against the target it finished at.
    pub finish_within: u64,
    /// The syncer's `SyncConfig::max_target_lag` (`0`: half of `retain_blocks`; `1` takes
    /// every move at once, as the sync did before it held newer targets).
    pub max_target_lag: u64,
    /// Virtual milliseconds between the syncer's progress reports (`0`: its default).
    pub progress_ms: u64,
}

impl SimConfig {
    /// A run of `accounts` accounts and ten times as many slots over `peers` honest peers.
    pub fn new(seed: u64, accounts: usize, peers: usize) -> Self {
        Self {
            seed,
            accounts,
            slots: accounts * 10,
            large: 0,
            large_percent: 50,
            storage_percent: 25,
            boundary: false,
            uneven: false,
            peers,
            faults: Faults::None,
            crash_every: 0,
            swarm: false,
            net: NetConfig::default(),
            store_delay: Duration::from_millis(5),
            tasks: 0,
            min_request_bytes: 0,
            max_request_bytes: 0,
            ttl_ms: 0,
            chunk_slots: 0,
            batch_bytes: 0,
            idle_steps: 200_000,
            max_crashes: 16,
            state_dump: None,
            blocks_per_move: 32,
            moves: 0,
            block_time: Duration::from_millis(4),
            changes_per_block: 4,
            retain_blocks: 128,
            finish_within: 0,
            max_target_lag: 0,
            progress_ms: 0,
        }
    }

    /// The state to generate.
    pub fn state_spec(&self) -> StateSpec {
        let mut spec = StateSpec::new(self.seed, self.accounts, self.slots);
        if self.large > 0 {
            spec.large_contracts = self.large;
        }
        spec.large_percent = self.large_percent;
        spec.storage_percent = self.storage_percent;
        spec.boundary = self.boundary;
        spec.uneven = self.uneven;
        spec
    }

    /// The network, with the swarm applied.
    pub fn network(&self) -> NetConfig {
        if !self.swarm {
            return self.net;
        }
        let mut rng = SimRng::derive(self.seed, "swarm-net");
        NetConfig {
            latency: Duration::from_millis(rng.between(0, 200)),
            jitter: Duration::from_millis(rng.between(0, 100)),
            bandwidth: *rng.pick(&[0, 256 * 1024, 2 * 1024 * 1024, 50 * 1024 * 1024]).unwrap_or(&0),
            loss: *rng.pick(&[0.0, 0.0, 0.01, 0.05]).unwrap_or(&0.0),
        }
    }

    /// The syncer's configuration, with the swarm applied.
    pub fn sync_config(&self) -> SyncConfig {
        let mut config = SyncConfig { seed: self.seed, ..SyncConfig::default() };
        // Small batches so that a small state still spans many batches and crash points.
        config.batch_bytes = 256 * 1024;
        if self.swarm {
            let mut rng = SimRng::derive(self.seed, "swarm-sync");
            config.account_tasks = rng.between(1, 16) as usize;
            config.min_request_bytes = rng.between(512, 64 * 1024);
            config.max_request_bytes = config.min_request_bytes * rng.between(1, 8);
            config.min_slots_per_chunk = rng.between(16, 1024);
            config.max_storage_chunks = rng.between(1, 16) as usize;
            config.max_codes_per_request = rng.between(1, 84) as usize;
            config.max_requests_per_peer = rng.between(1, 4) as usize;
            config.max_unacknowledged_batches = rng.between(1, 4) as usize;
            config.batch_bytes = rng.between(1024, 512 * 1024) as usize;
        }
        if self.tasks > 0 {
            config.account_tasks = self.tasks;
        }
        if self.min_request_bytes > 0 {
            config.min_request_bytes = self.min_request_bytes;
        }
        if self.max_request_bytes > 0 {
            config.max_request_bytes = self.max_request_bytes;
        }
        if self.ttl_ms > 0 {
            config.rates.ttl_limit = Duration::from_millis(self.ttl_ms);
            // A limit below the default floor of a peer's timeout lowers the floor with it.
            config.rates.ttl_floor = config.rates.ttl_floor.min(config.rates.ttl_limit);
        }
        if self.chunk_slots > 0 {
            config.min_slots_per_chunk = self.chunk_slots;
        }
        if self.batch_bytes > 0 {
            config.batch_bytes = self.batch_bytes;
        }
        // Every move of the simulated chain is a target to take; by default the sync moves
        // mid-phase once its target is half as old as the states peers keep.
        config.min_target_step = 1;
        config.max_target_lag = match self.max_target_lag {
            0 => (self.retain_blocks / 2).max(1),
            lag => lag,
        };
        config.finish_within = self.finish_within;
        if self.progress_ms > 0 {
            config.progress_interval = Duration::from_millis(self.progress_ms);
        }
        config
    }

    /// The virtual time of move `index` (from 1): the chain makes a block every
    /// `block_time`, and the target moves every `blocks_per_move` blocks.
    pub fn move_time(&self, index: u64) -> Duration {
        self.block_time.saturating_mul((index * self.blocks_per_move).min(u32::MAX as u64) as u32)
    }

    /// The chain's head block at virtual time `at` (the first target is block 1; the chain
    /// stops after the last move).
    pub fn head_block(&self, at: Duration) -> u64 {
        let last = self.moves * self.blocks_per_move;
        let blocks = match self.block_time.as_nanos() {
            0 => last,
            nanos => (at.as_nanos() / nanos).min(u128::from(last)) as u64,
        };
        1 + blocks
    }

    /// The behaviour of every peer.
    pub fn behaviours(&self) -> Vec<Behaviour> {
        let peers = self.peers.max(1);
        match &self.faults {
            Faults::None => vec![Behaviour::Honest; peers],
            Faults::List(list) => {
                let mut all = list.clone();
                all.extend(std::iter::repeat_n(
                    Behaviour::Honest,
                    peers.saturating_sub(list.len()),
                ));
                all
            }
            Faults::All => {
                let mut rng = SimRng::derive(self.seed, "faults");
                let faulty = &Behaviour::ALL[1..];
                (0..peers.max(2))
                    .map(|index| {
                        if index > 0 && rng.chance(0.6) {
                            *rng.pick(faulty).unwrap_or(&Behaviour::Honest)
                        } else {
                            Behaviour::Honest
                        }
                    })
                    .collect()
            }
        }
    }

    /// The command-line arguments that give this configuration.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["--seed".into(), self.seed.to_string()];
        let mut push = |name: &str, value: String| {
            args.push(format!("--{name}"));
            args.push(value);
        };
        push("accounts", self.accounts.to_string());
        push("slots", self.slots.to_string());
        push("peers", self.peers.to_string());
        match &self.faults {
            Faults::None => {}
            Faults::All => push("faults", "all".into()),
            Faults::List(list) => {
                push("faults", list.iter().map(|b| b.name()).collect::<Vec<_>>().join(","))
            }
        }
        let defaults = Self::new(self.seed, self.accounts, self.peers);
        let numbers: [(&str, u64, u64); 21] = [
            ("idle-steps", self.idle_steps, defaults.idle_steps),
            ("large-percent", self.large_percent, defaults.large_percent),
            ("storage-percent", self.storage_percent, defaults.storage_percent),
            ("crash-every", self.crash_every, defaults.crash_every),
            ("large", self.large as u64, defaults.large as u64),
            ("tasks", self.tasks as u64, defaults.tasks as u64),
            ("min-request-bytes", self.min_request_bytes, defaults.min_request_bytes),
            ("max-request-bytes", self.max_request_bytes, defaults.max_request_bytes),
            ("ttl-ms", self.ttl_ms, defaults.ttl_ms),
            ("chunk-slots", self.chunk_slots, defaults.chunk_slots),
            ("batch-bytes", self.batch_bytes as u64, defaults.batch_bytes as u64),
            (
                "store-delay-us",
                self.store_delay.as_micros() as u64,
                defaults.store_delay.as_micros() as u64,
            ),
            ("max-crashes", self.max_crashes, defaults.max_crashes),
            ("blocks-per-move", self.blocks_per_move, defaults.blocks_per_move),
            ("moves", self.moves, defaults.moves),
            (
                "block-us",
                self.block_time.as_micros() as u64,
                defaults.block_time.as_micros() as u64,
            ),
            ("changes-per-block", self.changes_per_block as u64, defaults.changes_per_block as u64),
            ("retain-blocks", self.retain_blocks, defaults.retain_blocks),
            ("finish-within", self.finish_within, defaults.finish_within),
            ("max-target-lag", self.max_target_lag, defaults.max_target_lag),
            ("progress-ms", self.progress_ms, defaults.progress_ms),
        ];
        for (name, value, default) in numbers {
            if value != default {
                push(name, value.to_string());
            }
        }
        if self.net != defaults.net {
            push("latency-us", self.net.latency.as_micros().to_string());
            push("jitter-us", self.net.jitter.as_micros().to_string());
            push("bandwidth", self.net.bandwidth.to_string());
            push("loss", self.net.loss.to_string());
        }
        if let Some(path) = &self.state_dump {
            push("state-dump", path.clone());
        }
        if self.boundary {
            args.push("--boundary".into());
        }
        if self.uneven {
            args.push("--uneven".into());
        }
        if self.swarm {
            args.push("--swarm".into());
        }
        args
    }

    /// The command that replays this configuration.
    pub fn replay_command(&self) -> String {
        format!("cargo run --release -p snap-sim --bin snap-sim -- {}", self.to_args().join(" "))
    }

    /// Parses command-line arguments (without the program name). Unknown arguments are errors.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut config = Self::new(0, 1000, 4);
        let mut slots = None;
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let flag =
                arg.strip_prefix("--").ok_or_else(|| format!("unexpected argument {arg:?}"))?;
            match flag {
                "boundary" => config.boundary = true,
                "uneven" => config.uneven = true,
                "swarm" => config.swarm = true,
                _ => {
                    if !VALUE_OPTIONS.contains(&flag) {
                        return Err(format!("unknown option --{flag}"));
                    }
                    let value = iter.next().ok_or_else(|| format!("--{flag} needs a value"))?;
                    let number =
                        || value.parse::<u64>().map_err(|e| format!("--{flag} {value}: {e}"));
                    match flag {
                        "seed" => config.seed = number()?,
                        "state-dump" => config.state_dump = Some(value.clone()),
                        "accounts" => config.accounts = number()? as usize,
                        "slots" => slots = Some(number()? as usize),
                        "peers" => config.peers = number()? as usize,
                        "faults" => config.faults = parse_faults(value)?,
                        "crash-every" => config.crash_every = number()?,
                        "large" => config.large = number()? as usize,
                        "large-percent" => config.large_percent = number()?,
                        "storage-percent" => config.storage_percent = number()?,
                        "tasks" => config.tasks = number()? as usize,
                        "min-request-bytes" => config.min_request_bytes = number()?,
                        "max-request-bytes" => config.max_request_bytes = number()?,
                        "ttl-ms" => config.ttl_ms = number()?,
                        "chunk-slots" => config.chunk_slots = number()?,
                        "batch-bytes" => config.batch_bytes = number()? as usize,
                        "store-delay-us" => config.store_delay = Duration::from_micros(number()?),
                        "max-crashes" => config.max_crashes = number()?,
                        "idle-steps" => config.idle_steps = number()?,
                        "blocks-per-move" => config.blocks_per_move = number()?.max(1),
                        "moves" => config.moves = number()?,
                        "block-us" => config.block_time = Duration::from_micros(number()?),
                        "changes-per-block" => config.changes_per_block = number()? as usize,
                        "retain-blocks" => config.retain_blocks = number()?,
                        "finish-within" => config.finish_within = number()?,
                        "max-target-lag" => config.max_target_lag = number()?,
                        "progress-ms" => config.progress_ms = number()?,
                        "latency-us" => config.net.latency = Duration::from_micros(number()?),
                        "jitter-us" => config.net.jitter = Duration::from_micros(number()?),
                        "bandwidth" => config.net.bandwidth = number()?,
                        "loss" => {
                            config.net.loss =
                                value.parse().map_err(|e| format!("--loss {value}: {e}"))?;
                        }
                        _ => return Err(format!("unknown option --{flag}")),
                    }
                }
            }
        }
        config.slots = slots.unwrap_or(config.accounts * 10);
        Ok(config)
    }
}

/// The options that take a value.
const VALUE_OPTIONS: [&str; 31] = [
    "seed",
    "state-dump",
    "accounts",
    "slots",
    "peers",
    "faults",
    "crash-every",
    "large",
    "large-percent",
    "storage-percent",
    "tasks",
    "min-request-bytes",
    "max-request-bytes",
    "ttl-ms",
    "chunk-slots",
    "batch-bytes",
    "store-delay-us",
    "max-crashes",
    "idle-steps",
    "latency-us",
    "jitter-us",
    "bandwidth",
    "loss",
    "blocks-per-move",
    "moves",
    "block-us",
    "changes-per-block",
    "retain-blocks",
    "finish-within",
    "max-target-lag",
    "progress-ms",
];

fn parse_faults(value: &str) -> Result<Faults, String> {
    match value {
        "all" => Ok(Faults::All),
        "none" | "" => Ok(Faults::None),
        list => Ok(Faults::List(list.split(',').map(str::parse).collect::<Result<_, _>>()?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip() {
        let mut config = SimConfig::new(42, 777, 5);
        config.faults = Faults::List(vec![Behaviour::Garbage, Behaviour::ProofHappy]);
        config.crash_every = 300;
        config.boundary = true;
        config.ttl_ms = 1;
        config.net = NetConfig::INSTANT;
        config.store_delay = Duration::from_micros(1500);
        config.slots = 12345;
        config.idle_steps = 77;
        config.large_percent = 100;
        config.storage_percent = 0;
        config.moves = 3;
        config.blocks_per_move = 8;
        config.block_time = Duration::from_micros(2500);
        config.changes_per_block = 9;
        config.retain_blocks = 16;
        config.finish_within = 2;
        config.max_target_lag = 3;
        config.progress_ms = 250;
        assert_eq!(SimConfig::parse(&config.to_args()), Ok(config.clone()));
        config.faults = Faults::All;
        config.swarm = true;
        assert_eq!(SimConfig::parse(&config.to_args()), Ok(config));
        assert_eq!(
            SimConfig::parse(&["--bogus".into(), "1".into()]),
            Err("unknown option --bogus".into())
        );
        assert!(SimConfig::parse(&["--seed".into()]).is_err());
    }

    #[test]
    fn moves_land_on_block_times_and_the_head_stops_after_the_last() {
        let mut config = SimConfig::new(1, 10, 1);
        config.moves = 3;
        config.blocks_per_move = 8;
        config.block_time = Duration::from_millis(10);
        assert_eq!(config.move_time(1), Duration::from_millis(80));
        assert_eq!(config.head_block(Duration::ZERO), 1);
        assert_eq!(config.head_block(Duration::from_millis(79)), 8);
        assert_eq!(config.head_block(config.move_time(1)), 9);
        assert_eq!(config.head_block(config.move_time(3)), 25);
        assert_eq!(config.head_block(Duration::from_secs(100)), 25);
        config.moves = 0;
        assert_eq!(config.head_block(Duration::from_secs(100)), 1);
    }

    #[test]
    fn a_fault_mix_keeps_an_honest_peer() {
        for seed in 0..100 {
            let mut config = SimConfig::new(seed, 10, 1 + (seed % 6) as usize);
            config.faults = Faults::All;
            assert!(config.behaviours().contains(&Behaviour::Honest));
            config.faults = Faults::List(vec![Behaviour::Empty; 3]);
            let behaviours = config.behaviours();
            assert_eq!(behaviours.len(), config.peers.max(3));
            assert_eq!(&behaviours[..3], &[Behaviour::Empty; 3]);
        }
    }
}
