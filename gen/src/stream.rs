//! The streaming generator: a mainnet-like state of any size produced directly in key order as
//! [`WriteBatch`]es, with every trie built as its leaves stream, so memory stays flat whatever
//! the size (what `snap generate` writes into a store).
//!
//! ## Order and memory
//!
//! Account hashes are drawn, not addresses hashed: the key space is cut into equal chunks of
//! about [`CHUNK`] accounts, each chunk's hashes drawn uniformly inside it and sorted, so the
//! accounts come out in hash order with one chunk in memory. Each account's storage is drawn the
//! same way, chunk by chunk, streamed into its storage trie's [`TrieGenerator`] (which hands out
//! the nodes as they are final), and the storage root it ends with goes into the account leaf,
//! pushed into the account trie's generator. Flat entries, codes and nodes go into batches of
//! about [`StreamSpec::batch_bytes`]; a batch is handed to the sink as soon as it is full. What
//! stays in memory: one chunk of keys, the generators' stacks (one path each), the pool of
//! shared codes and one batch.
//!
//! ## Shape
//!
//! - accounts: [`EMPTY_SHARE`] empty (no nonce, balance, code or storage), [`CONTRACT_SHARE`]
//!   contracts (code), the rest externally owned with a nonce and a balance;
//! - codes: a contract's code is unique with [`UNIQUE_CODE_SHARE`], else drawn from a pool of
//!   shared codes (a few of them very popular, as proxies and token templates are); sizes from a
//!   few dozen bytes to the 24 KiB limit;
//! - storage: a few *giant* contracts of [`Shape::largest`] slots each (at least 10M once the
//!   state has 40M slots: mainnet's largest hold tens of millions), and a share of the other
//!   contracts with a power law of sizes (a truncated Pareto, its exponent fitted so the total
//!   comes out near the slots asked for): about half of them hold one slot, a few hold millions;
//! - slot values: small integers, addresses, balances and 32-byte hashes, RLP-encoded.
//!
//! The state is a pure function of the spec: the same spec gives the same batches and root.

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use snap_core::{
    sync::{BatchId, WriteBatch},
    trie::{NodeChanges, TrieGenerator},
};

use crate::SeededRng;

/// Keys drawn and sorted at a time (accounts, or one contract's slots).
pub const CHUNK: u64 = 4096;
/// Share of accounts that are empty.
pub const EMPTY_SHARE: f64 = 0.01;
/// Share of accounts that are contracts (have code); raised if more accounts must hold storage.
pub const CONTRACT_SHARE: f64 = 0.25;
/// Largest share of accounts holding storage (giants aside).
pub const STORAGE_SHARE: f64 = 0.15;
/// Share of contracts whose code is their own; the others share a pool.
pub const UNIQUE_CODE_SHARE: f64 = 0.05;
/// Share of all slots the giant contracts hold together, at most.
pub const GIANT_SLOT_SHARE: f64 = 0.05;
/// The progress record of a generated store: not a sync's, so a sync refuses to resume it.
pub const GENERATED_PROGRESS: &[u8] = b"snap generate";

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    /// Accounts.
    pub accounts: u64,
    /// Storage slots, approximately (the power law's draw decides the exact count).
    pub slots: u64,
    /// The seed.
    pub seed: u64,
    /// Slots of each giant contract; `None`: the default (see [`Shape`]).
    pub largest: Option<u64>,
    /// Size of a batch handed to the sink, in bytes of keys and values, about.
    pub batch_bytes: usize,
}

impl StreamSpec {
    /// A state of `accounts` accounts and about `slots` slots, with the default shape and 8 MiB
    /// batches.
    pub const fn new(seed: u64, accounts: u64, slots: u64) -> Self {
        Self { accounts, slots, seed, largest: None, batch_bytes: 8 << 20 }
    }

    /// The shape this spec gives.
    pub fn shape(&self) -> Shape {
        Shape::new(self)
    }
}

