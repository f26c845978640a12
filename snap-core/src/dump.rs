//! Loading whole states from JSON: geth state dumps (`geth dump`, hivechain's `headstate.json`)
//! and the `alloc` section of a genesis file.
//!
//! Only the raw facts of each account are kept: address, nonce, balance, code and storage slots.
//! Everything derived (storage root, code hash, account key) is recomputed here, so a dump whose
//! derived fields are wrong still yields the state its raw facts describe.

use std::{collections::BTreeMap, ops::Range};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use serde_json::{Map, Value};

use crate::{serve::InMemoryState, trie::build_trie};

/// Why a JSON document could not be read as a state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// The text is not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The document lacks the object holding the accounts.
    #[error("missing `{0}` object")]
    MissingSection(&'static str),
    /// A field has the wrong JSON type or an unparsable value.
    #[error("account {account}: field `{field}`: {reason}")]
    Field {
        /// The account's key in the JSON object.
        account: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Two entries name the same address.
    #[error("address {0} appears twice")]
    DuplicateAddress(Address),
}

/// One account of a state, with its raw facts only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpAccount {
    /// The account's address.
    pub address: Address,
    /// The account nonce.
    pub nonce: u64,
    /// The balance in wei.
    pub balance: U256,
    /// The contract code (empty for none).
    pub code: Bytes,
    /// Non-zero storage slots keyed by the keccak hash of the slot.
    pub storage: BTreeMap<B256, U256>,
}

impl DumpAccount {
    /// The storage trie's leaves: `(keccak(slot), rlp(value))`, sorted by key, zero values left
    /// out (a zero slot is not in the trie).
    pub fn storage_leaves(&self) -> Vec<(B256, Vec<u8>)> {
        self.storage
            .iter()
            .filter(|(_, value)| !value.is_zero())
            .map(|(slot, value)| (*slot, alloy_rlp::encode(value)))
            .collect()
    }

    /// The storage root computed from the slots.
    pub fn storage_root(&self) -> B256 {
        let leaves = self.storage_leaves();
        if leaves.is_empty() { EMPTY_ROOT_HASH } else { build_trie(&leaves).root }
    }

    /// The keccak hash of the code (`KECCAK_EMPTY` for none).
    pub fn code_hash(&self) -> B256 {
        if self.code.is_empty() { KECCAK_EMPTY } else { keccak256(&self.code) }
    }

    /// The account as the state trie holds it, with storage root and code hash computed.
    pub fn trie_account(&self) -> TrieAccount {
        TrieAccount {
            nonce: self.nonce,
            balance: self.balance,
            storage_root: self.storage_root(),
            code_hash: self.code_hash(),
        }
    }

    /// The payload of the account's leaf in the state trie: `rlp(trie_account())`.
    pub fn account_leaf(&self) -> Vec<u8> {
        alloy_rlp::encode(self.trie_account())
    }
}

/// A whole state: accounts keyed by the keccak hash of their address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDump {
    /// Accounts keyed by `keccak(address)`, the account trie's key.
    pub accounts: BTreeMap<B256, DumpAccount>,
}

impl StateDump {
    /// Parses a geth state dump: `{root, accounts: {address: {balance, nonce, code?, storage?,
    /// ...}}}`. The `root`, `codeHash` and `key` fields are ignored (recomputed on demand).
    pub fn from_geth_dump(json: &str) -> Result<Self, DumpError> {
        let document: Value = serde_json::from_str(json)?;
        let accounts = document
            .get("accounts")
            .and_then(Value::as_object)
            .ok_or(DumpError::MissingSection("accounts"))?;
        Self::from_account_map(accounts)
    }

    /// Parses the `alloc` of a genesis file (the whole genesis document, or the bare `alloc`
    /// object when it has no `alloc` field).
    pub fn from_genesis(json: &str) -> Result<Self, DumpError> {
        let document: Value = serde_json::from_str(json)?;
        let alloc = match document.get("alloc") {
            Some(alloc) => alloc.as_object(),
            None => document.as_object(),
        }
        .ok_or(DumpError::MissingSection("alloc"))?;
        Self::from_account_map(alloc)
    }

    /// Parses either form: a document with `accounts` is a geth dump, anything else is read as
    /// a genesis file (or bare `alloc` object).
    pub fn from_json(json: &str) -> Result<Self, DumpError> {
        let document: Value = serde_json::from_str(json)?;
        match document.get("accounts").and_then(Value::as_object) {
            Some(accounts) => Self::from_account_map(accounts),
            None => Self::from_genesis(json),
        }
    }

