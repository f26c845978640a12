//! An address-keyed chain whose blocks carry real block access lists (EIP-7928): every block's
//! changes are recorded as the EIP orders them, and its header commits to the list.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount};

use snap_core::{
    bal::{
        self, AccountChanges, BalanceChange, BlockAccessIndex, BlockAccessList, CodeChange,
        NonceChange, SlotChanges, StorageChange,
    },
    serve::InMemoryState,
    sync::Header,
};

use crate::sim::SimRng;

/// One account of a [`BalWorld`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    nonce: u64,
    balance: U256,
    code: Option<Bytes>,
    storage: BTreeMap<U256, U256>,
}

/// A state keyed by address (and slot keys unhashed), as blocks change it.
#[derive(Clone, Debug, Default)]
pub struct BalWorld {
    /// The accounts by address.
    pub accounts: BTreeMap<Address, Account>,
}

/// Collects a block's changes in the EIP's shape.
#[derive(Default)]
struct BalBuilder {
    accounts: BTreeMap<Address, AccountChanges>,
}

impl BalBuilder {
    fn entry(&mut self, address: Address) -> &mut AccountChanges {
        self.accounts.entry(address).or_insert_with(|| AccountChanges::new(address))
    }

    fn finish(self) -> BlockAccessList {
        let mut accounts: Vec<AccountChanges> = self.accounts.into_values().collect();
        for account in &mut accounts {
            account.storage_changes.sort_by_key(|slot| slot.slot);
            account.storage_reads.sort();
            account.storage_reads.dedup();
            let written: Vec<U256> = account.storage_changes.iter().map(|s| s.slot).collect();
            account.storage_reads.retain(|slot| !written.contains(slot));
        }
        bal::check_order(&accounts).expect("built in canonical order");
        accounts
    }
}

impl BalWorld {
    /// `count` accounts: a quarter of them contracts with code and a few slots (the first a
    /// large one), the rest externally owned.
    pub fn generate(rng: &mut SimRng, count: u64) -> Self {
        let mut world = Self::default();
        for i in 0..count {
            let address = Address::from_word(keccak256(rng.next_u64().to_be_bytes()));
            let mut account = Account {
                nonce: i % 5,
                balance: U256::from(1 + rng.next_u64() % 1_000_000),
                ..Account::default()
            };
            if i % 4 == 0 {
                account.nonce = 1;
                account.code = Some(Bytes::from(vec![0x60, (i % 7) as u8, 0x00]));
                let slots = if i == 0 { 300 } else { rng.next_u64() % 12 };
                for _ in 0..slots {
                    account.storage.insert(
                        U256::from(rng.next_u64() % 5000),
                        U256::from(1 + rng.next_u64() % 999),
                    );
                }
            }
            world.accounts.insert(address, account);
        }
        world
    }

    fn pick(&self, rng: &mut SimRng, filter: impl Fn(&Account) -> bool) -> Option<Address> {
        let candidates: Vec<Address> =
            self.accounts.iter().filter(|(_, a)| filter(a)).map(|(k, _)| *k).collect();
        (!candidates.is_empty())
            .then(|| candidates[(rng.next_u64() % candidates.len() as u64) as usize])
    }