/// The numbers the shape is drawn from, derived from a [`StreamSpec`].
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// Slots of each giant contract: the spec's, or `max(slots / 30, min(10M, slots / 4))`.
    pub largest: u64,
    /// Giant contracts: enough to hold [`GIANT_SLOT_SHARE`] of the slots, at least one when
    /// there are slots.
    pub giants: u64,
    /// Probability that an account (not a giant) is a contract.
    pub contract_share: f64,
    /// Probability that an account (not a giant) holds storage (it is then a contract).
    pub storage_share: f64,
    /// Exponent of the truncated Pareto the other contracts' storage sizes follow (sizes
    /// `1..=largest`).
    pub exponent: f64,
    /// Size of the pool of shared codes.
    pub shared_codes: usize,
}

impl Shape {
    fn new(spec: &StreamSpec) -> Self {
        let slots = spec.slots;
        let largest = spec
            .largest
            .unwrap_or_else(|| (slots / 30).max(slots.div_ceil(4).min(10_000_000)))
            .clamp(1, slots.max(1));
        let giants = if slots == 0 || spec.accounts == 0 {
            0
        } else {
            ((GIANT_SLOT_SHARE * slots as f64 / largest as f64).round() as u64)
                .clamp(1, spec.accounts.min(slots / largest).max(1))
        };
        let rest = slots.saturating_sub(giants * largest);
        let others = spec.accounts.saturating_sub(giants).max(1);
        // Mean at least two slots per storage account.
        let storage_accounts = (STORAGE_SHARE * others as f64).min(rest as f64 / 2.0);
        let storage_accounts = if rest > 0 { storage_accounts.max(1.0) } else { 0.0 };
        let storage_share = (storage_accounts / (others as f64 * (1.0 - EMPTY_SHARE))).min(1.0);
        let mean = if storage_accounts > 0.0 { rest as f64 / storage_accounts } else { 1.0 };
        Self {
            largest,
            giants,
            contract_share: CONTRACT_SHARE.max(storage_share),
            storage_share,
            exponent: fit_exponent(mean, largest),
            shared_codes: (spec.accounts / 2000).clamp(16, 4096) as usize,
        }
    }

    /// A storage size for an ordinary storage contract.
    fn draw_size(&self, rng: &mut SeededRng) -> u64 {
        let (a, top) = (self.exponent, self.largest as f64 + 1.0);
        let u = unit(rng);
        let x = (1.0 - u * (1.0 - top.powf(-a))).powf(-1.0 / a);
        (x as u64).clamp(1, self.largest)
    }
}

/// The expected storage size `E[floor(X)]` for `X` Pareto with exponent `a` on `[1, largest + 1)`:
/// the sum over `k` of `P(X >= k)`, exact for the first ten thousand terms and integrated after.
fn expected_size(a: f64, largest: u64) -> f64 {
    let top = largest as f64 + 1.0;
    let tail = top.powf(-a);
    let exact = largest.min(10_000);
    let mut sum: f64 = (1..=exact).map(|k| (k as f64).powf(-a)).sum();
    if largest > exact {
        let (from, to) = (exact as f64 + 0.5, largest as f64 + 0.5);
        sum += if (a - 1.0).abs() < 1e-9 {
            (to / from).ln()
        } else {
            (to.powf(1.0 - a) - from.powf(1.0 - a)) / (1.0 - a)
        };
    }
    (sum - largest as f64 * tail) / (1.0 - tail)
}