    fn from_account_map(map: &Map<String, Value>) -> Result<Self, DumpError> {
        let mut accounts = BTreeMap::new();
        for (name, entry) in map {
            let account = parse_account(name, entry)?;
            match accounts.entry(keccak256(account.address)) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    return Err(DumpError::DuplicateAddress(account.address));
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(account);
                }
            }
        }
        Ok(Self { accounts })
    }

    /// The account trie's leaves: `(keccak(address), rlp(account))`, sorted by key.
    pub fn account_leaves(&self) -> Vec<(B256, Vec<u8>)> {
        self.accounts.iter().map(|(key, account)| (*key, account.account_leaf())).collect()
    }

    /// The state root, computed from raw account facts and storage slots.
    pub fn state_root(&self) -> B256 {
        let leaves = self.account_leaves();
        if leaves.is_empty() { EMPTY_ROOT_HASH } else { build_trie(&leaves).root }
    }

    /// The state this dump holds, ready to serve. Slot values are packed
    /// into one shared buffer, so a large state costs one allocation for all its values.
    pub fn to_state(&self) -> InMemoryState {
        let mut accounts = Vec::with_capacity(self.accounts.len());
        let mut leaves = Vec::new();
        let mut packed = Vec::new();
        for (hash, account) in &self.accounts {
            accounts.push((
                *hash,
                TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    storage_root: EMPTY_ROOT_HASH,
                    code_hash: account.code_hash(),
                },
            ));
            let slots: Vec<(B256, Range<usize>)> = account
                .storage_leaves()
                .into_iter()
                .map(|(slot, value)| {
                    let start = packed.len();
                    packed.extend_from_slice(&value);
                    (slot, start..packed.len())
                })
                .collect();
            leaves.push((*hash, slots));
        }
        let packed = Bytes::from(packed);
        let storage = leaves.into_iter().map(|(hash, slots)| {
            (hash, slots.into_iter().map(|(slot, range)| (slot, packed.slice(range))).collect())
        });
        let codes = self
            .accounts
            .values()
            .filter(|account| !account.code.is_empty())
            .map(|account| account.code.clone());
        InMemoryState::from_sorted(accounts, storage, codes)
            .expect("a dump's accounts and slots are keyed by sorted maps")
    }
}

fn field_error(account: &str, field: &'static str, reason: impl Into<String>) -> DumpError {
    DumpError::Field { account: account.to_owned(), field, reason: reason.into() }
}

fn strip_hex(text: &str) -> &str {
    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text)
}

fn parse_account(name: &str, entry: &Value) -> Result<DumpAccount, DumpError> {
    let object = entry.as_object().ok_or_else(|| field_error(name, "account", "not an object"))?;
    // A dump may omit the address field (`--nokeys`-style) but the object key is the address.
    let address_text = match object.get("address") {
        Some(Value::String(text)) => text.as_str(),
        Some(_) => return Err(field_error(name, "address", "not a string")),
        None => name,
    };
    let address = parse_fixed::<20>(address_text)
        .map(Address::from)
        .map_err(|reason| field_error(name, "address", reason))?;
    let nonce = match object.get("nonce") {
        None => 0,
        Some(value) => parse_quantity(value)
            .and_then(|n| u64::try_from(n).map_err(|_| "nonce exceeds 64 bits".to_owned()))
            .map_err(|reason| field_error(name, "nonce", reason))?,
    };
    let balance = match object.get("balance") {
        None => U256::ZERO,
        Some(value) => {
            parse_quantity(value).map_err(|reason| field_error(name, "balance", reason))?
        }
    };
    let code = match object.get("code") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) => {
            parse_bytes(text).map_err(|reason| field_error(name, "code", reason))?
        }
        Some(_) => return Err(field_error(name, "code", "not a string")),
    };
    let mut storage = BTreeMap::new();
    match object.get("storage") {
        None | Some(Value::Null) => {}
        Some(Value::Object(slots)) => {
            for (slot, value) in slots {
                let slot = parse_fixed_padded(slot)
                    .map_err(|reason| field_error(name, "storage", reason))?;
                let value = match value {
                    Value::String(text) => parse_hex_u256(text),
                    _ => Err("slot value is not a string".to_owned()),
                }
                .map_err(|reason| field_error(name, "storage", reason))?;
                if !value.is_zero() {
                    storage.insert(keccak256(slot), value);
                }
            }
        }
        Some(_) => return Err(field_error(name, "storage", "not an object")),
    }
    Ok(DumpAccount { address, nonce, balance, code, storage })
}