    /// The next block: `changes` transactions, each at its own block access index.
    pub fn step(&self, rng: &mut SimRng, changes: u64) -> (Self, BlockAccessList) {
        let mut next = self.clone();
        let mut bal = BalBuilder::default();
        for index in 1..=changes {
            let at = BlockAccessIndex::new(index);
            match rng.next_u64() % 7 {
                0 => {
                    // A new account.
                    let address = Address::from_word(keccak256(rng.next_u64().to_be_bytes()));
                    let balance = U256::from(1 + rng.next_u64() % 1000);
                    next.accounts.insert(address, Account { balance, ..Account::default() });
                    bal.entry(address).balance_changes.push(BalanceChange::new(at, balance));
                }
                1 => {
                    // A contract deployed with a slot.
                    let address = Address::from_word(keccak256(rng.next_u64().to_be_bytes()));
                    let code = Bytes::from(vec![0x61, index as u8, 0x00]);
                    let slot = U256::from(rng.next_u64() % 50);
                    let value = U256::from(1 + rng.next_u64() % 50);
                    let account = Account {
                        nonce: 1,
                        code: Some(code.clone()),
                        storage: BTreeMap::from([(slot, value)]),
                        ..Account::default()
                    };
                    next.accounts.insert(address, account);
                    let entry = bal.entry(address);
                    entry.nonce_changes.push(NonceChange::new(at, 1));
                    entry.code_changes.push(CodeChange::new(at, code));
                    entry
                        .storage_changes
                        .push(SlotChanges { slot, changes: vec![StorageChange::new(at, value)] });
                }
                2 => {
                    // A nonce-0 account without code or storage emptied: gone (EIP-161).
                    let Some(address) = next
                        .pick(rng, |a| a.nonce == 0 && a.code.is_none() && a.storage.is_empty())
                    else {
                        continue;
                    };
                    next.accounts.remove(&address);
                    let entry = bal.entry(address);
                    entry.balance_changes.push(BalanceChange::new(at, U256::ZERO));
                }
                3 | 4 => {
                    // Slots written and cleared in a contract.
                    let Some(address) = next.pick(rng, |a| a.code.is_some()) else { continue };
                    let account = next.accounts.get_mut(&address).expect("picked");
                    let slot = match account.storage.keys().next().copied() {
                        Some(existing) if rng.next_u64().is_multiple_of(2) => existing,
                        _ => U256::from(rng.next_u64() % 5000),
                    };
                    let value = if rng.next_u64().is_multiple_of(3) {
                        U256::ZERO
                    } else {
                        U256::from(1 + rng.next_u64() % 999)
                    };
                    if value.is_zero() {
                        account.storage.remove(&slot);
                    } else {
                        account.storage.insert(slot, value);
                    }
                    let entry = bal.entry(address);
                    match entry.storage_changes.iter_mut().find(|s| s.slot == slot) {
                        Some(changes) => changes.changes.push(StorageChange::new(at, value)),
                        None => entry.storage_changes.push(SlotChanges {
                            slot,
                            changes: vec![StorageChange::new(at, value)],
                        }),
                    }
                    entry.storage_reads.push(U256::from(rng.next_u64() % 5000));
                }
                _ => {
                    // A transfer: the sender's nonce and balance, the receiver's balance; and
                    // an account only looked at.
                    let (Some(from), Some(to)) =
                        (next.pick(rng, |_| true), next.pick(rng, |_| true))
                    else {
                        continue;
                    };
                    let sender = next.accounts.get_mut(&from).expect("picked");
                    sender.nonce += 1;
                    sender.balance += U256::from(3);
                    let (nonce, balance) = (sender.nonce, sender.balance);
                    let entry = bal.entry(from);
                    entry.nonce_changes.push(NonceChange::new(at, nonce));
                    entry.balance_changes.push(BalanceChange::new(at, balance));
                    let receiver = next.accounts.get_mut(&to).expect("picked");
                    receiver.balance += U256::from(5);
                    let balance = receiver.balance;
                    // A transfer to oneself: one post-transaction balance at this index.
                    let changes = &mut bal.entry(to).balance_changes;
                    changes.retain(|change| change.block_access_index != at);
                    changes.push(BalanceChange::new(at, balance));
                    if let Some(seen) = next.pick(rng, |_| true) {
                        bal.entry(seen);
                    }
                }
            }
        }
        (next, bal.finish())
    }

