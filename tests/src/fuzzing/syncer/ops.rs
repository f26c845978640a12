//! What the fuzzer chooses: the syncer's configuration and a sequence of host operations, read
//! byte by byte from the raw input ([`Reader`]).
//!
//! Indices (`pick`) are taken modulo whatever they choose from at the moment the operation
//! runs, so every input is meaningful.

use std::time::Duration;

use snap_core::sync::{CatchUpMode, RateConfig, SyncConfig};

/// The syncer's configuration, squeezed so that small states need many requests, batches and
/// chunks: tiny byte budgets, few requests in flight, small caches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// Bits 0-1: account tasks (1, 2, 4, 16); bits 2-3: requests per peer (1 to 4); bits 4-5:
    /// unacknowledged batches (1 to 4); bit 6: two chunks or more for large storage; bit 7:
    /// end with the honest drain.
    pub shape: u8,
    /// Bits 0-2: request byte budget; bits 3-4: batch size; bits 5-7: total requests (1 to 8).
    pub sizes: u8,
    /// Bits 0-1: codes per request (1 to 4); bits 2-3: small-storage accounts per request
    /// (1 to 4); bits 4-5: known-code cache (1, 2, 8, 1024); bits 6-7: heal paths per request
    /// (1, 2, 8, 64).
    pub lists: u8,
    /// The syncer's seed.
    pub seed: u8,
}

impl Setup {
    /// Whether the input ends with the honest drain (and the end-state check).
    pub const fn drain(&self) -> bool {
        self.shape & 0x80 != 0
    }

    /// The syncer configuration this setup describes.
    pub fn config(&self) -> SyncConfig {
        let (shape, sizes, lists) = (self.shape, self.sizes, self.lists);
        let pick = |bits: u8, values: [usize; 4]| values[usize::from(bits & 3)];
        let budget =
            [64u64, 256, 700, 1500, 4000, 12_000, 64_000, 512 * 1024][usize::from(sizes & 7)];
        SyncConfig {
            account_tasks: pick(shape, [1, 2, 4, 16]),
            max_storage_chunks: if shape & 0x40 == 0 { 1 } else { 4 },
            min_slots_per_chunk: 4,
            min_request_bytes: budget.min(256),
            max_request_bytes: budget,
            max_codes_per_request: pick(lists, [1, 2, 3, 4]),
            max_storage_accounts_per_request: pick(lists >> 2, [1, 2, 3, 4]),
            max_requests_per_peer: pick(shape >> 2, [1, 2, 3, 4]),
            max_requests: usize::from(sizes >> 5) + 1,
            max_unacknowledged_batches: pick(shape >> 4, [1, 2, 3, 4]),
            batch_bytes: pick(sizes >> 3, [1, 600, 5000, 1 << 20]),
            min_target_step: 2,
            // Every eligible target is taken at once: the harness checks each one is.
            max_target_lag: 0,
            finish_within: 0,
            max_heal_paths_per_request: pick(lists >> 6, [1, 2, 8, 64]),
            max_heal_pending: 64,
            known_code_cache: pick(lists >> 4, [1, 2, 8, 1024]),
            stall_after: Duration::from_secs(60),
            progress_interval: Duration::from_secs(5),
            // The snap/1 harness: BAL catch-up is fuzzed by its own target.
            catch_up: CatchUpMode::Heal,
            max_bals_per_request: 4,
            max_bals_ahead: 8,
            rebuild_lookup_entries: 64,
            seed: u64::from(self.seed),
            rates: RateConfig::default(),
        }
    }
}

/// How a request is answered (or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The honest response from the states the peer holds (empty for a root it lacks).
    Honest,
    /// The honest response to the same request with this byte budget.
    SmallerBudget(u16),
    /// An empty response: "I do not have that state" (honest).
    Empty,
    /// Never answered.
    Drop,
    /// The honest response, then the same again (the second is unsolicited).
    Twice,
    /// The honest response, sent by another peer.
    ByOtherPeer(u8),
    /// The honest response, labelled with the id of another outstanding request.
    ForOtherRequest(u8),
    /// The honest response, labelled with an arbitrary id.
    RandomId(u64),
    /// Only the first `n` items (codes and trie nodes: an honest partial answer).
    Truncate(u8),
    /// One item left out (codes: an honest answer skipping one).
    DropItem(u8),
    /// Two neighbouring items swapped.
    SwapItems(u8),
    /// One item twice.
    DuplicateItem(u8),
    /// The items repeated `2 + n % 8` times.
    Huge(u8),
    /// One bit of one item flipped.
    CorruptItem {
        /// Which item.
        at: u8,
        /// Which byte of it.
        byte: u8,
        /// Which bit.
        bit: u8,
    },
    /// One bit of one proof node flipped.
    CorruptProof {
        /// Which node.
        at: u8,
        /// Which byte of it.
        byte: u8,
        /// Which bit.
        bit: u8,
    },
    /// One proof node left out.
    DropProof(u8),
    /// The response the other state gives (another root's data).
    FromOtherState,
    /// An empty response of another kind.
    WrongKind(u8),
}