/// A number given as a JSON integer, a decimal string or a `0x` hex string.
fn parse_quantity(value: &Value) -> Result<U256, String> {
    match value {
        Value::Number(number) => {
            number.as_u64().map(U256::from).ok_or_else(|| format!("{number} is not a u64"))
        }
        Value::String(text) => {
            if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                parse_hex_digits(hex)
            } else {
                U256::from_str_radix(text, 10).map_err(|e| format!("{text:?}: {e}"))
            }
        }
        _ => Err("not a number or string".to_owned()),
    }
}

/// A hex number, `0x`-prefixed or bare, of any length up to 256 bits.
fn parse_hex_u256(text: &str) -> Result<U256, String> {
    parse_hex_digits(strip_hex(text))
}

fn parse_hex_digits(hex: &str) -> Result<U256, String> {
    if hex.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(hex, 16).map_err(|e| format!("{hex:?}: {e}"))
}

fn parse_bytes(text: &str) -> Result<Bytes, String> {
    let hex = strip_hex(text);
    alloy_primitives::hex::decode(hex).map(Bytes::from).map_err(|e| format!("{e}"))
}

/// Exactly `N` bytes of hex.
fn parse_fixed<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let bytes = parse_bytes(text)?;
    <[u8; N]>::try_from(bytes.as_ref())
        .map_err(|_| format!("expected {N} bytes, found {}", bytes.len()))
}

