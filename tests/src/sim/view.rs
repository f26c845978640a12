//! What a peer serves from: the states it retains (the last blocks of the chain), as one
//! `StateView` that dispatches every read by its root. A root it does not retain is unknown,
//! which the server answers with an empty reply. Bytecodes are content-addressed and never
//! deleted (as in geth's database): they are served from every state the chain had.

use alloy_primitives::{B256, Bytes};
use alloy_trie::TrieAccount;
use nybbles::Nibbles;
use snap_core::serve::{AccountIter, InMemoryState, SlotIter, StateError, StateView};

/// A set of states addressed by root (newest last), and the states whose codes are served.
#[derive(Clone, Copy, Debug)]
pub struct Retained<'a> {
    states: &'a [&'a InMemoryState],
    codes: &'a [&'a InMemoryState],
}

impl<'a> Retained<'a> {
    /// The view over `states`, newest last, serving codes from `states` only.
    pub const fn new(states: &'a [&'a InMemoryState]) -> Self {
        Self { states, codes: states }
    }

    /// The view over `states`, serving the codes of `history` (every state so far).
    pub const fn with_codes(
        states: &'a [&'a InMemoryState],
        history: &'a [&'a InMemoryState],
    ) -> Self {
        Self { states, codes: history }
    }

    /// The state with this root, if retained.
    pub fn get(&self, root: &B256) -> Option<&'a InMemoryState> {
        self.states.iter().rev().find(|state| state.root() == *root).copied()
    }

    /// The newest state.
    pub fn newest(&self) -> Option<&'a InMemoryState> {
        self.states.last().copied()
    }

    fn state(&self, root: &B256) -> Result<&'a InMemoryState, StateError> {
        self.get(root).ok_or(StateError::UnknownRoot(*root))
    }
}

impl StateView for Retained<'_> {
    fn has_root(&self, root: &B256) -> bool {
        self.get(root).is_some()
    }

    fn accounts(&self, root: &B256, origin: &B256) -> Result<AccountIter<'_>, StateError> {
        self.state(root)?.accounts(root, origin)
    }

    fn account(&self, root: &B256, hash: &B256) -> Result<Option<TrieAccount>, StateError> {
        self.state(root)?.account(root, hash)
    }

    fn storage(
        &self,
        root: &B256,
        account: &B256,
        origin: &B256,
    ) -> Result<SlotIter<'_>, StateError> {
        self.state(root)?.storage(root, account, origin)
    }

    fn code(&self, hash: &B256) -> Option<Bytes> {
        self.codes.iter().rev().find_map(|state| state.code(hash))
    }

    fn trie_node(
        &self,
        root: &B256,
        owner: Option<&B256>,
        path: &Nibbles,
    ) -> Result<Option<Bytes>, StateError> {
        self.state(root)?.trie_node(root, owner, path)
    }

    fn prove(
        &self,
        root: &B256,
        owner: Option<&B256>,
        key: &B256,
    ) -> Result<Vec<Bytes>, StateError> {
        self.state(root)?.prove(root, owner, key)
    }
}

#[cfg(test)]
mod tests {
    use snap_core::{
        serve::{NoBals, ServeLimits, serve},
        wire::{GetAccountRange, SnapMessage},
    };

    use super::*;
    use crate::sim::state::{StateSpec, TargetState};

    #[test]
    fn reads_go_to_the_state_of_their_root_and_unknown_roots_are_served_empty() {
        let a = TargetState::generate(&StateSpec::new(1, 50, 200)).unwrap().state;
        let b = TargetState::generate(&StateSpec::new(2, 60, 200)).unwrap().state;
        let other = TargetState::generate(&StateSpec::new(3, 10, 0)).unwrap().state;
        let states = [&a, &b];
        let view = Retained::new(&states);
        let ask = |root: B256| {
            let request = SnapMessage::GetAccountRange(GetAccountRange {
                request_id: 1,
                root,
                origin: B256::ZERO,
                limit: B256::repeat_byte(0xff),
                response_bytes: 1 << 20,
            });
            match serve(&request, &view, &NoBals, &ServeLimits::default()).unwrap() {
                SnapMessage::AccountRange(reply) => reply.accounts.len(),
                _ => unreachable!(),
            }
        };
        assert_eq!(ask(a.root()), a.account_list().len());
        assert_eq!(ask(b.root()), b.account_list().len());
        assert_eq!(ask(other.root()), 0);
        assert!(view.has_root(&a.root()) && !view.has_root(&other.root()));
        assert_eq!(view.newest().map(InMemoryState::root), Some(b.root()));
        let (hash, account) = b.account_list()[3];
        assert_eq!(view.account(&b.root(), &hash).unwrap(), Some(account));
        assert_eq!(view.account(&other.root(), &hash), Err(StateError::UnknownRoot(other.root())));
    }
}
