//! `serve`: arbitrary requests, built as typed messages from fuzzer bytes, against a small fixed state:
//! serving never panics, and every non-empty range reply verifies against the right root.
use std::sync::OnceLock;

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use arbitrary::Arbitrary;
use snap_core::{
    serve::{InMemoryState, ServeError, ServeLimits, serve},
    trie::proof::verify_range,
    wire::{
        AccountRange, GetAccountRange, GetBlockAccessLists, GetByteCodes, GetStorageRanges,
        GetTrieNodes, Limits, MessageId, SnapMessage, SnapVersion, StorageRanges, TrieNodePathSet,
    },
};

/// 48 accounts; every third has storage (1 to 300 slots), every fourth has code.
fn state() -> &'static InMemoryState {
    static STATE: OnceLock<InMemoryState> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut accounts: Vec<(B256, TrieAccount)> = (0u64..48)
            .map(|i| {
                let code_hash = if i % 4 == 0 { keccak256(code(i)) } else { KECCAK_EMPTY };
                let account = TrieAccount {
                    nonce: i,
                    balance: U256::from(i * 1_000_003),
                    storage_root: EMPTY_ROOT_HASH,
                    code_hash,
                };
                (keccak256(i.to_be_bytes()), account)
            })
            .collect();
        accounts.sort_by_key(|(hash, _)| *hash);
        let storage = (0u64..48).filter(|i| i % 3 == 0).map(|i| {
            let count = [1, 2, 17, 300][(i / 3 % 4) as usize];
            let mut slots: Vec<(B256, Bytes)> = (0u64..count)
                .map(|s| {
                    let value = alloy_rlp::encode(U256::from(s * 7 + i + 1));
                    (keccak256((i << 32 | s).to_be_bytes()), Bytes::from(value))
                })
                .collect();
            slots.sort_by_key(|(hash, _)| *hash);
            (keccak256(i.to_be_bytes()), slots)
        });
        let codes = (0u64..48).filter(|i| i % 4 == 0).map(|i| Bytes::from(code(i)));
        InMemoryState::from_sorted(accounts, storage, codes).expect("sorted")
    })
}

fn code(i: u64) -> Vec<u8> {
    (0..(i * 37 % 500 + 1)).map(|b| (b ^ i) as u8).collect()
}

/// A hash picked near the state's keys so that ranges start and end in interesting places.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub enum HashPick {
    Account(u8),
    AfterAccount(u8),
    Slot(u8, u16),
    Code(u8),
    Raw([u8; 32]),
}

impl HashPick {
    fn hash(&self, state: &InMemoryState) -> B256 {
        let accounts = state.account_list();
        match self {
            Self::Account(i) => accounts[*i as usize % accounts.len()].0,
            Self::AfterAccount(i) => {
                let hash = accounts[*i as usize % accounts.len()].0;
                let next = U256::from_be_bytes(hash.0).saturating_add(U256::from(1));
                B256::from(next.to_be_bytes())
            }
            Self::Slot(i, s) => {
                let owner = accounts[*i as usize % accounts.len()].0;
                let slots = state.slot_list(&owner);
                if slots.is_empty() { owner } else { slots[*s as usize % slots.len()].0 }
            }
            Self::Code(i) => {
                let codes: Vec<&B256> = state.codes().keys().collect();
                *codes[*i as usize % codes.len()]
            }
            Self::Raw(raw) => B256::from(*raw),
        }
    }
}

/// A storage range bound.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub enum Bound {
    Empty,
    Hash(HashPick),
    Raw(Vec<u8>),
}

impl Bound {
    fn bytes(&self, state: &InMemoryState) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::Hash(pick) => Bytes::copy_from_slice(pick.hash(state).as_slice()),
            Self::Raw(raw) => Bytes::copy_from_slice(raw),
        }
    }
}