/// Up to 32 bytes of hex, left-padded with zeros (genesis files may shorten slot keys). Odd
/// digit counts are accepted the same way.
fn parse_fixed_padded(text: &str) -> Result<B256, String> {
    // U256 parsing rejects anything above 256 bits.
    parse_hex_u256(text).map(B256::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, hex};

    #[test]
    fn geth_dump_form_is_parsed_and_derived_fields_ignored() {
        let json = r#"{
            "root": "00",
            "accounts": {
                "0x00000000000000000000000000000000000000aa": {
                    "balance": "1000", "nonce": 7,
                    "root": "0x1111111111111111111111111111111111111111111111111111111111111111",
                    "codeHash": "0x2222222222222222222222222222222222222222222222222222222222222222",
                    "code": "0x6000",
                    "storage": {
                        "0x0000000000000000000000000000000000000000000000000000000000000001": "2a",
                        "0000000000000000000000000000000000000000000000000000000000000002": "0x0100"
                    },
                    "address": "0x00000000000000000000000000000000000000aa",
                    "key": "0x3333333333333333333333333333333333333333333333333333333333333333"
                }
            }
        }"#;
        let dump = StateDump::from_geth_dump(json).unwrap();
        let address = address!("00000000000000000000000000000000000000aa");
        let account = &dump.accounts[&keccak256(address)];
        assert_eq!(account.address, address);
        assert_eq!(account.nonce, 7);
        assert_eq!(account.balance, U256::from(1000));
        assert_eq!(account.code, Bytes::from(hex!("6000")));
        assert_eq!(account.code_hash(), keccak256(hex!("6000")));
        let slot1 = keccak256(B256::with_last_byte(1));
        let slot2 = keccak256(B256::with_last_byte(2));
        assert_eq!(account.storage[&slot1], U256::from(0x2a));
        assert_eq!(account.storage[&slot2], U256::from(0x100));
        // Slot payloads are the RLP of the trimmed value.
        let leaves = account.storage_leaves();
        let mut expected = vec![(slot1, vec![0x2a]), (slot2, vec![0x82, 0x01, 0x00])];
        expected.sort();
        assert_eq!(leaves, expected);
        // The storage root comes from the slots, independently checked with HashBuilder.
        let mut hb = alloy_trie::HashBuilder::default();
        for (key, value) in &expected {
            hb.add_leaf(nybbles::Nibbles::unpack(key), value);
        }
        assert_eq!(account.storage_root(), hb.root());
        assert_ne!(
            account.storage_root(),
            b256!("1111111111111111111111111111111111111111111111111111111111111111")
        );
    }

    #[test]
    fn genesis_alloc_form_is_parsed() {
        let json = r#"{
            "config": {},
            "alloc": {
                "8bebc8ba651aee624937e7d897853ac30c95a067": {
                    "balance": "0x1", "nonce": "0x1",
                    "storage": {
                        "0x0000000000000000000000000000000000000000000000000000000000000001":
                            "0x0000000000000000000000000000000000000000000000000000000000000001",
                        "0x03": "0x0000000000000000000000000000000000000000000000000000000000000000"
                    }
                },
                "0x0c2c51a0990aee1d73c1228de158688341557508": { "balance": "1000000000000000000000" }
            }
        }"#;
        let dump = StateDump::from_genesis(json).unwrap();
        assert_eq!(dump.accounts.len(), 2);
        let a = &dump.accounts[&keccak256(address!("8bebc8ba651aee624937e7d897853ac30c95a067"))];
        assert_eq!(a.nonce, 1);
        assert_eq!(a.balance, U256::from(1));
        // The zero slot (given with a shortened key) is dropped.
        assert_eq!(a.storage.len(), 1);
        assert_eq!(a.storage[&keccak256(B256::with_last_byte(1))], U256::from(1));
        assert_eq!(a.code_hash(), KECCAK_EMPTY);
        let b = &dump.accounts[&keccak256(address!("0c2c51a0990aee1d73c1228de158688341557508"))];
        assert_eq!(b.balance, U256::from(10).pow(U256::from(21)));
        assert_eq!(b.storage_root(), EMPTY_ROOT_HASH);
        // The state root is the root of the RLP-encoded accounts.
        let mut hb = alloy_trie::HashBuilder::default();
        for (key, leaf) in dump.account_leaves() {
            hb.add_leaf(nybbles::Nibbles::unpack(key), &leaf);
        }
        assert_eq!(dump.state_root(), hb.root());
        assert_eq!(alloy_rlp::encode(a.trie_account()), a.account_leaf());
    }

    #[test]
    fn from_json_detects_the_form() {
        let dump = r#"{"accounts": {"0x00000000000000000000000000000000000000aa": {"nonce": 3}}}"#;
        let genesis =
            r#"{"alloc": {"00000000000000000000000000000000000000aa": {"nonce": "0x3"}}}"#;
        assert_eq!(StateDump::from_json(dump).unwrap(), StateDump::from_geth_dump(dump).unwrap());
        assert_eq!(
            StateDump::from_json(genesis).unwrap(),
            StateDump::from_genesis(genesis).unwrap()
        );
        assert_eq!(StateDump::from_json(dump).unwrap(), StateDump::from_json(genesis).unwrap());
    }

    #[test]
    fn empty_state_has_empty_root() {
        let dump = StateDump::from_geth_dump(r#"{"accounts": {}}"#).unwrap();
        assert_eq!(dump.state_root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        assert!(matches!(StateDump::from_geth_dump("{"), Err(DumpError::Json(_))));
        assert!(matches!(
            StateDump::from_geth_dump(r#"{"root": "00"}"#),
            Err(DumpError::MissingSection("accounts"))
        ));
        let bad = [
            (r#"{"accounts": {"0x01": {}}}"#, "address"),
            (
                r#"{"accounts": {"0x00000000000000000000000000000000000000aa": {"balance": "x"}}}"#,
                "balance",
            ),
            (
                r#"{"accounts": {"0x00000000000000000000000000000000000000aa": {"nonce": "0x1ffffffffffffffff"}}}"#,
                "nonce",
            ),
            (
                r#"{"accounts": {"0x00000000000000000000000000000000000000aa": {"code": "0xzz"}}}"#,
                "code",
            ),
            (
                r#"{"accounts": {"0x00000000000000000000000000000000000000aa": {"storage": {"0x01": 5}}}}"#,
                "storage",
            ),
            (
                r#"{"accounts": {"0x00000000000000000000000000000000000000aa": {"storage": {"0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff": "0x1"}}}}"#,
                "storage",
            ),
        ];
        for (json, expected) in bad {
            match StateDump::from_geth_dump(json) {
                Err(DumpError::Field { field, .. }) => assert_eq!(field, expected, "{json}"),
                other => panic!("{json}: expected a field error, got {other:?}"),
            }
        }
        let duplicate = r#"{"alloc": {
            "00000000000000000000000000000000000000aa": {"balance": "0x1"},
            "0x00000000000000000000000000000000000000AA": {"balance": "0x2"}
        }}"#;
        assert!(matches!(StateDump::from_genesis(duplicate), Err(DumpError::DuplicateAddress(_))));
    }
}