    /// The state as peers serve it: keys hashed, storage roots computed.
    pub fn build(&self) -> InMemoryState {
        let mut accounts = Vec::new();
        let mut storage = Vec::new();
        let mut codes = Vec::new();
        let mut keyed: Vec<(B256, &Account)> =
            self.accounts.iter().map(|(address, a)| (keccak256(address), a)).collect();
        keyed.sort_by_key(|(hash, _)| *hash);
        for (hash, account) in keyed {
            let code_hash = account.code.as_ref().map_or(KECCAK_EMPTY, keccak256);
            codes.extend(account.code.clone());
            accounts.push((
                hash,
                TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    code_hash,
                    ..Default::default()
                },
            ));
            let mut slots: Vec<(B256, Bytes)> = account
                .storage
                .iter()
                .map(|(slot, value)| {
                    (keccak256(slot.to_be_bytes::<32>()), Bytes::from(alloy_rlp::encode(value)))
                })
                .collect();
            slots.sort_by_key(|(key, _)| *key);
            storage.push((hash, slots));
        }
        InMemoryState::from_sorted(accounts, storage, codes).expect("a valid state")
    }
}

/// A chain of blocks: block `i` has `worlds[i]`, `states[i]` and `headers[i]`, and (for
/// `i > 0`) the access list that led to it in `bals`, by block hash.
#[derive(Debug, Default)]
pub struct BalChain {
    /// Each block's state by address.
    pub worlds: Vec<BalWorld>,
    /// Each block's state as served.
    pub states: Vec<InMemoryState>,
    /// Each block's header.
    pub headers: Vec<Header>,
    /// Each block's encoded access list, by block hash.
    pub bals: BTreeMap<B256, Bytes>,
}

/// Changes (transactions) per block.
const CHANGES_PER_BLOCK: u64 = 6;

impl BalChain {
    /// A chain of `blocks` blocks after a generated state of `accounts` accounts at block 100.
    pub fn generate(seed: u64, accounts: u64, blocks: u64) -> Self {
        let mut rng = SimRng::derive(seed, "bal-chain");
        let mut chain = Self::default();
        chain.push(BalWorld::generate(&mut rng, accounts), None, B256::ZERO, 100, 0);
        chain.extend(&mut rng, blocks, 0);
        chain
    }

    /// A branch replacing every block after the one at index `ancestor`, `blocks` long; its
    /// first block is at index 0 (the branch holds only its own blocks).
    pub fn fork(&self, seed: u64, ancestor: usize, blocks: u64) -> Self {
        let mut rng = SimRng::derive(seed, "bal-fork");
        let mut branch = Self::default();
        let parent = self.headers[ancestor];
        let (next, bal) = self.worlds[ancestor].step(&mut rng, CHANGES_PER_BLOCK);
        branch.push(next, Some(bal), parent.hash, parent.number + 1, 1);
        branch.extend(&mut rng, blocks.saturating_sub(1), 1);
        branch
    }

    fn extend(&mut self, rng: &mut SimRng, blocks: u64, fork: u8) {
        for _ in 0..blocks {
            let last = *self.headers.last().expect("a first block");
            let world = self.worlds.last().expect("a first block");
            let (next, bal) = world.step(rng, CHANGES_PER_BLOCK);
            self.push(next, Some(bal), last.hash, last.number + 1, fork);
        }
    }

    fn push(
        &mut self,
        world: BalWorld,
        bal: Option<BlockAccessList>,
        parent: B256,
        number: u64,
        fork: u8,
    ) {
        let state = world.build();
        let encoded = bal.map(|list| Bytes::from(bal::encode(&list)));
        let bal_hash = encoded.as_ref().map_or(keccak256([0xc0]), keccak256);
        let hash = keccak256([&parent[..], &state.root()[..], &[fork]].concat());
        if let Some(encoded) = encoded {
            self.bals.insert(hash, encoded);
        }
        let state_root = state.root();
        self.headers.push(Header {
            number,
            hash,
            parent_hash: parent,
            state_root,
            bal_hash: Some(bal_hash),
        });
        self.states.push(state);
        self.worlds.push(world);
    }
}
