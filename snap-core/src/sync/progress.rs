//! The persisted progress record: what a resumed sync needs to continue where the last applied
//! write batch left it.
//!
//! ## Encoding (version 3)
//!
//! One version byte (`0x03`) followed by the RLP encoding of [`ProgressRecord`], each struct an
//! RLP list of its fields in declaration order:
//!
//! ```text
//! record  = [target, [account_task...], [storage_task...], [completed_account...], counters,
//!            catch_up]
//! target  = [root: B32, number: P]
//! account_task = [next: B32, last: B32]
//! storage_task = [account: B32, storage_root: B32, state_root: B32, [chunk...]]
//! chunk = [next: B32, last: B32]
//! counters = [accounts, account_bytes, slots, slot_bytes, codes, code_bytes, nodes, node_bytes,
//!             healed_accounts, healed_slots, bals, bal_bytes, bal_accounts, bal_slots,
//!             rebuilt_leaves]
//! catch_up = [strategy: P, base: P, [block...], applied: P, highest_taken: P, [orphan...]]
//! block = orphan = [hash: B32, state_root: B32, bal_hash: B32 (zero: none)]
//! ```
//!
//! `strategy` is 0 (not chosen yet), 1 (snap/1 healing) or 2 (snap/2 BAL application). The
//! blocks are the header window from `base` on; `applied` is the last block whose BAL is
//! applied to the flat state (the base when none is); `orphaned` are blocks a reorg replaced
//! whose BALs still have to be fetched to repair what they touched.
//!
//! Version 2 is version 3 without the five BAL counters (read as zero) and without `catch_up`
//! (read as "not chosen", with an empty window). Version 1 is version 2 without the two
//! `healed_*` counters and without a storage task's `state_root` (read as the record's target
//! root: version 1 had fixed targets).
//!
//! `P` is an RLP integer and `B32` a 32-byte string. A finished account task is absent from the
//! list, so an empty task list with no storage tasks means the range phase is complete. Decoding
//! rejects unknown versions and trailing bytes; a later version adds fields by bumping the
//! version byte, and decoding keeps accepting every earlier version.

use alloy_primitives::B256;
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};

use super::{
    chain::BlockRecord,
    contract::{CatchUpStrategy, Counters, Target},
    range::{HashRange, fraction_of_space},
};

/// The current encoding version, the first byte of an encoded record.
pub const PROGRESS_VERSION: u8 = 3;

/// A part of the key space still to download, from `next` to `last` inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct RangeCursor {
    /// The first hash not yet downloaded.
    pub next: B256,
    /// The last hash of the range.
    pub last: B256,
}

impl From<HashRange> for RangeCursor {
    fn from(range: HashRange) -> Self {
        Self { next: range.first, last: range.last }
    }
}

/// A large storage trie downloaded in chunks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct StorageTaskRecord {
    /// The account owning the storage.
    pub account: B256,
    /// The storage root the chunks were last verified against.
    pub storage_root: B256,
    /// The state root in which the account had that storage root (chunks are requested under
    /// it).
    pub state_root: B256,
    /// The chunks not yet finished.
    pub chunks: Vec<RangeCursor>,
}

/// Version 1 of [`Counters`], without the healing counters.
#[derive(RlpDecodable)]
struct CountersV1 {
    accounts: u64,
    account_bytes: u64,
    slots: u64,
    slot_bytes: u64,
    codes: u64,
    code_bytes: u64,
    nodes: u64,
    node_bytes: u64,
}

/// Version 1 of [`StorageTaskRecord`].
#[derive(RlpDecodable)]
struct StorageTaskRecordV1 {
    account: B256,
    storage_root: B256,
    chunks: Vec<RangeCursor>,
}

/// Version 1 of [`ProgressRecord`].
#[derive(RlpDecodable)]
struct ProgressRecordV1 {
    target: Target,
    account_tasks: Vec<RangeCursor>,
    storage_tasks: Vec<StorageTaskRecordV1>,
    storage_completed: Vec<B256>,
    counters: CountersV1,
}

impl From<ProgressRecordV1> for ProgressRecord {
    fn from(v1: ProgressRecordV1) -> Self {
        let c = v1.counters;
        Self {
            target: v1.target,
            account_tasks: v1.account_tasks,
            storage_tasks: v1
                .storage_tasks
                .into_iter()
                .map(|task| StorageTaskRecord {
                    account: task.account,
                    storage_root: task.storage_root,
                    state_root: v1.target.root,
                    chunks: task.chunks,
                })
                .collect(),
            storage_completed: v1.storage_completed,
            counters: Counters {
                accounts: c.accounts,
                account_bytes: c.account_bytes,
                slots: c.slots,
                slot_bytes: c.slot_bytes,
                codes: c.codes,
                code_bytes: c.code_bytes,
                nodes: c.nodes,
                node_bytes: c.node_bytes,
                healed_accounts: 0,
                healed_slots: 0,
                ..Counters::default()
            },
            // Written by a snap/1-only syncer: it stays snap/1.
            catch_up: CatchUpRecord {
                strategy: CatchUpStrategy::Heal,
                ..CatchUpRecord::at(v1.target.number)
            },
        }
    }
}

