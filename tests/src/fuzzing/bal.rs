//! Block access lists: decoding arbitrary bytes, and applying fuzzer-built blocks to a flat
//! state, checked against an independent address-keyed model.
//!
//! - Raw bytes: `BlockAccessList::decode` never panics, and whatever it accepts is canonical
//!   (it re-encodes to the same bytes, in the EIP's order).
//! - Blocks: the fuzzer's operations (balance, nonce, code, slot writes and clears, reads,
//!   touches) on a few addresses become one canonical BAL per block and a model state. The
//!   lists are encoded, decoded and applied with `snap_core::sync::host::apply_blocks` twice: all
//!   blocks in one batch, and in groups of the fuzzer's choosing. Both stores must equal the
//!   model (EIP-161: an account ending without nonce, balance and code is gone, unless the
//!   block gave it storage).

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use arbitrary::Arbitrary;
use snap_core::{
    bal::{
        self, AccountChanges, BalanceChange, BlockAccessIndex, BlockAccessList, BlockDiff,
        CodeChange, NonceChange, SlotChanges, StorageChange,
    },
    sync::{WriteBatch, host::MemoryStore, host::accounts_to_read, host::apply_blocks},
};

/// One change within a block (addresses and slots from small sets, so they collide).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Op {
    /// Set an account's balance.
    Balance(u8, u16),
    /// Set an account's nonce.
    Nonce(u8, u8),
    /// Set an account's code (`None`: empty code).
    Code(u8, Option<u8>),
    /// Write a slot (zero clears it).
    Slot(u8, u8, u16),
    /// Read a slot without writing it.
    Read(u8, u8),
    /// Touch an account without changing it.
    Touch(u8),
}

/// An initial account: address, nonce, balance, code, slots.
type Initial = (u8, u8, u16, Option<u8>, Vec<(u8, u16)>);

/// The fuzzer's input.
#[derive(Arbitrary, Debug)]
pub struct Input {
    raw: Vec<u8>,
    initial: Vec<Initial>,
    blocks: Vec<Vec<Op>>,
    /// Group sizes for the second application (cycled; zero counts as one).
    groups: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Account {
    nonce: u64,
    balance: U256,
    code: Option<Bytes>,
    /// The storage root the flat account carried before the blocks (applying keeps it).
    storage_root: B256,
}

#[derive(Clone, Debug, Default)]
struct Model {
    accounts: BTreeMap<Address, Account>,
    storage: BTreeMap<(Address, U256), U256>,
}

fn address(byte: u8) -> Address {
    Address::repeat_byte(byte % 8)
}

fn code(byte: Option<u8>) -> Bytes {
    byte.map_or_else(Bytes::new, |b| Bytes::from(vec![0x60, b % 4]))
}

fn entry(list: &mut BTreeMap<Address, AccountChanges>, address: Address) -> &mut AccountChanges {
    list.entry(address).or_insert_with(|| AccountChanges::new(address))
}

impl Model {
    /// Applies one block's operations; returns the block's BAL.
    fn block(&mut self, ops: &[Op]) -> BlockAccessList {
        let mut list = BTreeMap::new();
        let mut fields_changed = Vec::new();
        let mut gains_storage = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            let at = BlockAccessIndex::new(index as u64 + 1);
            let fresh = |storage_root| Account { storage_root, ..Account::default() };
            match *op {
                Op::Balance(a, balance) => {
                    let (a, balance) = (address(a), U256::from(balance));
                    self.accounts.entry(a).or_insert_with(|| fresh(EMPTY_ROOT_HASH)).balance =
                        balance;
                    entry(&mut list, a).balance_changes.push(BalanceChange::new(at, balance));
                    fields_changed.push(a);
                }
                Op::Nonce(a, nonce) => {
                    let (a, nonce) = (address(a), u64::from(nonce));
                    self.accounts.entry(a).or_insert_with(|| fresh(EMPTY_ROOT_HASH)).nonce = nonce;
                    entry(&mut list, a).nonce_changes.push(NonceChange::new(at, nonce));
                    fields_changed.push(a);
                }
                Op::Code(a, byte) => {
                    let (a, code) = (address(a), code(byte));
                    let account = self.accounts.entry(a).or_insert_with(|| fresh(EMPTY_ROOT_HASH));
                    account.code = (!code.is_empty()).then(|| code.clone());
                    entry(&mut list, a).code_changes.push(CodeChange::new(at, code));
                    fields_changed.push(a);
                }
                Op::Slot(a, slot, value) => {
                    let (a, slot, value) = (address(a), U256::from(slot % 8), U256::from(value));
                    if value.is_zero() {
                        self.storage.remove(&(a, slot));
                    } else {
                        self.storage.insert((a, slot), value);
                        gains_storage.push(a);
                    }
                    let account = entry(&mut list, a);
                    match account.storage_changes.iter_mut().find(|s| s.slot == slot) {
                        Some(changes) => changes.changes.push(StorageChange::new(at, value)),
                        None => account.storage_changes.push(SlotChanges {
                            slot,
                            changes: vec![StorageChange::new(at, value)],
                        }),
                    }
                }
                Op::Read(a, slot) => {
                    entry(&mut list, address(a)).storage_reads.push(U256::from(slot % 8))
                }
                Op::Touch(a) => {
                    entry(&mut list, address(a));
                }
            }
        }
        // EIP-161 at the block's end, for accounts whose fields the block changed.
        for a in fields_changed {
            let empty = self.accounts.get(&a).is_some_and(|account| {
                account.nonce == 0 && account.balance.is_zero() && account.code.is_none()
            });
            // A zero write after a non-zero one still ends the block without storage gained.
            let gained = gains_storage.contains(&a)
                && list[&a]
                    .storage_changes
                    .iter()
                    .any(|s| s.changes.last().is_some_and(|c| !c.new_value.is_zero()));
            if empty && !gained {
                self.accounts.remove(&a);
                self.storage.retain(|(owner, _), _| *owner != a);
            }
        }
        let mut accounts: Vec<AccountChanges> = list.into_values().collect();
        for account in &mut accounts {
            account.storage_changes.sort_by_key(|s| s.slot);
            let written: Vec<U256> = account.storage_changes.iter().map(|s| s.slot).collect();
            account.storage_reads.sort();
            account.storage_reads.dedup();
            account.storage_reads.retain(|slot| !written.contains(slot));
        }
        accounts
    }

