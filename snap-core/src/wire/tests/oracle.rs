//! An independent encoder: the spec's layout of each message written as an RLP tree and encoded
//! by `alloy_rlp`'s generic machinery, to compare the codec's bytes against.

use alloy_primitives::{B256, U256};
use alloy_rlp::{BufMut, Encodable};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};

use crate::wire::SnapMessage;

/// An RLP item as the spec writes it.
pub(crate) enum Item {
    /// `P`: an integer.
    Int(u64),
    /// A 256-bit integer.
    Big(U256),
    /// `B`: a byte string.
    Str(Vec<u8>),
    /// A list.
    List(Vec<Self>),
    /// An item already encoded (a BAL), embedded as is.
    Raw(Vec<u8>),
}

impl Encodable for Item {
    fn encode(&self, out: &mut dyn BufMut) {
        match self {
            Self::Int(v) => v.encode(out),
            Self::Big(v) => v.encode(out),
            Self::Str(b) => b.as_slice().encode(out),
            Self::List(items) => alloy_rlp::encode_list::<_, Self>(items, out),
            Self::Raw(r) => out.put_slice(r),
        }
    }
    fn length(&self) -> usize {
        match self {
            Self::Int(v) => v.length(),
            Self::Big(v) => v.length(),
            Self::Str(b) => b.as_slice().length(),
            Self::List(items) => alloy_rlp::list_length::<_, Self>(items),
            Self::Raw(r) => r.len(),
        }
    }
}

fn h(hash: &B256) -> Item {
    Item::Str(hash.to_vec())
}

fn strs<T: AsRef<[u8]>>(items: &[T]) -> Item {
    Item::List(items.iter().map(|b| Item::Str(b.as_ref().to_vec())).collect())
}

fn hashes(items: &[B256]) -> Item {
    Item::List(items.iter().map(h).collect())
}

fn slim(account: &TrieAccount) -> Item {
    let opt = |x: &B256, empty: &B256| if x == empty { Item::Str(vec![]) } else { h(x) };
    Item::List(vec![
        Item::Int(account.nonce),
        Item::Big(account.balance),
        opt(&account.storage_root, &EMPTY_ROOT_HASH),
        opt(&account.code_hash, &KECCAK_EMPTY),
    ])
}

/// The spec layout of `msg`.
pub(crate) fn tree(msg: &SnapMessage) -> Item {
    use Item::{Int, List, Raw, Str};
    List(match msg {
        SnapMessage::GetAccountRange(m) => {
            vec![Int(m.request_id), h(&m.root), h(&m.origin), h(&m.limit), Int(m.response_bytes)]
        }
        SnapMessage::AccountRange(m) => vec![
            Int(m.request_id),
            List(m.accounts.iter().map(|a| List(vec![h(&a.hash), slim(&a.account)])).collect()),
            strs(&m.proof),
        ],
        SnapMessage::GetStorageRanges(m) => vec![
            Int(m.request_id),
            h(&m.root),
            hashes(&m.account_hashes),
            Str(m.origin.to_vec()),
            Str(m.limit.to_vec()),
            Int(m.response_bytes),
        ],
        SnapMessage::StorageRanges(m) => vec![
            Int(m.request_id),
            List(
                m.slots
                    .iter()
                    .map(|l| {
                        List(
                            l.iter()
                                .map(|s| List(vec![h(&s.hash), Str(s.value.to_vec())]))
                                .collect(),
                        )
                    })
                    .collect(),
            ),
            strs(&m.proof),
        ],
        SnapMessage::GetByteCodes(m) => {
            vec![Int(m.request_id), hashes(&m.hashes), Int(m.response_bytes)]
        }
        SnapMessage::ByteCodes(m) => vec![Int(m.request_id), strs(&m.codes)],
        SnapMessage::GetTrieNodes(m) => vec![
            Int(m.request_id),
            h(&m.root),
            List(m.paths.iter().map(|s| strs(&s.0)).collect()),
            Int(m.response_bytes),
        ],
        SnapMessage::TrieNodes(m) => vec![Int(m.request_id), strs(&m.nodes)],
        SnapMessage::GetBlockAccessLists(m) => {
            vec![Int(m.request_id), hashes(&m.block_hashes), Int(m.response_bytes)]
        }
        SnapMessage::BlockAccessLists(m) => vec![
            Int(m.request_id),
            List(
                m.access_lists
                    .iter()
                    .map(|b| if b.is_empty() { Str(vec![]) } else { Raw(b.to_vec()) })
                    .collect(),
            ),
        ],
    })
}

/// The oracle's encoding of `msg`.
pub(crate) fn encode(msg: &SnapMessage) -> Vec<u8> {
    alloy_rlp::encode(tree(msg))
}