/// Version 2 of [`Counters`], without the BAL counters.
#[derive(RlpDecodable)]
struct CountersV2 {
    accounts: u64,
    account_bytes: u64,
    slots: u64,
    slot_bytes: u64,
    codes: u64,
    code_bytes: u64,
    nodes: u64,
    node_bytes: u64,
    healed_accounts: u64,
    healed_slots: u64,
}

/// Version 2 of [`ProgressRecord`], without the catch-up record.
#[derive(RlpDecodable)]
struct ProgressRecordV2 {
    target: Target,
    account_tasks: Vec<RangeCursor>,
    storage_tasks: Vec<StorageTaskRecord>,
    storage_completed: Vec<B256>,
    counters: CountersV2,
}

impl From<ProgressRecordV2> for ProgressRecord {
    fn from(v2: ProgressRecordV2) -> Self {
        let c = v2.counters;
        Self {
            target: v2.target,
            account_tasks: v2.account_tasks,
            storage_tasks: v2.storage_tasks,
            storage_completed: v2.storage_completed,
            counters: Counters {
                accounts: c.accounts,
                account_bytes: c.account_bytes,
                slots: c.slots,
                slot_bytes: c.slot_bytes,
                codes: c.codes,
                code_bytes: c.code_bytes,
                nodes: c.nodes,
                node_bytes: c.node_bytes,
                healed_accounts: c.healed_accounts,
                healed_slots: c.healed_slots,
                ..Counters::default()
            },
            // Written by a snap/1-only syncer: it stays snap/1.
            catch_up: CatchUpRecord {
                strategy: CatchUpStrategy::Heal,
                ..CatchUpRecord::at(v2.target.number)
            },
        }
    }
}

/// The strategy as the record stores it: 0 (not chosen), 1 (healing), 2 (BAL application).
impl Encodable for CatchUpStrategy {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        let code: u8 = match self {
            Self::Undecided => 0,
            Self::Heal => 1,
            Self::Bal => 2,
        };
        code.encode(out);
    }

    fn length(&self) -> usize {
        1
    }
}

impl Decodable for CatchUpStrategy {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        match u8::decode(buf)? {
            0 => Ok(Self::Undecided),
            1 => Ok(Self::Heal),
            2 => Ok(Self::Bal),
            _ => Err(alloy_rlp::Error::Custom("unknown catch-up strategy")),
        }
    }
}

/// The catch-up part of the record: the chosen strategy, the header window and how far BAL
/// application got.
#[derive(Clone, Debug, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct CatchUpRecord {
    /// The strategy, once chosen.
    pub strategy: CatchUpStrategy,
    /// The number of the window's first block (the first target synced against).
    pub base: u64,
    /// The header window from `base` on (empty: the sync follows bare targets).
    pub blocks: Vec<BlockRecord>,
    /// The last block whose BAL is applied to the flat state.
    pub applied: u64,
    /// The newest block whose state any stored range was downloaded from.
    pub highest_taken: u64,
    /// Blocks a reorg orphaned whose BALs are still needed to repair what they touched.
    pub orphaned: Vec<BlockRecord>,
}

impl CatchUpRecord {
    /// No strategy chosen and no window, for a sync whose first target is block `number`.
    pub fn at(number: u64) -> Self {
        Self { base: number, applied: number, highest_taken: number, ..Self::default() }
    }
}

/// Everything a resumed sync needs; see the module documentation for its encoding.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct ProgressRecord {
    /// The target the record was written for.
    pub target: Target,
    /// Account ranges still to download.
    pub account_tasks: Vec<RangeCursor>,
    /// Large storage tries in progress.
    pub storage_tasks: Vec<StorageTaskRecord>,
    /// Accounts whose storage is complete although their account range is not yet past them.
    pub storage_completed: Vec<B256>,
    /// Totals so far.
    pub counters: Counters,
    /// Catch-up strategy, header window and BAL application progress.
    pub catch_up: CatchUpRecord,
}

/// Why an encoded progress record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgressDecodeError {
    /// The input was empty.
    #[error("empty progress record")]
    Empty,
    /// The version byte names no version this code can read.
    #[error("unsupported progress record version {0}")]
    UnsupportedVersion(u8),
    /// The body is not a valid record.
    #[error("malformed progress record: {0}")]
    Malformed(alloy_rlp::Error),
    /// Bytes follow the record.
    #[error("{0} trailing bytes after the progress record")]
    TrailingBytes(usize),
}