/// One input: a request built as a typed message, or raw bytes through the codec.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub enum Request {
    Accounts {
        wrong_root: bool,
        origin: HashPick,
        limit: HashPick,
        bytes: u32,
    },
    Storage {
        wrong_root: bool,
        accounts: Vec<HashPick>,
        origin: Bound,
        limit: Bound,
        bytes: u32,
    },
    Codes {
        hashes: Vec<HashPick>,
        bytes: u32,
    },
    Nodes {
        wrong_root: bool,
        paths: Vec<Vec<Vec<u8>>>,
        bytes: u32,
    },
    AccessLists {
        hashes: Vec<[u8; 32]>,
        bytes: u32,
    },
    Response(u8),
    /// Raw bytes through the codec: whatever decodes is served.
    Wire {
        snap2: bool,
        id: u8,
        bytes: Vec<u8>,
    },
}

fn root(state: &InMemoryState, wrong: bool) -> B256 {
    if wrong { keccak256(state.root()) } else { state.root() }
}

fn build(request: &Request, state: &InMemoryState) -> Option<SnapMessage> {
    Some(match request {
        Request::Accounts { wrong_root, origin, limit, bytes } => {
            SnapMessage::GetAccountRange(GetAccountRange {
                request_id: 1,
                root: root(state, *wrong_root),
                origin: origin.hash(state),
                limit: limit.hash(state),
                response_bytes: u64::from(*bytes),
            })
        }
        Request::Storage { wrong_root, accounts, origin, limit, bytes } => {
            SnapMessage::GetStorageRanges(GetStorageRanges {
                request_id: 2,
                root: root(state, *wrong_root),
                account_hashes: accounts.iter().map(|pick| pick.hash(state)).collect(),
                origin: origin.bytes(state),
                limit: limit.bytes(state),
                response_bytes: u64::from(*bytes),
            })
        }
        Request::Codes { hashes, bytes } => SnapMessage::GetByteCodes(GetByteCodes {
            request_id: 3,
            hashes: hashes.iter().map(|pick| pick.hash(state)).collect(),
            response_bytes: u64::from(*bytes),
        }),
        Request::Nodes { wrong_root, paths, bytes } => SnapMessage::GetTrieNodes(GetTrieNodes {
            request_id: 4,
            root: root(state, *wrong_root),
            paths: paths
                .iter()
                .map(|set| TrieNodePathSet(set.iter().map(|p| Bytes::copy_from_slice(p)).collect()))
                .collect(),
            response_bytes: u64::from(*bytes),
        }),
        Request::AccessLists { hashes, bytes } => {
            SnapMessage::GetBlockAccessLists(GetBlockAccessLists {
                request_id: 5,
                block_hashes: hashes.iter().map(|h| B256::from(*h)).collect(),
                response_bytes: u64::from(*bytes),
            })
        }
        Request::Response(kind) => match kind % 3 {
            0 => SnapMessage::AccountRange(AccountRange::default()),
            1 => SnapMessage::StorageRanges(StorageRanges::default()),
            _ => SnapMessage::TrieNodes(Default::default()),
        },
        Request::Wire { snap2, id, bytes } => {
            let version = if *snap2 { SnapVersion::V2 } else { SnapVersion::V1 };
            SnapMessage::decode(version, id % 10, bytes, &Limits::default()).ok()?
        }
    })
}

fn check_accounts(state: &InMemoryState, request: &GetAccountRange, reply: &AccountRange) {
    if reply.accounts.is_empty() && reply.proof.is_empty() {
        assert!(request.root != state.root() || state.account_list().is_empty());
        return;
    }
    let keys: Vec<B256> = reply.accounts.iter().map(|a| a.hash).collect();
    let values: Vec<Vec<u8>> =
        reply.accounts.iter().map(|a| alloy_rlp::encode(a.account)).collect();
    verify_range(state.root(), request.origin, &keys, &values, &reply.proof)
        .expect("account range verifies");
}