/// How far the clock moves before `handle_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// A few milliseconds.
    Millis(u16),
    /// A few seconds.
    Seconds(u8),
    /// To the syncer's deadline (`poll_timeout`).
    ToDeadline,
    /// Days.
    Huge,
}

/// One host operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A new peer connects (a fresh id).
    Connect {
        /// Snap versions: 0 none, 1 snap/1, 2 snap/2, 3 both.
        versions: u8,
        /// Which states it holds ([`super::world::Holds::from_byte`]).
        holds: u8,
    },
    /// A connected peer leaves.
    Disconnect {
        /// Which one.
        pick: u8,
    },
    /// An outstanding request is answered.
    Answer {
        /// Which one.
        pick: u8,
        /// How.
        how: Answer,
    },
    /// A response already delivered arrives again.
    Replay {
        /// Which one of the recent ones.
        pick: u8,
    },
    /// A peer sends something unasked: a request, or a snap/2 response.
    Junk {
        /// Which peer.
        pick: u8,
        /// What.
        kind: u8,
    },
    /// Time passes and `handle_timeout` is called.
    Advance(Advance),
    /// The batch at the front of the host queue is applied (nothing when a lookup is first);
    /// acknowledged at once or later.
    Apply {
        /// Acknowledge it at once.
        ack: bool,
    },
    /// The oldest applied, unacknowledged batch is acknowledged.
    Ack,
    /// The oldest lookup is answered (after applying the batches before it).
    Lookup {
        /// Answer only half of the entries (the rest count as "not held").
        short: bool,
    },
    /// The chain moved: one of the two states, some blocks after the last target given.
    NewTarget {
        /// Which state.
        state: u8,
        /// How many blocks later.
        step: u8,
    },
    /// The host crashes: unapplied batches are lost, and a new `Syncer` resumes from the store.
    Restart,
}

/// Reads a raw input byte by byte; past its end every byte reads as zero.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub const fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether everything was read.
    pub const fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&byte, rest)) => {
                self.data = rest;
                byte
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// The configuration: the first four bytes.
    pub fn setup(&mut self) -> Setup {
        Setup { shape: self.byte(), sizes: self.byte(), lists: self.byte(), seed: self.byte() }
    }

    /// The next operation, or `None` at the end of the input. The first byte picks the
    /// operation (weighted towards answers, time and batches); its parameters follow.
    pub fn op(&mut self) -> Option<Op> {
        let (&selector, rest) = self.data.split_first()?;
        self.data = rest;
        Some(match selector % 32 {
            0..=1 => Op::Connect { versions: self.byte(), holds: self.byte() },
            2 => Op::Disconnect { pick: self.byte() },
            3..=12 => Op::Answer { pick: self.byte(), how: self.answer() },
            13 => Op::Replay { pick: self.byte() },
            14 => Op::Junk { pick: self.byte(), kind: self.byte() },
            15..=18 => Op::Advance(self.advance()),
            19..=22 => Op::Apply { ack: self.byte() & 1 == 0 },
            23..=24 => Op::Ack,
            25..=27 => Op::Lookup { short: self.byte() & 7 == 0 },
            28..=29 => Op::NewTarget { state: self.byte(), step: self.byte() },
            30 => Op::Restart,
            _ => Op::Answer { pick: 0, how: Answer::Honest },
        })
    }

    fn advance(&mut self) -> Advance {
        match self.byte() % 8 {
            0..=2 => Advance::Millis(self.u16()),
            3..=4 => Advance::Seconds(self.byte()),
            5..=6 => Advance::ToDeadline,
            _ => Advance::Huge,
        }
    }

    fn answer(&mut self) -> Answer {
        match self.byte() % 24 {
            0..=6 => Answer::Honest,
            7 => Answer::SmallerBudget(self.u16()),
            8 => Answer::Empty,
            9 => Answer::Drop,
            10 => Answer::Twice,
            11 => Answer::ByOtherPeer(self.byte()),
            12 => Answer::ForOtherRequest(self.byte()),
            13 => Answer::RandomId(u64::from(self.u16())),
            14 => Answer::Truncate(self.byte()),
            15 => Answer::DropItem(self.byte()),
            16 => Answer::SwapItems(self.byte()),
            17 => Answer::DuplicateItem(self.byte()),
            18 => Answer::Huge(self.byte()),
            19 => Answer::CorruptItem { at: self.byte(), byte: self.byte(), bit: self.byte() },
            20 => Answer::CorruptProof { at: self.byte(), byte: self.byte(), bit: self.byte() },
            21 => Answer::DropProof(self.byte()),
            22 => Answer::FromOtherState,
            _ => Answer::WrongKind(self.byte()),
        }
    }
}