/// The exponent whose expected size is `mean` (bisection; sizes fall as the exponent grows).
fn fit_exponent(mean: f64, largest: u64) -> f64 {
    let (mut low, mut high) = (0.01f64, 30.0f64);
    for _ in 0..60 {
        let mid = (low + high) / 2.0;
        if expected_size(mid, largest) > mean {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// A uniform draw in `[0, 1)`.
fn unit(rng: &mut SeededRng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// What was generated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The state root.
    pub root: B256,
    /// Accounts.
    pub accounts: u64,
    /// Of which empty.
    pub empty_accounts: u64,
    /// Of which contracts.
    pub contracts: u64,
    /// Of which holding storage.
    pub storage_accounts: u64,
    /// Storage slots.
    pub slots: u64,
    /// Slots of the largest storage.
    pub largest_storage: u64,
    /// Distinct codes.
    pub codes: u64,
    /// Bytes of distinct code.
    pub code_bytes: u64,
    /// Stored trie nodes (account trie and storage tries).
    pub nodes: u64,
    /// Bytes of stored trie nodes.
    pub node_bytes: u64,
    /// Batches handed to the sink.
    pub batches: u64,
}

/// Generates the state of `spec`, handing batches to `sink` in order (ids from 1, each with the
/// progress record [`GENERATED_PROGRESS`]). The batches only write (no deletes): they are for an
/// empty store. Stops at the sink's first error.
pub fn generate<E>(
    spec: &StreamSpec,
    sink: impl FnMut(WriteBatch) -> Result<(), E>,
) -> Result<Summary, E> {
    let shape = spec.shape();
    let mut generator = Generator::new(spec, shape, sink);
    generator.run()?;
    Ok(generator.summary)
}

/// One chunk of a key space cut into `chunks` equal chunks: how many keys fall in it and the
/// range of their first 8 bytes.
fn chunk_bounds(index: u64, chunks: u64, total: u64) -> (u64, u64, u64) {
    let count = total / chunks + u64::from(index < total % chunks);
    let low = ((u128::from(index) << 64) / u128::from(chunks)) as u64;
    let high = (((u128::from(index) + 1) << 64) / u128::from(chunks) - 1) as u64;
    (count, low, high)
}

/// `count` distinct random keys whose first 8 bytes lie in `low..=high`, sorted.
fn sorted_keys(rng: &mut SeededRng, count: u64, low: u64, high: u64) -> Vec<B256> {
    let span = high - low;
    let mut keys: Vec<B256> = (0..count)
        .map(|_| {
            let mut key = rng.bytes32();
            let top = if span == u64::MAX { rng.next_u64() } else { low + rng.below(span + 1) };
            key[..8].copy_from_slice(&top.to_be_bytes());
            B256::from(key)
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn top_bytes(hash: &B256) -> u64 {
    let mut top = [0u8; 8];
    top.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(top)
}

/// A slot value's trie-leaf payload: a small integer, an address, a balance or a hash.
fn slot_value(rng: &mut SeededRng) -> Bytes {
    let len = match rng.below(10) {
        0..=3 => rng.between(1, 8),
        4..=6 => 20,
        7 => rng.between(9, 16),
        _ => 32,
    } as usize;
    let mut value = rng.bytes(len);
    value[0] |= 1; // no leading zero byte: the value has this many bytes
    Bytes::from(alloy_rlp::encode(U256::from_be_slice(&value)))
}

/// A code of realistic size: a minimal proxy or small contract now and then, mostly a few KiB,
/// sometimes up to the 24 KiB limit.
fn random_code(rng: &mut SeededRng) -> Bytes {
    let len = match rng.below(10) {
        0..=2 => rng.between(45, 600),
        3..=7 => rng.between(600, 8 * 1024),
        _ => rng.between(8 * 1024, 24 * 1024),
    };
    Bytes::from(rng.bytes(len as usize))
}

/// The state of one generation: the account trie's generator, the batch being filled and the
/// counters.
struct Generator<'a, F> {
    spec: &'a StreamSpec,
    shape: Shape,
    sink: F,
    rng: SeededRng,
    /// The pool of shared codes, with whether each was written yet.
    shared: Vec<(B256, Bytes, bool)>,
    /// First 8 bytes of the hashes at which giants go (sorted, descending, popped from the end).
    giant_targets: Vec<u64>,
    accounts: TrieGenerator,
    batch: WriteBatch,
    batch_bytes: usize,
    summary: Summary,
}

impl<F, E> Generator<'_, F>
where
    F: FnMut(WriteBatch) -> Result<(), E>,
{
    fn new(spec: &StreamSpec, shape: Shape, sink: F) -> Generator<'_, F> {
        let mut rng = SeededRng::derive(spec.seed, "stream-codes");
        let shared = (0..shape.shared_codes)
            .map(|_| {
                let code = random_code(&mut rng);
                (keccak256(&code), code, false)
            })
            .collect();
        let mut rng = SeededRng::derive(spec.seed, "stream-giants");
        let mut giant_targets: Vec<u64> = (0..shape.giants).map(|_| rng.next_u64()).collect();
        giant_targets.sort_unstable_by(|a, b| b.cmp(a));
        Generator {
            spec,
            shape,
            sink,
            rng: SeededRng::derive(spec.seed, "stream"),
            shared,
            giant_targets,
            accounts: TrieGenerator::new(B256::ZERO, B256::ZERO),
            batch: WriteBatch::default(),
            batch_bytes: 0,
            summary: Summary::default(),
        }
    }

    fn run(&mut self) -> Result<(), E> {
        let total = self.spec.accounts;
        let chunks = total.div_ceil(CHUNK).max(1);
        for chunk in 0..chunks {
            let (count, low, high) = chunk_bounds(chunk, chunks, total);
            let hashes = sorted_keys(&mut self.rng, count, low, high);
            for hash in hashes {
                // A giant goes at the first account at or past its target, or wherever the
                // accounts left would not be enough for the giants left.
                let left = total.saturating_sub(self.summary.accounts);
                let giant = self.giant_targets.last().is_some_and(|target| {
                    *target <= top_bytes(&hash) || left <= self.giant_targets.len() as u64
                });
                if giant {
                    self.giant_targets.pop();
                }
                self.account(hash, giant)?;
            }
        }
        let accounts =
            std::mem::replace(&mut self.accounts, TrieGenerator::new(B256::ZERO, B256::ZERO));
        let (changes, root) = accounts.finish(true);
        self.add_nodes(changes)?;
        self.summary.root = root.unwrap_or(EMPTY_ROOT_HASH);
        self.flush()
    }

    /// Draws one account, streams its storage, and pushes its leaf.
    fn account(&mut self, hash: B256, giant: bool) -> Result<(), E> {
        let rng = &mut self.rng;
        let shape = &self.shape;
        let empty = !giant && rng.chance(EMPTY_SHARE);
        let draw = unit(rng);
        let (contract, storage) = if giant {
            (true, shape.largest)
        } else if empty {
            (false, 0)
        } else if draw < shape.storage_share {
            (true, shape.draw_size(rng))
        } else {
            (draw < shape.contract_share, 0)
        };
        let (nonce, balance) = if empty {
            self.summary.empty_accounts += 1;
            (0, U256::ZERO)
        } else if contract {
            let nonce = if rng.chance(0.9) { 1 } else { rng.below(100) };
            let balance = if rng.chance(0.8) {
                U256::ZERO
            } else {
                U256::from(rng.next_u64() >> rng.below(40))
            };
            (nonce, balance)
        } else {
            let nonce = match rng.below(10) {
                0..=4 => rng.below(10),
                5..=8 => rng.below(1000),
                _ => rng.below(1_000_000),
            };
            let balance = if rng.chance(0.15) {
                U256::ZERO
            } else {
                let wide = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
                U256::from(wide >> (128 - rng.between(20, 90)))
            };
            (nonce, balance)
        };
        let code_hash = if contract { self.code()? } else { KECCAK_EMPTY };
        let storage_root = if storage > 0 { self.storage(hash, storage)? } else { EMPTY_ROOT_HASH };
        let account = TrieAccount { nonce, balance, storage_root, code_hash };
        self.summary.accounts += 1;
        self.summary.contracts += u64::from(contract);
        self.accounts.push(hash, &alloy_rlp::encode(account)).expect("account hashes increase");
        self.batch.accounts.push((hash, account));
        self.batch_bytes += 32 + account.length();
        self.maybe_flush()
    }

    /// A contract's code hash: a unique code, written now, or a shared one, written at its
    /// first use.
    fn code(&mut self) -> Result<B256, E> {
        let rng = &mut self.rng;
        let (hash, code) = if rng.chance(UNIQUE_CODE_SHARE) {
            let code = random_code(rng);
            (keccak256(&code), code)
        } else {
            // A heavy head: the first codes of the pool are used most.
            let last = self.shared.len() - 1;
            let index = (unit(rng).powi(3) * self.shared.len() as f64) as usize;
            let (hash, code, written) = &mut self.shared[index.min(last)];
            if std::mem::replace(written, true) {
                return Ok(*hash);
            }
            (*hash, code.clone())
        };
        self.summary.codes += 1;
        self.summary.code_bytes += code.len() as u64;
        self.batch_bytes += 32 + code.len();
        self.batch.codes.push((hash, code));
        self.maybe_flush()?;
        Ok(hash)
    }

    /// Streams `count` slots of `owner` (chunk by chunk) into the batches and its storage trie;
    /// returns the storage root.
    fn storage(&mut self, owner: B256, count: u64) -> Result<B256, E> {
        let mut trie = TrieGenerator::new(owner, B256::ZERO);
        let chunks = count.div_ceil(CHUNK).max(1);
        let mut written = 0;
        for chunk in 0..chunks {
            let (count, low, high) = chunk_bounds(chunk, chunks, count);
            for slot in sorted_keys(&mut self.rng, count, low, high) {
                let value = slot_value(&mut self.rng);
                trie.push(slot, &value).expect("slot keys increase");
                self.batch_bytes += 64 + value.len();
                self.batch.storage.push((owner, slot, value));
                written += 1;
                // The trie's nodes join the batch every few slots, so a batch's size counts them.
                if written % 128 == 0 || self.batch_bytes >= self.spec.batch_bytes {
                    let changes = trie.take_changes();
                    self.add_nodes(changes)?;
                    self.maybe_flush()?;
                }
            }
        }
        let (changes, root) = trie.finish(true);
        self.add_nodes(changes)?;
        self.summary.storage_accounts += 1;
        self.summary.slots += written;
        self.summary.largest_storage = self.summary.largest_storage.max(written);
        Ok(root.unwrap_or(EMPTY_ROOT_HASH))
    }

    /// Queues a generator's node writes (its deletes name paths an empty store does not hold).
    fn add_nodes(&mut self, changes: NodeChanges) -> Result<(), E> {
        self.queue_nodes(changes);
        self.maybe_flush()
    }

    fn queue_nodes(&mut self, changes: NodeChanges) {
        for (key, node) in changes.writes {
            self.summary.nodes += 1;
            self.summary.node_bytes += node.len() as u64;
            self.batch_bytes += 32 + key.path.len() + node.len();
            self.batch.nodes.writes.push((key, node));
        }
    }

    fn maybe_flush(&mut self) -> Result<(), E> {
        if self.batch_bytes >= self.spec.batch_bytes { self.flush() } else { Ok(()) }
    }

    /// Hands the batch to the sink, with the account trie's nodes final so far.
    fn flush(&mut self) -> Result<(), E> {
        let changes = self.accounts.take_changes();
        self.queue_nodes(changes);
        if self.batch.accounts.is_empty()
            && self.batch.storage.is_empty()
            && self.batch.codes.is_empty()
            && self.batch.nodes.writes.is_empty()
        {
            return Ok(());
        }
        self.summary.batches += 1;
        let mut batch = std::mem::take(&mut self.batch);
        batch.id = BatchId(self.summary.batches);
        batch.progress = Bytes::from_static(GENERATED_PROGRESS);
        self.batch_bytes = 0;
        (self.sink)(batch)
    }
}

#[cfg(test)]
mod tests;