/// Big-endian bound as the server reads it; `None` when longer than 32 bytes.
fn bound(bytes: &[u8], absent: B256) -> Option<B256> {
    if bytes.is_empty() {
        return Some(absent);
    }
    let mut out = B256::ZERO;
    out.get_mut(32usize.checked_sub(bytes.len())?..)?.copy_from_slice(bytes);
    Some(out)
}

fn check_storage(state: &InMemoryState, request: &GetStorageRanges, reply: &StorageRanges) {
    if reply.slots.is_empty() && reply.proof.is_empty() {
        return;
    }
    assert_eq!(request.root, state.root());
    let origin = bound(&request.origin, B256::ZERO).expect("served bounds are well-formed");
    // Lists belong, in order, to the requested accounts whose range holds at least one slot.
    let owners = request.account_hashes.iter().enumerate().filter_map(|(index, hash)| {
        let from = if index == 0 { origin } else { B256::ZERO };
        let non_empty = state.slot_list(hash).iter().any(|(slot, _)| *slot >= from);
        non_empty.then_some((index, *hash, from))
    });
    let lists = reply.slots.len();
    let mut checked = 0;
    for (position, (list, (_, owner, from))) in reply.slots.iter().zip(owners).enumerate() {
        let proof: &[Bytes] = if position + 1 == lists { &reply.proof } else { &[] };
        let account = state.account_list().iter().find(|(h, _)| *h == owner).expect("known").1;
        let keys: Vec<B256> = list.iter().map(|s| s.hash).collect();
        let values: Vec<Bytes> = list.iter().map(|s| s.value.clone()).collect();
        verify_range(account.storage_root, from, &keys, &values, proof)
            .expect("storage range verifies");
        checked += 1;
    }
    assert_eq!(checked, lists, "every list belongs to a requested account");
}

/// Serves the request and checks the reply.
pub fn check(request: Request) {
    let state = state();
    let Some(message) = build(&request, state) else { return };
    let limits = ServeLimits::default();
    let reply = serve(&message, state, &std::collections::BTreeMap::new(), &limits);
    if std::env::var_os("SERVE_FUZZ_DEBUG").is_some() {
        eprintln!("request {request:?}\nreply {reply:?}");
    }
    if let Ok(reply) = &reply {
        // Every reply goes through our own decoder unchanged (snap/1 carries all but BALs).
        let version = if reply.id() == MessageId::BlockAccessLists {
            SnapVersion::V2
        } else {
            SnapVersion::V1
        };
        let decoded =
            SnapMessage::decode(version, reply.id() as u8, &reply.to_vec(), &Limits::default());
        assert_eq!(decoded.as_ref(), Ok(reply), "the reply round-trips through the codec");
    }
    match (reply, &message) {
        (Ok(SnapMessage::AccountRange(reply)), SnapMessage::GetAccountRange(request)) => {
            check_accounts(state, request, &reply);
        }
        (Ok(SnapMessage::StorageRanges(reply)), SnapMessage::GetStorageRanges(request)) => {
            check_storage(state, request, &reply);
        }
        (Ok(SnapMessage::ByteCodes(reply)), SnapMessage::GetByteCodes(request)) => {
            assert!(reply.codes.len() <= request.hashes.len().min(limits.max_code_lookups));
        }
        (Ok(SnapMessage::TrieNodes(reply)), SnapMessage::GetTrieNodes(request)) => {
            let paths: usize = request.paths.iter().map(|set| set.0.len().max(2) - 1).sum();
            assert!(reply.nodes.len() <= paths.min(limits.max_trie_node_lookups));
        }
        (Ok(SnapMessage::BlockAccessLists(reply)), SnapMessage::GetBlockAccessLists(request)) => {
            assert!(reply.access_lists.iter().all(|bal| bal.is_empty()));
            assert!(reply.access_lists.len() <= request.block_hashes.len());
        }
        (Err(ServeError::BadRequest(_)), SnapMessage::GetTrieNodes(_)) => {}
        (Err(ServeError::NotARequest(_)), message) => assert!(!message.id().is_request()),
        (other, message) => panic!("{message:?} answered with {other:?}"),
    }
}