/// Writes `setup` and `ops` in the raw format [`Reader`] reads (for hand-written seeds). Exact
/// except that [`Answer::RandomId`] keeps only the low 16 bits of its id.
pub fn to_bytes(setup: &Setup, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![setup.shape, setup.sizes, setup.lists, setup.seed];
    for op in ops {
        match *op {
            Op::Connect { versions, holds } => out.extend([0, versions, holds]),
            Op::Disconnect { pick } => out.extend([2, pick]),
            Op::Answer { pick, how } => {
                out.extend([3, pick]);
                write_answer(&mut out, how);
            }
            Op::Replay { pick } => out.extend([13, pick]),
            Op::Junk { pick, kind } => out.extend([14, pick, kind]),
            Op::Advance(advance) => {
                out.push(15);
                match advance {
                    Advance::Millis(ms) => {
                        out.push(0);
                        out.extend(ms.to_be_bytes());
                    }
                    Advance::Seconds(s) => out.extend([3, s]),
                    Advance::ToDeadline => out.push(5),
                    Advance::Huge => out.push(7),
                }
            }
            Op::Apply { ack } => out.extend([19, u8::from(!ack)]),
            Op::Ack => out.push(23),
            Op::Lookup { short } => out.extend([25, u8::from(!short)]),
            Op::NewTarget { state, step } => out.extend([28, state, step]),
            Op::Restart => out.push(30),
        }
    }
    out
}

fn write_answer(out: &mut Vec<u8>, how: Answer) {
    match how {
        Answer::Honest => out.push(0),
        Answer::SmallerBudget(bytes) => {
            out.push(7);
            out.extend(bytes.to_be_bytes());
        }
        Answer::Empty => out.push(8),
        Answer::Drop => out.push(9),
        Answer::Twice => out.push(10),
        Answer::ByOtherPeer(pick) => out.extend([11, pick]),
        Answer::ForOtherRequest(pick) => out.extend([12, pick]),
        Answer::RandomId(id) => {
            out.push(13);
            out.extend((id as u16).to_be_bytes());
        }
        Answer::Truncate(n) => out.extend([14, n]),
        Answer::DropItem(at) => out.extend([15, at]),
        Answer::SwapItems(at) => out.extend([16, at]),
        Answer::DuplicateItem(at) => out.extend([17, at]),
        Answer::Huge(n) => out.extend([18, n]),
        Answer::CorruptItem { at, byte, bit } => out.extend([19, at, byte, bit]),
        Answer::CorruptProof { at, byte, bit } => out.extend([20, at, byte, bit]),
        Answer::DropProof(at) => out.extend([21, at]),
        Answer::FromOtherState => out.push(22),
        Answer::WrongKind(pick) => out.extend([23, pick]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`Reader`] reads from any bytes, [`to_bytes`] writes back so that it reads the same.
    #[test]
    fn raw_format_round_trips() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            let noise: Vec<u8> = (0..600)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let mut reader = Reader::new(&noise);
            let setup = reader.setup();
            let ops: Vec<Op> = std::iter::from_fn(|| reader.op()).collect();
            assert!(ops.len() > 50);
            let bytes = to_bytes(&setup, &ops);
            let mut again = Reader::new(&bytes);
            assert_eq!(again.setup(), setup);
            let read: Vec<Op> = std::iter::from_fn(|| again.op()).collect();
            assert_eq!(read, ops);
        }
    }
}