impl ProgressRecord {
    /// A fresh record for `target`: the whole key space split into `account_tasks` ranges.
    pub fn fresh(target: Target, account_tasks: usize) -> Self {
        Self {
            target,
            account_tasks: HashRange::split_from(B256::ZERO, account_tasks)
                .into_iter()
                .map(RangeCursor::from)
                .collect(),
            storage_tasks: Vec::new(),
            storage_completed: Vec::new(),
            counters: Counters::default(),
            catch_up: CatchUpRecord::at(target.number),
        }
    }

    /// Encodes the record: the version byte, then the RLP body.
    pub fn encode_versioned(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.length());
        out.push(PROGRESS_VERSION);
        self.encode(&mut out);
        out
    }

    /// Decodes a record written by [`Self::encode_versioned`] of this or an earlier version.
    pub fn decode_versioned(bytes: &[u8]) -> Result<Self, ProgressDecodeError> {
        let (&version, mut body) = bytes.split_first().ok_or(ProgressDecodeError::Empty)?;
        let record = match version {
            1 => ProgressRecordV1::decode(&mut body).map(Self::from),
            2 => ProgressRecordV2::decode(&mut body).map(Self::from),
            PROGRESS_VERSION => Self::decode(&mut body),
            _ => return Err(ProgressDecodeError::UnsupportedVersion(version)),
        }
        .map_err(ProgressDecodeError::Malformed)?;
        if !body.is_empty() {
            return Err(ProgressDecodeError::TrailingBytes(body.len()));
        }
        Ok(record)
    }

    /// Whether every account range and large storage trie has been downloaded.
    pub fn ranges_complete(&self) -> bool {
        self.account_tasks.is_empty() && self.storage_tasks.is_empty()
    }

    /// The fraction of the account key space already downloaded, in `0.0..=1.0`.
    pub fn account_fraction_done(&self) -> f64 {
        let left: f64 =
            self.account_tasks.iter().map(|task| fraction_of_space(&task.next, &task.last)).sum();
        (1.0 - left).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    fn cursor() -> impl Strategy<Value = RangeCursor> {
        (b256(), b256()).prop_map(|(next, last)| RangeCursor { next, last })
    }

    fn record() -> impl Strategy<Value = ProgressRecord> {
        (
            (b256(), any::<u64>()).prop_map(|(root, number)| Target { root, number }),
            proptest::collection::vec(cursor(), 0..17),
            proptest::collection::vec(
                (b256(), b256(), b256(), proptest::collection::vec(cursor(), 0..17)).prop_map(
                    |(account, storage_root, state_root, chunks)| StorageTaskRecord {
                        account,
                        storage_root,
                        state_root,
                        chunks,
                    },
                ),
                0..4,
            ),
            proptest::collection::vec(b256(), 0..8),
            any::<[u64; 15]>(),
            catch_up(),
        )
            .prop_map(
                |(target, account_tasks, storage_tasks, storage_completed, c, catch_up)| {
                    ProgressRecord {
                        target,
                        account_tasks,
                        storage_tasks,
                        storage_completed,
                        counters: Counters {
                            accounts: c[0],
                            account_bytes: c[1],
                            slots: c[2],
                            slot_bytes: c[3],
                            codes: c[4],
                            code_bytes: c[5],
                            nodes: c[6],
                            node_bytes: c[7],
                            healed_accounts: c[8],
                            healed_slots: c[9],
                            bals: c[10],
                            bal_bytes: c[11],
                            bal_accounts: c[12],
                            bal_slots: c[13],
                            rebuilt_leaves: c[14],
                        },
                        catch_up,
                    }
                },
            )
    }

    fn block() -> impl Strategy<Value = BlockRecord> {
        (b256(), b256(), b256()).prop_map(|(hash, state_root, bal_hash)| BlockRecord {
            hash,
            state_root,
            bal_hash,
        })
    }

    fn catch_up() -> impl Strategy<Value = CatchUpRecord> {
        (
            0u8..3,
            any::<u64>(),
            proptest::collection::vec(block(), 0..5),
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(block(), 0..3),
        )
            .prop_map(|(strategy, base, blocks, applied, highest_taken, orphaned)| {
                CatchUpRecord {
                    strategy: [
                        CatchUpStrategy::Undecided,
                        CatchUpStrategy::Heal,
                        CatchUpStrategy::Bal,
                    ][usize::from(strategy)],
                    base,
                    blocks,
                    applied,
                    highest_taken,
                    orphaned,
                }
            })
    }

    proptest! {
        #[test]
        fn encoding_round_trips(record in record()) {
            let bytes = record.encode_versioned();
            prop_assert_eq!(bytes[0], PROGRESS_VERSION);
            prop_assert_eq!(ProgressRecord::decode_versioned(&bytes), Ok(record));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ProgressRecord::decode_versioned(&bytes);
        }
    }

    #[test]
    fn known_answer_layout() {
        let record = ProgressRecord {
            target: Target { root: B256::repeat_byte(0xaa), number: 600 },
            account_tasks: vec![RangeCursor { next: B256::ZERO, last: B256::repeat_byte(0xff) }],
            storage_tasks: vec![],
            storage_completed: vec![],
            counters: Counters { accounts: 1, ..Counters::default() },
            catch_up: CatchUpRecord::at(600),
        };
        let bytes = record.encode_versioned();
        // Older versions were written by a snap/1-only syncer, which they stay.
        let snap1 = ProgressRecord {
            catch_up: CatchUpRecord { strategy: CatchUpStrategy::Heal, ..CatchUpRecord::at(600) },
            ..record
        };
        let mut expected = vec![PROGRESS_VERSION];
        // Written from the RLP rules: target = [B32, 600] has a 36-byte payload (0xc0 + 0x24).
        let target: Vec<u8> = [&[0xe4u8, 0xa0][..], &[0xaa; 32], &[0x82, 0x02, 0x58]].concat();
        // One task [B32, B32]: a 66-byte payload, long-list form; the task list wraps 68 bytes.
        let task: Vec<u8> = [&[0xf8u8, 0x42, 0xa0][..], &[0; 32], &[0xa0], &[0xff; 32]].concat();
        let tasks: Vec<u8> = [&[0xf8u8, 0x44][..], &task].concat();
        let counters: Vec<u8> = [&[0xcfu8, 0x01][..], &[0x80; 14]].concat();
        // catch_up = [0, 600, [], 600, 600, []]: strategy 0 is the empty string.
        let catch_up =
            [0xccu8, 0x80, 0x82, 0x02, 0x58, 0xc0, 0x82, 0x02, 0x58, 0x82, 0x02, 0x58, 0xc0];
        let payload: Vec<u8> = [&target[..], &tasks, &[0xc0, 0xc0], &counters, &catch_up].concat();
        expected.extend_from_slice(&[0xf8, payload.len() as u8]);
        expected.extend_from_slice(&payload);
        assert_eq!(bytes, expected);
        // Version 2: ten counters and no catch-up record.
        let counters_v2 = [0xcau8, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80];
        let payload: Vec<u8> = [&target[..], &tasks, &[0xc0, 0xc0], &counters_v2].concat();
        let mut v2 = vec![0x02, 0xf8, payload.len() as u8];
        v2.extend_from_slice(&payload);
        assert_eq!(ProgressRecord::decode_versioned(&v2), Ok(snap1.clone()));
        // The same record in version 1: eight counters, read back with zero healing counters.
        let counters_v1 = [0xc8u8, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80];
        let payload: Vec<u8> = [&target[..], &tasks, &[0xc0, 0xc0], &counters_v1].concat();
        let mut v1 = vec![0x01, 0xf8, payload.len() as u8];
        v1.extend_from_slice(&payload);
        assert_eq!(ProgressRecord::decode_versioned(&v1), Ok(snap1));
    }

    #[test]
    fn rejects_unknown_versions_and_trailing_bytes() {
        let record = ProgressRecord::fresh(Target { root: B256::ZERO, number: 1 }, 16);
        let mut bytes = record.encode_versioned();
        bytes[0] = 4;
        assert_eq!(
            ProgressRecord::decode_versioned(&bytes),
            Err(ProgressDecodeError::UnsupportedVersion(4))
        );
        bytes[0] = 0;
        assert_eq!(
            ProgressRecord::decode_versioned(&bytes),
            Err(ProgressDecodeError::UnsupportedVersion(0))
        );
        bytes[0] = PROGRESS_VERSION;
        bytes.push(0);
        assert_eq!(
            ProgressRecord::decode_versioned(&bytes),
            Err(ProgressDecodeError::TrailingBytes(1))
        );
        assert_eq!(ProgressRecord::decode_versioned(&[]), Err(ProgressDecodeError::Empty));
    }

    #[test]
    fn fraction_done_tracks_the_cursors() {
        let mut record = ProgressRecord::fresh(Target { root: B256::ZERO, number: 1 }, 16);
        assert!(record.account_fraction_done() < 1e-9);
        assert!(!record.ranges_complete());
        record.account_tasks.drain(..8);
        assert!((record.account_fraction_done() - 0.5).abs() < 1e-9);
        record.account_tasks.clear();
        assert!(record.ranges_complete());
        assert_eq!(record.account_fraction_done(), 1.0);
    }
}
