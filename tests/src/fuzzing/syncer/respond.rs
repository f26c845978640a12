//! Responses: the honest one, served by `snap_core::serve::serve` from the states a peer holds,
//! and the fuzzer's changes to it, each classified as still honest or not.

use alloy_primitives::Bytes;
use snap_core::{
    serve::{InMemoryState, NoBals, ServeLimits, serve},
    wire::{AccountRange, ByteCodes, SnapMessage, StorageRanges, TrieNodes},
};

use super::{
    ops::Answer,
    world::{Holds, World},
};

/// The honest response of a peer holding `holds` to `request`: served from the state whose
/// root the request names when the peer holds it, empty otherwise; bytecodes from every state
/// it holds. Panics when the server refuses the request: the syncer sent a malformed one.
pub fn honest(world: &World, holds: Holds, request: &SnapMessage) -> SnapMessage {
    let root = match request {
        SnapMessage::GetAccountRange(m) => Some(m.root),
        SnapMessage::GetStorageRanges(m) => Some(m.root),
        SnapMessage::GetTrieNodes(m) => Some(m.root),
        _ => None,
    };
    let empty_state;
    let state: &InMemoryState = match root {
        None => world.code_server(holds),
        Some(root) => match world.index_of(&root).filter(|&index| holds.holds(index)) {
            Some(index) => &world.states[index].state,
            None => {
                // A state without that root: the server answers empty.
                empty_state = world.code_server(Holds::First);
                empty_state
            }
        },
    };
    serve(request, state, &NoBals, &ServeLimits::default())
        .unwrap_or_else(|error| panic!("the syncer sent a request the server refuses: {error}"))
}

/// The response of the same kind as `message`, with `request_id`, and nothing in it.
pub fn empty_like(message: &SnapMessage) -> SnapMessage {
    let mut empty = match message {
        SnapMessage::AccountRange(_) => SnapMessage::AccountRange(AccountRange::default()),
        SnapMessage::StorageRanges(_) => SnapMessage::StorageRanges(StorageRanges::default()),
        SnapMessage::ByteCodes(_) => SnapMessage::ByteCodes(ByteCodes::default()),
        _ => SnapMessage::TrieNodes(TrieNodes::default()),
    };
    set_id(&mut empty, request_id(message));
    empty
}

/// The request id a response carries.
pub fn request_id(message: &SnapMessage) -> u64 {
    match message {
        SnapMessage::AccountRange(m) => m.request_id,
        SnapMessage::StorageRanges(m) => m.request_id,
        SnapMessage::ByteCodes(m) => m.request_id,
        SnapMessage::TrieNodes(m) => m.request_id,
        SnapMessage::BlockAccessLists(m) => m.request_id,
        SnapMessage::GetAccountRange(m) => m.request_id,
        SnapMessage::GetStorageRanges(m) => m.request_id,
        SnapMessage::GetByteCodes(m) => m.request_id,
        SnapMessage::GetTrieNodes(m) => m.request_id,
        SnapMessage::GetBlockAccessLists(m) => m.request_id,
    }
}

/// Relabels a message with another request id.
pub fn set_id(message: &mut SnapMessage, id: u64) {
    match message {
        SnapMessage::AccountRange(m) => m.request_id = id,
        SnapMessage::StorageRanges(m) => m.request_id = id,
        SnapMessage::ByteCodes(m) => m.request_id = id,
        SnapMessage::TrieNodes(m) => m.request_id = id,
        SnapMessage::BlockAccessLists(m) => m.request_id = id,
        SnapMessage::GetAccountRange(m) => m.request_id = id,
        SnapMessage::GetStorageRanges(m) => m.request_id = id,
        SnapMessage::GetByteCodes(m) => m.request_id = id,
        SnapMessage::GetTrieNodes(m) => m.request_id = id,
        SnapMessage::GetBlockAccessLists(m) => m.request_id = id,
    }
}

/// An empty response of another kind than `message`, with its id.
pub fn wrong_kind(message: &SnapMessage, pick: u8) -> SnapMessage {
    let id = request_id(message);
    let kinds = [
        SnapMessage::AccountRange(AccountRange { request_id: id, ..Default::default() }),
        SnapMessage::StorageRanges(StorageRanges { request_id: id, ..Default::default() }),
        SnapMessage::ByteCodes(ByteCodes { request_id: id, ..Default::default() }),
        SnapMessage::TrieNodes(TrieNodes { request_id: id, ..Default::default() }),
    ];
    let others: Vec<SnapMessage> =
        kinds.into_iter().filter(|kind| kind.id() != message.id()).collect();
    others[usize::from(pick) % others.len()].clone()
}