    fn hashed(&self) -> (BTreeMap<B256, TrieAccount>, BTreeMap<(B256, B256), Bytes>) {
        let accounts = self
            .accounts
            .iter()
            .map(|(a, account)| {
                let code_hash = account.code.as_ref().map_or(KECCAK_EMPTY, keccak256);
                let trie = TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    storage_root: account.storage_root,
                    code_hash,
                };
                (keccak256(a), trie)
            })
            .collect();
        let storage = self
            .storage
            .iter()
            .map(|((a, slot), value)| {
                let key = (keccak256(a), keccak256(slot.to_be_bytes::<32>()));
                (key, Bytes::from(alloy_rlp::encode(value)))
            })
            .collect();
        (accounts, storage)
    }
}

/// Applies `lists` to `store` in groups of the given sizes.
fn apply_in_groups(store: &mut MemoryStore, lists: &[BlockAccessList], groups: &[u8]) {
    let diffs: Vec<_> = lists.iter().map(|list| BlockDiff::of(list).expect("canonical")).collect();
    let mut sizes = groups.iter().map(|g| usize::from(*g).max(1)).cycle();
    let mut start = 0;
    while start < diffs.len() {
        let end = (start + sizes.next().unwrap_or(1)).min(diffs.len());
        let group = &diffs[start..end];
        let wanted = accounts_to_read(group);
        let stored: BTreeMap<B256, TrieAccount> = wanted
            .iter()
            .filter_map(|hash| store.accounts().get(hash).map(|a| (*hash, *a)))
            .collect();
        let mut batch = WriteBatch::default();
        apply_blocks(group, &stored, &mut batch);
        store.apply(batch);
        start = end;
    }
}

/// Runs one input.
pub fn check(input: Input) {
    if let Ok(list) = bal::decode(&input.raw) {
        assert_eq!(bal::encode(&list), input.raw, "an accepted list is canonical");
        let _ = BlockDiff::of(&list).expect("an accepted list is in canonical order");
    }
    let mut model = Model::default();
    let mut initial = WriteBatch::default();
    for (a, nonce, balance, code_byte, slots) in input.initial.iter().take(8) {
        let a = address(*a);
        let account = Account {
            nonce: u64::from(*nonce),
            balance: U256::from(*balance),
            code: (code_byte.is_some()).then(|| code(*code_byte)),
            storage_root: keccak256(a),
        };
        model.accounts.insert(a, account);
        for (slot, value) in slots.iter().take(4).filter(|(_, v)| *v != 0) {
            model.storage.insert((a, U256::from(slot % 8)), U256::from(*value));
        }
    }
    let (accounts, storage) = model.hashed();
    initial.accounts.extend(accounts);
    initial.storage.extend(storage.into_iter().map(|((a, s), v)| (a, s, v)));
    let mut together = MemoryStore::new();
    together.apply(initial.clone());
    let mut grouped = together.clone();
    let mut lists = Vec::new();
    for ops in input.blocks.iter().take(16) {
        let list = model.block(&ops[..ops.len().min(24)]);
        let decoded = bal::decode(&bal::encode(&list)).expect("a built list decodes");
        assert_eq!(decoded, list);
        lists.push(decoded);
    }
    apply_in_groups(&mut together, &lists, &[u8::MAX]);
    apply_in_groups(&mut grouped, &lists, &input.groups);
    let (accounts, storage) = model.hashed();
    assert_eq!(together.accounts(), &accounts, "accounts after one batch");
    assert_eq!(together.storage(), &storage, "slots after one batch");
    assert_eq!(grouped.accounts(), &accounts, "accounts after groups");
    assert_eq!(grouped.storage(), &storage, "slots after groups");
    for list in &lists {
        for (hash, code) in BlockDiff::of(list).expect("canonical").codes() {
            assert_eq!(together.codes().get(&hash), Some(code), "deployed code stored");
        }
    }
}