/// Applies one of the content changes of `how` to the honest response. Returns the changed
/// message and whether it is still an honest answer: unchanged, or a partial answer to a
/// bytecode or trie-node request (a subsequence of the honest items: the spec lets a server
/// skip what it does not have).
pub fn change(honest: &SnapMessage, how: Answer, other_state: SnapMessage) -> (SnapMessage, bool) {
    let mut changed = honest.clone();
    let mut partial_ok = false;
    match (&mut changed, how) {
        (_, Answer::FromOtherState) => {
            changed = other_state;
            set_id(&mut changed, request_id(honest));
        }
        (_, Answer::WrongKind(pick)) => changed = wrong_kind(honest, pick),
        (SnapMessage::AccountRange(m), how) => {
            edit_items(&mut m.accounts, how, |account, byte, bit| {
                if byte % 2 == 0 {
                    account.hash.0[usize::from(byte / 2) % 32] ^= 1 << (bit % 8);
                } else {
                    account.account.nonce ^= 1 << (bit % 64);
                }
            });
            edit_proof(&mut m.proof, how);
        }
        (SnapMessage::StorageRanges(m), how) => {
            match how {
                Answer::Truncate(_) | Answer::Huge(_) => {
                    edit_items(&mut m.slots, how, |_, _, _| {})
                }
                _ => {
                    let lists = m.slots.len();
                    let at = match how {
                        Answer::CorruptItem { at, .. } => usize::from(at),
                        _ => lists.saturating_sub(1),
                    };
                    if let Some(list) = m.slots.get_mut(at % lists.max(1)) {
                        edit_items(list, how, |slot, byte, bit| {
                            if byte % 2 == 0 {
                                slot.hash.0[usize::from(byte / 2) % 32] ^= 1 << (bit % 8);
                            } else {
                                slot.value = flip(&slot.value, byte / 2, bit);
                            }
                        });
                    }
                }
            }
            edit_proof(&mut m.proof, how);
        }
        (SnapMessage::ByteCodes(m), how) => {
            partial_ok = matches!(how, Answer::Truncate(_) | Answer::DropItem(_));
            edit_items(&mut m.codes, how, |code, byte, bit| *code = flip(code, byte, bit));
        }
        (SnapMessage::TrieNodes(m), how) => {
            partial_ok = matches!(how, Answer::Truncate(_) | Answer::DropItem(_));
            edit_items(&mut m.nodes, how, |node, byte, bit| *node = flip(node, byte, bit));
        }
        _ => {}
    }
    let still_honest = changed == *honest || partial_ok;
    (changed, still_honest)
}

/// The list changes of `how` on `items`; `corrupt` flips one bit of one item.
fn edit_items<T: Clone>(items: &mut Vec<T>, how: Answer, corrupt: impl FnOnce(&mut T, u8, u8)) {
    let len = items.len();
    if len == 0 {
        return;
    }
    let index = |at: u8| usize::from(at) % len;
    match how {
        Answer::Truncate(n) => items.truncate(usize::from(n) % len),
        Answer::DropItem(at) => {
            items.remove(index(at));
        }
        Answer::SwapItems(at) if len >= 2 => {
            items.swap(index(at) % (len - 1), index(at) % (len - 1) + 1)
        }
        Answer::DuplicateItem(at) => {
            let item = items[index(at)].clone();
            items.insert(index(at), item);
        }
        Answer::Huge(n) => {
            let copy = items.clone();
            for _ in 0..(1 + n % 8) {
                if items.len() + copy.len() > 1024 {
                    break;
                }
                items.extend(copy.iter().cloned());
            }
        }
        Answer::CorruptItem { at, byte, bit } => corrupt(&mut items[index(at)], byte, bit),
        _ => {}
    }
}

fn edit_proof(proof: &mut Vec<Bytes>, how: Answer) {
    let len = proof.len();
    if len == 0 {
        return;
    }
    match how {
        Answer::CorruptProof { at, byte, bit } => {
            let at = usize::from(at) % len;
            proof[at] = flip(&proof[at], byte, bit);
        }
        Answer::DropProof(at) => {
            proof.remove(usize::from(at) % len);
        }
        _ => {}
    }
}

fn flip(bytes: &Bytes, byte: u8, bit: u8) -> Bytes {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        out.push(1 << (bit % 8));
    } else {
        let at = usize::from(byte) % out.len();
        out[at] ^= 1 << (bit % 8);
    }
    Bytes::from(out)
}
